import type { FastifyInstance, FastifyRequest } from "fastify";
import { httpRequestMetrics, type MetricsRegistry } from "@tsmicro/runtime/internal";

/**
 * The gateway's metrics: `GET /metrics` on its own HTTP port (the process
 * registry: HTTP, backend client, breaker and node metrics, Node.js
 * defaults), and `http_requests_total` / `http_request_duration_seconds`
 * by method, route template and status for every request.
 */
export class GatewayMetrics {
  // Per request, the route template it matched; requests are short-lived keys, hence weak.
  readonly #routes = new WeakMap<FastifyRequest, string>();

  constructor(private readonly registry: MetricsRegistry) {}

  /** Names the route `request` matched, as a template (`/v1/users/{id}`), for its `route` label. */
  route(request: FastifyRequest, template: string): void {
    this.#routes.set(request, template);
  }

  /** Adds the `/metrics` route and the hook that records each response. Before listen. */
  mount(app: FastifyInstance): void {
    const observe = httpRequestMetrics(this.registry);
    app.get("/metrics", async (_request, reply) => {
      const body = await this.registry.metrics();
      void reply.type(this.registry.contentType).send(body);
    });
    app.addHook("onResponse", async (request, reply) => {
      observe(request.method, this.routeOf(request), reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  /** The matched template, else fastify's route (`/metrics`, the proxy's), else `unmatched`: never the raw path. */
  private routeOf(request: FastifyRequest): string {
    const named = this.#routes.get(request);
    if (named !== undefined) return named;
    const url = request.routeOptions.url;
    return url === undefined || url === "/*" ? "unmatched" : url;
  }
}
