import type { JsonValue } from "@bufbuild/protobuf";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type HttpServerSpan, startHttpServerSpan, type TracingUse } from "@tsmicro/runtime/internal";
import { isScrapeOrProbe } from "./gateway-metrics.js";
import type { ErrorBody } from "./http-mapping.js";

/** Tracing while it runs, as TracingUse gives it. */
type Tracing = NonNullable<ReturnType<TracingUse["current"]>>;

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
  // Per request, its span, in a slot fastify gives every request of the app (see mount): cheaper
  // per request, and for the garbage collector, than a WeakMap keyed by requests.
  readonly #slot = Symbol("tsmicro.httpServerSpan");
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
    app.decorateRequest(this.#slot, null);
    app.addHook("onRequest", (request, reply, done) => {
      const tracing = this.#tracing.current();
      const span = tracing && this.#begin(tracing, request, reply);
      if (!span) return done();
      // A route fastify matched is a template already; the gateway's catch-all names its own later.
      // Read only for a span that records: fastify builds routeOptions anew on every read.
      if (tracing.recording) {
        const template = request.routeOptions.url;
        if (template !== undefined && template !== "/*") span.setRoute(template);
      }
      if (options.forwardTrace) forwardTraceHeaders(request, span.traceHeaders());
      // A body is read in the socket's own async context, so a request with one gets its span made
      // active by the preHandler hook, after the body; one without reaches its handler in this context.
      if (hasBody(request)) done();
      else span.run(done);
    });
    app.addHook("preHandler", (request, _reply, done) => (hasBody(request) ? this.run(request, done) : done()));
  }

  /**
   * Starts the span of a request fastify refused before its hooks ran (a malformed %-escape in
   * the path), so its answer, like every other, carries `traceresponse` and the trace id.
   */
  traceRefused(request: FastifyRequest, reply: FastifyReply): void {
    const tracing = this.#tracing.current();
    if (tracing && !this.#span(request)) this.#begin(tracing, request, reply);
  }

  /**
   * The request's SERVER span, started, kept in its slot and named in `traceresponse`, and ended
   * when the response closes; none for a scrape of /metrics or a probe of /healthz.
   */
  #begin(tracing: Tracing, request: FastifyRequest, reply: FastifyReply): HttpServerSpan | undefined {
    // No request of anyone's (see isScrapeOrProbe): no trace each, also where /metrics is served on another port.
    if (isScrapeOrProbe(request.raw.method, request.raw.url)) return undefined;
    const raw = request.raw.url ?? "/";
    const queryAt = raw.indexOf("?");
    const recording = tracing.recording;
    const span = startHttpServerSpan(tracing, {
      method: request.method,
      path: queryAt < 0 ? raw : raw.slice(0, queryAt),
      headers: request.headers,
      // Attributes only a span that records is given: read for no other request.
      clientAddress: recording ? request.ip : undefined,
      scheme: recording ? request.protocol : undefined,
      host: recording ? request.host : undefined,
      protocolVersion: recording ? (request.raw.httpVersion === "2.0" ? "2" : request.raw.httpVersion) : undefined,
    });
    slots(request)[this.#slot] = span;
    void reply.header("traceresponse", span.traceResponse);
    // A span that records nothing (no exporter) has nothing to end.
    if (recording) {
      const response = reply.raw;
      response.on("close", () => span.end(response.statusCode, response.writableFinished));
    }
    return span;
  }

  /** Names the route `request` matched, as a template (`/v1/{name=shelves/*}`), for `http.route` and the span name. */
  route(request: FastifyRequest, template: string): void {
    // The name and `http.route` of a span that records nothing are read by no one.
    if (this.#tracing.current()?.recording) this.#span(request)?.setRoute(template);
  }

  /** Runs `handle` with the request's span active, so backend calls are its children and logs carry its ids. */
  run<T>(request: FastifyRequest, handle: () => T): T {
    const span = this.#span(request);
    return span ? span.run(handle) : handle();
  }

  /** The trace id of the request's span, when it has one. */
  traceId(request: FastifyRequest): string | undefined {
    return this.#span(request)?.traceId;
  }

  /** The request's span; none for a request of an app this did not mount on, or while tracing is not running. */
  #span(request: FastifyRequest): HttpServerSpan | undefined {
    return slots(request)[this.#slot] ?? undefined;
  }

  /** `body` with a `google.rpc.RequestInfo` detail naming the request's trace id; as it was when untraced. */
  withTraceId(request: FastifyRequest, body: ErrorBody): ErrorBody {
    const span = this.#span(request);
    if (!span) return body;
    const detail: JsonValue = { "@type": requestInfoType, requestId: span.traceId };
    return { ...body, details: [...body.details, detail] };
  }
}

/**
 * Whether fastify may have read a body for the request: in HTTP/1 one comes with a length or
 * chunked; an HTTP/2 request needs neither, so it counts as having one.
 */
function hasBody(request: FastifyRequest): boolean {
  const raw = request.raw;
  return (
    raw.headers["content-length"] !== undefined ||
    raw.headers["transfer-encoding"] !== undefined ||
    raw.httpVersionMajor >= 2
  );
}

/** A request's decorator slots (fastify's decorateRequest), by symbol. */
function slots(request: FastifyRequest): Record<symbol, HttpServerSpan | null | undefined> {
  return request as unknown as Record<symbol, HttpServerSpan | null | undefined>;
}

/** The request's trace headers replaced by `headers` (a `tracestate` the span has none of is dropped). */
function forwardTraceHeaders(request: FastifyRequest, headers: Record<string, string>): void {
  const raw = request.raw.headers;
  delete raw.tracestate;
  Object.assign(raw, headers);
}
