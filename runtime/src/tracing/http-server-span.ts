import type { Attributes, Span } from "@opentelemetry/api";
import type { Tracing, TraceCarrier } from "./tracing.js";

/** What an HTTP server knows of a request when it arrives. */
export interface HttpRequestFacts {
  readonly method: string;
  /** The path without the query (the query may carry secrets and is left out). */
  readonly path: string;
  readonly headers: TraceCarrier;
  /** The client's address (`client.address`). */
  readonly clientAddress?: string | undefined;
  /** `http` or `https`, as the client asked (`url.scheme`). */
  readonly scheme?: string | undefined;
  /** The `Host` (or `:authority`) the client asked for, `name[:port]` (`server.address`, `server.port`). */
  readonly host?: string | undefined;
  /** The HTTP version, `1.1` or `2` (`network.protocol.version`). */
  readonly protocolVersion?: string | undefined;
}

/**
 * The SERVER span of one HTTP request, for the gateway and web services,
 * which reach it through `@tsmicro/runtime/internal` and so need no OTel
 * dependency of their own.
 */
export interface HttpServerSpan {
  /** The trace id (32 hex digits), for error bodies and `traceresponse`. */
  readonly traceId: string;
  /**
   * The W3C Trace Context Level 2 `traceresponse` header value,
   * `00-<trace id>-<span id>-<flags>`: tells the client which trace its request joined.
   */
  readonly traceResponse: string;
  /** Names the span `<METHOD> <route>` and sets `http.route` (a template, such as `/v1/{name=shelves/*}`). */
  setRoute(route: string): void;
  /** Runs `fn` with the span active, so backend calls are its children and log lines carry its ids. */
  run<T>(fn: () => T): T;
  /** `traceparent` (and `tracestate`) naming this span, for a request proxied onward as its child. */
  traceHeaders(): Record<string, string>;
  /** Ends the span with the response status; 5xx, or a response never finished, marks it ERROR. */
  end(statusCode: number, finished?: boolean): void;
}

/**
 * Starts the SERVER span of an HTTP request, named `<METHOD>` until a route is
 * known, with the attributes OpenTelemetry's HTTP conventions ask of a server
 * span that the request tells (`http.request.method`, `url.path`,
 * `url.scheme`, `server.address`, `server.port`, `client.address`,
 * `user_agent.original`, `network.protocol.version`); its parent is the
 * request's `traceparent`/`tracestate`.
 */
export function startHttpServerSpan(tracing: Tracing, request: HttpRequestFacts): HttpServerSpan {
  const { api, tracer } = tracing;
  const parent = tracing.extract(request.headers);
  const method = request.method.toUpperCase();
  const span = tracer.startSpan(
    method,
    {
      kind: api.SpanKind.SERVER,
      ...(tracing.recording
        ? {
            attributes: requestAttributes(method, request),
          }
        : {}),
    },
    parent,
  );
  const active = api.trace.setSpan(parent, span);
  const ids = span.spanContext();
  const flags = (ids.traceFlags & 0xff).toString(16).padStart(2, "0");
  let ended = false;
  return {
    traceId: ids.traceId,
    traceResponse: `00-${ids.traceId}-${ids.spanId}-${flags}`,
    setRoute(route) {
      span.updateName(`${method} ${route}`);
      span.setAttribute("http.route", route);
    },
    run: (fn) => api.context.with(active, fn),
    traceHeaders: () => {
      const headers: Record<string, string> = {};
      tracing.inject(ids, headers);
      return headers;
    },
    end(statusCode, finished = true) {
      if (ended) return;
      ended = true;
      endHttpSpan(tracing, span, statusCode, finished);
    },
  };
}

/** The span attributes of what `request` tells, those it does not tell left out. */
function requestAttributes(method: string, request: HttpRequestFacts): Attributes {
  const attributes: Attributes = { "http.request.method": method, "url.path": request.path };
  if (request.scheme) attributes["url.scheme"] = request.scheme;
  const server = request.host === undefined ? undefined : hostAndPort(request.host);
  if (server) {
    attributes["server.address"] = server.host;
    if (server.port !== undefined) attributes["server.port"] = server.port;
  }
  if (request.clientAddress) attributes["client.address"] = request.clientAddress;
  const agent = request.headers["user-agent"];
  if (typeof agent === "string") attributes["user_agent.original"] = agent;
  if (request.protocolVersion) attributes["network.protocol.version"] = request.protocolVersion;
  return attributes;
}

/** `name`, `name:port`, `[v6]:port` as name and port; undefined for a host that is none of these. */
function hostAndPort(text: string): { host: string; port?: number } | undefined {
  const match = /^(\[[^\]]*\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (!match) return undefined;
  const host = match[1]!.replace(/^\[(.*)\]$/, "$1");
  return match[2] === undefined ? { host } : { host, port: Number(match[2]) };
}

function endHttpSpan(tracing: Tracing, span: Span, statusCode: number, finished: boolean): void {
  span.setAttribute("http.response.status_code", statusCode);
  // As the conventions have it: the status code, as text, names a server error.
  if (statusCode >= 500) span.setAttribute("error.type", String(statusCode));
  if (statusCode >= 500 || !finished)
    span.setStatus({
      code: tracing.api.SpanStatusCode.ERROR,
      ...(finished ? {} : { message: "the client went away before the response was sent" }),
    });
  span.end();
}
