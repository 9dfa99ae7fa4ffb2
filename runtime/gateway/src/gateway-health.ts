import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Code, type Logger } from "@tsmicro/runtime";
import type { ErrorBody } from "./http-mapping.js";

/** Where the gateway answers health probes, as grpc-gateway's `WithHealthzEndpoint` and Kubernetes' own components serve them. */
export const healthzPath = "/healthz";

/** What `GET /healthz` answers while the gateway serves: grpc.health.v1's answer in JSON, as grpc-gateway's `/healthz` writes it. */
const serving = JSON.stringify({ status: "SERVING" });

/** A route of a service's own for `GET /healthz`, which wins over the gateway's; absent where none can be (see GatewayHealth.mount). */
export interface ServiceHealthz {
  /** Whether a service routes `GET /healthz` now (services come and go). */
  readonly routed: () => boolean;
  /** Answers the request by that route. */
  readonly dispatch: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/**
 * The gateway's own health, for Kubernetes' probes, Docker's HEALTHCHECK and load balancers:
 * `GET /healthz` (and HEAD) answers 200 while the gateway serves, and 503 from the moment it
 * begins to stop, through `--shutdown_delay`, so a load balancer takes it out before its listener
 * closes. It says nothing of the services behind: a gateway that lost its registry still routes
 * from what it last read, and one backend down is no reason to take every gateway out.
 */
export class GatewayHealth {
  #stopping = false;
  #closed = false;
  readonly #logger: Logger;
  /** What the gateway adds to its error bodies: the request's trace id (a probe of `/healthz` alone is not traced). */
  readonly #details: (request: FastifyRequest, body: ErrorBody) => ErrorBody;

  constructor(logger: Logger, details: (request: FastifyRequest, body: ErrorBody) => ErrorBody) {
    this.#logger = logger;
    this.#details = details;
  }

  /**
   * Adds `GET /healthz` to `app`. `service`, when given, is the rpc handler's routing: a
   * service's own `GET /healthz` route wins while the gateway serves, as a route on `/` wins over
   * the index. A fastify route of its own, outside the gateway's catch-all, so routed requests pay
   * nothing for it.
   */
  mount(app: FastifyInstance, service?: ServiceHealthz): void {
    app.get(healthzPath, (request, reply) => {
      // Once stopping, the 503 all the same: whatever route answers it, a probe of /healthz decides whether
      // this gateway gets requests, and a service's 200 would keep them coming until the listener closes.
      if (!this.#stopping && service?.routed()) return service.dispatch(request, reply);
      return this.#answer(request, reply);
    });
  }

  /**
   * The gateway begins to stop: `/healthz` answers 503 from now on, while requests are still
   * served for `delayMs` (`--shutdown_delay`), the time a load balancer needs to see it and
   * send new requests elsewhere. Resolves when that time is over.
   */
  async drain(delayMs: number): Promise<void> {
    this.#stopping = true;
    if (delayMs <= 0) return;
    this.#logger.info(
      { shutdownDelayMs: delayMs },
      `stopping: /healthz answers 503, and requests are still served for ${delayMs / 1000} s (--shutdown_delay) before the gateway stops taking connections`,
    );
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }

  /**
   * Answers every request that comes once the gateway has closed its listener (on a connection
   * still open, while requests in flight finish) with the stopping 503 in the gateway's error
   * shape, closing the connection, where fastify would send a body of its own
   * (`return503OnClosing`, which the app must turn off). A hook ahead of the others: such a request is
   * not counted or traced, as fastify's 503 was not.
   */
  refuseOnceClosed(app: FastifyInstance): void {
    app.addHook("onRequest", (request, reply, done) => {
      if (!this.#closed) return done();
      void reply
        .code(503)
        .header("connection", "close")
        .type("application/json")
        .send(JSON.stringify(this.#details(request, stoppingBody)));
    });
  }

  /** The gateway closes its listener: requests still coming on open connections are refused (see refuseOnceClosed). */
  close(): void {
    this.#closed = true;
  }

  #answer(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    // A probe's answer is now's: no cache between the prober and the gateway may keep it.
    void reply.header("cache-control", "no-store").type("application/json");
    if (this.#stopping) return reply.code(503).send(JSON.stringify(this.#details(request, stoppingBody)));
    const asked = serviceAsked(request.raw.url ?? healthzPath);
    if (asked !== undefined) return reply.code(400).send(JSON.stringify(this.#details(request, notPerService(asked))));
    return reply.send(serving);
  }
}

/** The 503 of a gateway that is stopping, as grpc-gateway's `/healthz` answers a NOT_SERVING status. */
const stoppingBody: ErrorBody = {
  code: Code.UNAVAILABLE,
  message: "the gateway is shutting down; send requests to another instance",
  details: [],
};

/** The `service` of `/healthz?service=NAME` (grpc-gateway's form), when the query names one. */
function serviceAsked(url: string): string | undefined {
  const queryAt = url.indexOf("?");
  if (queryAt < 0) return undefined;
  return new URLSearchParams(url.slice(queryAt + 1)).get("service") ?? undefined;
}

/**
 * `/healthz?service=NAME` asks grpc-gateway's one backend for a service's health; this gateway
 * answers for itself alone, which a probe must not take for the service's health.
 */
function notPerService(service: string): ErrorBody {
  const shown = service.length > 100 ? `${service.slice(0, 97)}...` : service;
  return {
    code: Code.INVALID_ARGUMENT,
    message:
      `/healthz answers for the gateway itself, not for a service (service=${JSON.stringify(shown)}): ` +
      "ask a service's own health with tsmicro health NAME, or probe its grpc.health.v1 (its Kubernetes gRPC probe)",
    details: [],
  };
}
