import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * What a page's script may read of an answer besides the safelisted headers: gRPC's status, a
 * 429's Retry-After, the trace, a 401's challenge and a 405's Allow. The service's own
 * `Grpc-Metadata-*` headers are added per answer (ResponseMetadata).
 */
const exposedHeaders = "grpc-status, grpc-message, retry-after, traceresponse, www-authenticate, allow";

/**
 * How long a browser may keep an allowed preflight's answer, in seconds: without it a browser asks
 * again after 5 s, one more round trip before a page's calls. Safe to keep long: a browser asks
 * anew for a method or header the kept answer does not list.
 */
const preflightMaxAgeSeconds = "600";

/**
 * The gateway's CORS (`--cors_origins`). A preflight (an OPTIONS with `Origin` and
 * `Access-Control-Request-Method`) is answered here, before anything else runs; every other
 * request, a plain OPTIONS too, goes on to the routes as it would without CORS. An answer to an
 * allowed origin names it in `Access-Control-Allow-Origin`, whoever makes the answer.
 */
export class GatewayCors {
  readonly #anyOrigin: boolean;
  readonly #origins: ReadonlySet<string>;
  readonly #methods: () => readonly string[];

  /** `origins` as `--cors_origins` gives them (`*` for any); `methods`, what a preflight allows, asked at each one. */
  constructor(origins: readonly string[], methods: () => readonly string[]) {
    this.#anyOrigin = origins.includes("*");
    this.#origins = new Set(origins);
    this.#methods = methods;
  }

  /** Answers preflights and gives every other answer its CORS headers, in the first hook of each request. */
  mount(app: FastifyInstance): void {
    app.addHook("onRequest", (request, reply, done) => {
      this.mark(request, reply);
      if (isPreflight(request)) this.#answerPreflight(request, reply);
      else done();
    });
  }

  /**
   * Sets the headers of an answer to `request` that a browser reads to show it to a page of the
   * request's origin. For answers made where no hook ran (fastify's router refusing a path), too.
   */
  mark(request: FastifyRequest, reply: FastifyReply): void {
    // The answer depends on the Origin, whether it is allowed or not: caches must keep them apart.
    addVary(reply, "Origin");
    const origin = request.headers.origin;
    if (origin === undefined || !this.#allows(origin)) return;
    void reply.header("access-control-allow-origin", origin).header("access-control-expose-headers", exposedHeaders);
  }

  #allows(origin: string): boolean {
    return this.#anyOrigin || this.#origins.has(origin);
  }

  /** 204, with what the browser asked to send allowed when its origin is; a refused origin gets no Allow-Origin, so the browser stops. */
  #answerPreflight(request: FastifyRequest, reply: FastifyReply): void {
    addVary(reply, "Access-Control-Request-Headers");
    if (reply.hasHeader("access-control-allow-origin")) {
      void reply.header("access-control-allow-methods", this.#methods().join(", "));
      const asked = request.headers["access-control-request-headers"];
      if (asked !== undefined) void reply.header("access-control-allow-headers", asked);
      void reply.header("access-control-max-age", preflightMaxAgeSeconds);
    }
    // Content-Length 0: Safari waits for a body on a 204 without it.
    void reply.code(204).header("content-length", "0").send();
  }
}

/** An OPTIONS a browser sends before a cross-origin request it may not send unasked (the Fetch standard's CORS-preflight request). */
export function isPreflight(request: FastifyRequest): boolean {
  return (
    request.method === "OPTIONS" &&
    request.headers.origin !== undefined &&
    request.headers["access-control-request-method"] !== undefined
  );
}

function addVary(reply: FastifyReply, name: string): void {
  const vary = reply.getHeader("vary");
  void reply.header("vary", vary === undefined ? name : `${String(vary)}, ${name}`);
}

/**
 * What is wrong with `entry` as an origin CORS allows (`--cors_origins`, `cors.origins` in
 * `--config`), with the fix when there is one; undefined when it is one, or `*`. A browser's
 * `Origin` is exactly scheme://host[:port]: an entry with a path, a trailing slash or no scheme
 * would never match one, and pages would be refused with nothing said.
 */
export function corsOriginProblem(entry: string): string | undefined {
  const origin = originOf(entry);
  if (entry === "*" || origin === entry) return undefined;
  const fix = origin === undefined ? "" : `; write ${JSON.stringify(origin)}`;
  return `${JSON.stringify(entry)} is not an origin (scheme://host[:port], no path)${fix}, or "*" for any`;
}

/** The origin of a URL, as a browser would send it; undefined for text no URL or an opaque origin (`file:`). */
function originOf(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}
