import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServiceSettings } from "@tsmicro/runtime";
import { httpRequestMetrics, MetricsServer, metricsRegistry, type MetricsRegistry } from "@tsmicro/runtime/internal";
import { healthzPath } from "./gateway-health.js";

/** Options of GatewayMetrics. */
export interface GatewayMetricsOptions {
  /**
   * The gateway proxies to HTTP services (`--handler web|proxy`): its
   * catch-all route is then a route of its own (`/*`), not a request no
   * route matched.
   */
  readonly proxied?: boolean;
}

/** Where the gateway serves its metrics, on its own HTTP port. */
export const metricsPath = "/metrics";

/**
 * A scrape of `/metrics` or a probe of `/healthz`: no one's request. Prometheus's scrapes, the
 * dashboard's probes (see httpNodeHealth) and a load balancer's health checks, counted and
 * traced, would move every HTTP panel and alert and fill the traces. Compared as sent, query and all.
 * A probe is a GET or HEAD: a POST to `/healthz` is someone's (`--handler event` publishes it).
 */
export function isScrapeOrProbe(method: string | undefined, url: string | undefined): boolean {
  return url === metricsPath || (url === healthzPath && (method === "GET" || method === "HEAD"));
}

/**
 * The gateway's metrics: `GET /metrics` on its own HTTP port (the process
 * registry: HTTP, backend client, breaker and node metrics, Node.js
 * defaults), and `http_requests_total` / `http_request_duration_seconds`
 * by method, route template and status for every request.
 */
export class GatewayMetrics {
  // Per request, the route template it matched, in a slot fastify gives every request of the app
  // (see mount): cheaper per request, and for the garbage collector, than a WeakMap keyed by requests.
  readonly #slot = Symbol("tsmicro.httpRoute");

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly options: GatewayMetricsOptions = {},
  ) {}

  /** Names the route `request` matched, as a template (`/v1/users/{id}`), for its `route` label. */
  route(request: FastifyRequest, template: string): void {
    slots(request)[this.#slot] = template;
  }

  /**
   * Adds the hook that records each response and, with `page` (the default:
   * /metrics on the gateway's own port), the `/metrics` route. Before listen.
   */
  mount(app: FastifyInstance, page = true): void {
    const observe = httpRequestMetrics(this.registry);
    app.decorateRequest(this.#slot, null);
    if (page)
      app.get(metricsPath, async (_request, reply) => {
        const body = await this.registry.metrics();
        void reply.type(this.registry.contentType).send(body);
      });
    // On the raw response's close, not fastify's onResponse hook: proxied requests hijack their reply,
    // which skips fastify's hooks, and a client that hangs up is still a request served.
    // A callback hook, not an async one: no promise per request. A response closes once, so `on` does (without once's wrapper).
    app.addHook("onRequest", (request, reply, done) => {
      // Also where /metrics is served on another port, and where a service's own route answers /healthz.
      if (isScrapeOrProbe(request.raw.method, request.raw.url)) return done();
      const start = performance.now();
      const response = reply.raw;
      response.on("close", () =>
        observe(request.method, this.routeOf(request), response.statusCode, (performance.now() - start) / 1000),
      );
      done();
    });
  }

  /** The matched template, else fastify's route (`/metrics`, the proxy's `/*`), else `unmatched`: never the raw path. */
  private routeOf(request: FastifyRequest): string {
    const named = slots(request)[this.#slot];
    if (typeof named === "string") return named;
    const url = request.routeOptions.url;
    if (url === undefined) return "unmatched";
    return url === "/*" && !this.options.proxied ? "unmatched" : url;
  }
}

/** A request's decorator slots (fastify's decorateRequest), by symbol. */
function slots(request: FastifyRequest): Record<symbol, string | null | undefined> {
  return request as unknown as Record<symbol, string | null | undefined>;
}

/** `/metrics` served apart from the HTTP port: where, and the server that will listen there. */
export interface OwnMetricsListener {
  readonly at: string;
  readonly server: MetricsServer;
}

/**
 * The listener for `/metrics` when metrics are `on` and `--metrics_address`
 * names an address; undefined when the HTTP port serves it (the default) or
 * metrics are off.
 */
export function ownMetricsListener(settings: ServiceSettings, on: boolean): OwnMetricsListener | undefined {
  const at = on ? settings.metricsAddress : undefined;
  return at === undefined ? undefined : { at, server: new MetricsServer(metricsRegistry()) };
}
