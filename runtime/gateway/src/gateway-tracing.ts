import type { JsonValue } from "@bufbuild/protobuf";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { type HttpServerSpan, startHttpServerSpan, type TracingUse } from "@tsmicro/runtime/internal";
import type { ErrorBody } from "./http-mapping.js";

/** The type URL of the error detail that carries the trace id in error bodies. */
export const requestInfoType = "type.googleapis.com/google.rpc.RequestInfo";

/**
 * HTTP server spans for the gateway and web services: one SERVER span per
 * request (parent from its `traceparent`), named `<METHOD> <route>` once the
 * route is known, ended when the response closes; every response carries
 * the W3C `traceresponse` header, and error bodies a `google.rpc.RequestInfo`
 * detail whose `requestId` is the trace id.
 */
export class HttpTracing {
  // Per request, its span; requests are short-lived keys, hence weak.
  readonly #spans = new WeakMap<FastifyRequest, HttpServerSpan>();
  readonly #tracing: TracingUse;

  constructor(tracing: TracingUse) {
    this.#tracing = tracing;
  }

  /**
   * Adds the hooks that start each request's span and make it active for the handler. Before
   * routes are added; with tracing disabled it adds nothing. `forwardTrace` rewrites the
   * request's `traceparent`/`tracestate` to name this span, for a proxy that forwards the
   * client's headers (the node's span is then this one's child, not its sibling). Handlers run
   * with the span active (a preHandler hook), so a route needs no `run` of its own.
   */
  mount(app: FastifyInstance, options: { readonly forwardTrace?: boolean } = {}): void {
    if (!this.#tracing.enabled) return;
    app.addHook("onRequest", (request, reply, done) => {
      const tracing = this.#tracing.current();
      if (!tracing) return done();
      const raw = request.raw.url ?? "/";
      const queryAt = raw.indexOf("?");
      const span = startHttpServerSpan(tracing, {
        method: request.method,
        path: queryAt < 0 ? raw : raw.slice(0, queryAt),
        headers: request.headers,
        clientAddress: request.ip,
      });
      this.#spans.set(request, span);
      // A route fastify matched is a template already; the gateway's catch-all names its own later.
      const template = request.routeOptions.url;
      if (template !== undefined && template !== "/*" && tracing.recording) span.setRoute(template);
      if (options.forwardTrace) forwardTraceHeaders(request, span.traceHeaders());
      void reply.header("traceresponse", span.traceResponse);
      // A span that records nothing (no exporter) has nothing to end.
      if (tracing.recording) {
        const response = reply.raw;
        response.on("close", () => span.end(response.statusCode, response.writableFinished));
      }
      span.run(done);
    });
    // A body is read in the socket's own async context, so the span is made active again for the handler.
    app.addHook("preHandler", (request, _reply, done) => this.run(request, done));
  }

  /** Names the route `request` matched, as a template (`/v1/{name=shelves/*}`), for `http.route` and the span name. */
  route(request: FastifyRequest, template: string): void {
    // The name and `http.route` of a span that records nothing are read by no one.
    if (this.#tracing.current()?.recording) this.#spans.get(request)?.setRoute(template);
  }

  /** Runs `handle` with the request's span active, so backend calls are its children and logs carry its ids. */
  run<T>(request: FastifyRequest, handle: () => T): T {
    const span = this.#spans.get(request);
    return span ? span.run(handle) : handle();
  }

  /** `body` with a `google.rpc.RequestInfo` detail naming the request's trace id; as it was when untraced. */
  withTraceId(request: FastifyRequest, body: ErrorBody): ErrorBody {
    const span = this.#spans.get(request);
    if (!span) return body;
    const detail: JsonValue = { "@type": requestInfoType, requestId: span.traceId };
    return { ...body, details: [...body.details, detail] };
  }
}

/** The request's trace headers replaced by `headers` (a `tracestate` the span has none of is dropped). */
function forwardTraceHeaders(request: FastifyRequest, headers: Record<string, string>): void {
  const raw = request.raw.headers;
  delete raw.tracestate;
  Object.assign(raw, headers);
}
