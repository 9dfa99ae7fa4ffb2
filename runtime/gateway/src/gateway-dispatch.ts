import type { FastifyReply, FastifyRequest } from "fastify";
import { Code, type HttpRule, isTsmicroError, type Logger, type Metadata, TsmicroError } from "@tsmicro/runtime";
import { httpBrokerDefaults } from "@tsmicro/runtime/internal";
import { type BackendService, findMethod, isOfService } from "./backend-catalogue.js";
import { otherBindings } from "./binding-paths.js";
import type { ConnectionSignals } from "./connection-signals.js";
import { publishHttpEvent, topicOfPath, type HttpEventPublisher } from "./event-handler.js";
import { type GatewayBackends, inNamespace } from "./gateway-backends.js";
import type { GatewayMethod } from "./gateway-method.js";
import { healthzPath, type ServiceHealthz } from "./gateway-health.js";
import type { GatewayMetrics } from "./gateway-metrics.js";
import type { GatewaySettings } from "./gateway-settings.js";
import type { HttpTracing } from "./gateway-tracing.js";
import { grpcTimeoutMs } from "./grpc-timeout.js";
import { standardMethods } from "./http-methods.js";
import { isPreflight } from "./gateway-cors.js";
import { forwardedMetadata } from "./forwarded-metadata.js";
import {
  type DetailTypes,
  errorResponse,
  type ErrorResponse,
  type HttpRequestParts,
  logWithheld,
  MethodNotAllowedError,
  requestBytes,
  requestFields,
  requestMessage,
  responseJson,
  unaryResponseJson,
  withEmptyBodyNote,
} from "./http-mapping.js";
import { mapStream, sendStream } from "./http-stream.js";
import { claimsMetadata, type JwtClaims } from "./jwt-auth.js";
import { parseJsonBody } from "./json-body.js";
import { mergeOpenApi, type OpenApiBuilder } from "./merge-openapi.js";
import { ResponseMetadata } from "./response-metadata.js";
import type { RouteGuard } from "./route-guard.js";

/** What GatewayDispatch routes with: the gateway's settings and the parts createGateway made. */
export interface GatewayDispatchParts {
  readonly settings: GatewaySettings;
  readonly backends: GatewayBackends;
  readonly logger: Logger;
  readonly httpTracing: HttpTracing;
  readonly metrics: GatewayMetrics | undefined;
  readonly connections: ConnectionSignals;
  /** `--handler event`: every path is a topic to publish to. */
  readonly events: HttpEventPublisher | undefined;
  readonly openApi: OpenApiBuilder | undefined;
  readonly guard: RouteGuard;
  /** Whether `/metrics` is served on the gateway's own port (metrics on, no `--metrics_address`), for the index. */
  readonly metricsOnPort: boolean;
}

/**
 * The gateway's routing of `--handler rpc` and `event` requests: route rules, default routes
 * (`/{service}/{method}`), `POST /rpc`, `/openapi.json` and topics, each request mapped to its
 * backend call and the answer written; and the error bodies of failed requests.
 */
export class GatewayDispatch {
  /** The route rules and JWT checks; replaced at start, once `--config` is read. */
  guard: RouteGuard;
  readonly #settings: GatewaySettings;
  readonly #backends: GatewayBackends;
  readonly #catalogue: GatewayBackends["catalogue"];
  readonly #logger: Logger;
  readonly #httpTracing: HttpTracing;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #connections: ConnectionSignals;
  readonly #events: HttpEventPublisher | undefined;
  readonly #openApi: OpenApiBuilder | undefined;
  readonly #metricsOnPort: boolean;
  readonly #jsonOptions: { readonly emitUnpopulated: boolean; readonly useProtoNames: boolean };

  constructor(parts: GatewayDispatchParts) {
    this.guard = parts.guard;
    this.#settings = parts.settings;
    this.#backends = parts.backends;
    this.#catalogue = parts.backends.catalogue;
    this.#logger = parts.logger;
    this.#httpTracing = parts.httpTracing;
    this.#metrics = parts.metrics;
    this.#connections = parts.connections;
    this.#events = parts.events;
    this.#openApi = parts.openApi;
    this.#metricsOnPort = parts.metricsOnPort;
    this.#jsonOptions = {
      emitUnpopulated: parts.settings.jsonEmitUnpopulated,
      useProtoNames: parts.settings.jsonUseProtoNames,
    };
  }

  /** A detail type of the routed services' own, as their descriptors declare it, for error bodies. */
  readonly #detailType: DetailTypes = (typeName) => {
    for (const backend of this.#catalogue.services())
      for (const registry of backend.descriptors.values()) {
        const desc = registry.getMessage(typeName);
        if (desc) return { desc, registry };
      }
    return undefined;
  };

  /**
   * The answer to a failed request, its body with the trace id; the message it withholds from
   * the client (a failure on the servers' side, see errorResponse) is logged, with the service
   * whose call failed.
   */
  failureAnswer(request: FastifyRequest, error: unknown): ErrorResponse {
    const answer = errorResponse(error, this.#detailType);
    logWithheld(answer, error, request, this.#logger);
    return { ...answer, body: this.#httpTracing.withTraceId(request, answer.body) };
  }

  /**
   * The gateway's one route. Not async: a route the router matches goes straight to its call, with
   * no promise of its own per request; a refusal thrown here reaches the error handler as a
   * rejection would.
   */
  readonly dispatch = (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const raw = request.raw.url ?? "/";
    const queryAt = raw.indexOf("?");
    let path = queryAt < 0 ? raw : raw.slice(0, queryAt);
    const query = queryAt < 0 ? "" : raw.slice(queryAt + 1);
    if (this.#settings.prefix !== "") {
      if (path !== this.#settings.prefix && !path.startsWith(`${this.#settings.prefix}/`))
        throw path === healthzPath ? healthzOnly(request.method) : noRoute(request.method, path);
      path = path.slice(this.#settings.prefix.length) || "/";
    }
    if (path.includes("%") && /%(?![0-9a-fA-F]{2})/.test(path))
      throw new TsmicroError(Code.INVALID_ARGUMENT, malformedEscape(path));

    if (this.#events && !(path === "/openapi.json" && reads(request))) {
      this.nameRoute(request, `${this.#settings.prefix}/{topic}`);
      return this.#eventEndpoint(this.#events, request, reply, path);
    }
    if (path === "/rpc" && request.method === "POST") {
      this.nameRoute(request, `${this.#settings.prefix}/rpc`);
      return this.#rpcEndpoint(request, reply);
    }
    // HEAD as GET, as every GET route takes it.
    if (path === "/openapi.json" && reads(request)) {
      this.nameRoute(request, `${this.#settings.prefix}/openapi.json`);
      return this.#openApiEndpoint(reply);
    }

    // HEAD is GET without the body (Node leaves the body out), as HTTP has it.
    const match = this.#catalogue.router.find(request.method === "HEAD" ? "GET" : request.method, path);
    if (match) {
      const { target, rule } = match.route;
      this.nameRoute(request, `${this.#settings.prefix}${rule.path}`);
      return this.#call(target, rule, { variables: match.variables, query, body: request.body }, request, reply);
    }
    // `micro api` answers `/` too; a route of a service's own on `/` wins, as matched above.
    if (path === "/" && reads(request)) {
      this.nameRoute(request, `${this.#settings.prefix}/`);
      void reply.type("application/json").send(JSON.stringify(this.#index()));
      return Promise.resolve();
    }
    return this.#dispatchDefault(path, query, request, reply);
  };

  /**
   * A service's own `GET /healthz` route, which wins over the gateway's `/healthz` as one on `/`
   * wins over the index; none under `--prefix`, where a service's is `PREFIX/healthz`.
   */
  get serviceHealthz(): ServiceHealthz | undefined {
    if (this.#settings.prefix !== "") return undefined;
    return { routed: () => this.#routesHealthz(), dispatch: this.dispatch };
  }

  /** Whether a service routes `GET /healthz` itself (and so answers it instead of the gateway). */
  #routesHealthz(): boolean {
    return this.#settings.prefix === "" && this.#catalogue.router.find("GET", healthzPath) !== undefined;
  }

  /**
   * What `GET /` answers: where the gateway's own pages are (the OpenAPI document first, which
   * lists every route), how `POST /rpc` and the default routes are called, and the services
   * routed so far by the path segment that reaches them. Nothing a public client could not learn
   * from `/openapi.json`.
   */
  #index(): GatewayIndex {
    const prefix = this.#settings.prefix;
    const namespace = this.#settings.namespace;
    const segment = (name: string) =>
      namespace !== "" && inNamespace(name, namespace) ? name.slice(namespace.length + 1) : name;
    return {
      gateway: "tsmicro api",
      ...(this.#openApi ? { openapi: `${prefix}/openapi.json` } : {}),
      rpc: `POST ${prefix}/rpc with {"service": …, "method": …, "request": {…}}`,
      defaultRoutes: `${prefix}/{service}/{method} and ${prefix}/{service}/{Service}/{method}`,
      services: this.#catalogue.services().map((service) => segment(service.name)),
      ...(this.#settings.dashboard ? { dashboard: `${prefix}/dashboard/` } : {}),
      ...(this.#metricsOnPort ? { metrics: "/metrics" } : {}),
      ...(this.#routesHealthz() ? {} : { health: healthzPath }),
    };
  }

  /** A path no route rule matches: a default route (`/{service}/{method}`), else 405 or 404. */
  async #dispatchDefault(path: string, query: string, request: FastifyRequest, reply: FastifyReply) {
    const target = await this.#defaultRoute(path);
    // OPTIONS asks what a path takes (a browser's CORS preflight, most often): it never calls the method.
    if (target && request.method === "OPTIONS")
      throw new MethodNotAllowedError(
        request.method,
        `${this.#settings.prefix}${path}`,
        [...standardMethods].sort(),
        preflightNote(request),
      );
    if (!target) {
      const allow = this.#allowedMethods(path);
      if (allow.length > 0)
        throw new MethodNotAllowedError(
          request.method,
          `${this.#settings.prefix}${path}`,
          allow,
          preflightNote(request),
        );
      throw (
        (await this.#unknownDefaultMethod(path)) ??
        noRoute(
          request.method,
          path,
          this.#catalogue.unloaded(),
          this.#settings.namespace,
          this.#routedWithoutExtraSlashes(path),
          this.#namedService(path),
        )
      );
    }
    // A default route's path names a registered method, so the label set stays bounded.
    this.nameRoute(request, `${this.#settings.prefix}${path}`);
    const rule: HttpRule =
      request.method === "GET" || request.method === "DELETE" || request.method === "HEAD"
        ? { method: request.method, path }
        : { method: request.method, path, body: "*" };
    // `return await`: an async function returning a promise unawaited waits extra microtask turns for it.
    return await this.#call(target, rule, { variables: {}, query, body: request.body }, request, reply);
  }

  /** Names the route a request is counted and traced under: a template, never the raw path. */
  readonly nameRoute = (request: FastifyRequest, template: string): void => {
    this.#metrics?.route(request, template);
    this.#httpTracing.route(request, template);
  };

  /** The template of a route's path as dispatch would name it, when no default route is needed to find it. */
  templateOf(method: string, url: string): string | undefined {
    const queryAt = url.indexOf("?");
    let path = queryAt < 0 ? url : url.slice(0, queryAt);
    if (this.#settings.prefix !== "") {
      if (path !== this.#settings.prefix && !path.startsWith(`${this.#settings.prefix}/`)) return undefined;
      path = path.slice(this.#settings.prefix.length) || "/";
    }
    if (this.#events) return `${this.#settings.prefix}/{topic}`;
    if (path === "/rpc" && method === "POST") return `${this.#settings.prefix}/rpc`;
    const match = this.#catalogue.router.find(method, path);
    return match ? `${this.#settings.prefix}${match.route.rule.path}` : undefined;
  }

  /**
   * `path` without a trailing or doubled `/` (`/v1/users/`, `//v1/users`), when some route takes
   * that: the request's near miss, to name in its 404.
   */
  #routedWithoutExtraSlashes(path: string): string | undefined {
    const trimmed = path.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1");
    if (trimmed === path || this.#catalogue.router.methodsFor(trimmed).length === 0) return undefined;
    return trimmed;
  }

  /** What the first segment of a path no route takes names: a service routed here, a web service, or neither. */
  #namedService(path: string): NamedService | undefined {
    const first = path.split("/").find((s) => s !== "");
    if (first === undefined) return undefined;
    let segment = first;
    try {
      segment = decodeURIComponent(first);
    } catch {}
    const name = this.#settings.namespace === "" ? segment : `${this.#settings.namespace}.${segment}`;
    if (this.#catalogue.isWebService(name)) return { segment, kind: "web" };
    const services = this.#catalogue.services();
    if (services.some((service) => service.name === name)) return { segment, kind: "rpc" };
    // Without --namespace every service is reachable anyway: naming the one registered as NAMESPACE.segment tells
    // a go-micro user the flag that routes /segment/ to it, as micro api --namespace did.
    if (this.#settings.namespace !== "") return undefined;
    const namespaced = services.find((service) => service.name.endsWith(`.${segment}`));
    return namespaced && { segment, kind: "namespaced", name: namespaced.name };
  }

  /** The methods some route takes on a path no route of the request's method matched. */
  #allowedMethods(path: string): string[] {
    const allow = new Set(this.#catalogue.router.methodsFor(path));
    if (path === "/rpc") allow.add("POST");
    if (path === "/openapi.json" && this.#openApi) allow.add("GET");
    if (path === "/") allow.add("GET");
    if (path === healthzPath && this.#settings.prefix === "") allow.add("GET");
    return [...allow].sort();
  }

  /** `/{service}/{method}` or `/{service}/{Service}/{method}`, as `micro api` resolves paths. */
  async #defaultRoute(path: string): Promise<GatewayMethod | undefined> {
    const named = await this.#defaultRouteBackend(path);
    return named && findMethod(named.backend, named.method);
  }

  /** The registered service a default route's path names, and the method it asks of it. */
  async #defaultRouteBackend(path: string): Promise<{ backend: BackendService; method: string } | undefined> {
    const segments = path.split("/").filter((s) => s !== "");
    if (segments.length < 2 || segments.length > 3) return undefined;
    const [first, ...rest] = segments.map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const name = this.#settings.namespace === "" ? first! : `${this.#settings.namespace}.${first!}`;
    const backend = await this.#catalogue.service(name);
    return backend && { backend, method: rest.length === 2 ? `${rest[0]!}.${rest[1]!}` : rest[0]! };
  }

  /**
   * A default route naming a registered service and a method it lacks: NOT_FOUND listing those it
   * has. A path whose middle segment names none of the service's proto services is no default
   * route (`/edge/hello/a`: a path one segment too long), so none of this.
   */
  async #unknownDefaultMethod(path: string): Promise<TsmicroError | undefined> {
    const named = await this.#defaultRouteBackend(path);
    if (!named) return undefined;
    const dot = named.method.lastIndexOf(".");
    const service = named.method.slice(0, Math.max(dot, 0));
    if (service !== "" && !named.backend.methods.some((m) => isOfService(m, service))) return undefined;
    return new TsmicroError(
      Code.NOT_FOUND,
      `${named.backend.name} has no method ${named.method}; it has ${methodNames(named.backend)}`,
    );
  }

  async #rpcEndpoint(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = request.body;
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new TsmicroError(Code.INVALID_ARGUMENT, "POST /rpc takes a JSON object: {service, method, request}");
    const { service, method, endpoint, request: inner } = body as Record<string, unknown>;
    const spec = method ?? endpoint;
    if (typeof service !== "string" || service === "")
      throw new TsmicroError(Code.INVALID_ARGUMENT, "POST /rpc: service is missing; name the registered service");
    if (typeof spec !== "string" || spec === "")
      throw new TsmicroError(
        Code.INVALID_ARGUMENT,
        "POST /rpc: method (or endpoint) is missing, such as Greeter.SayHello",
      );
    const message = typeof inner === "string" ? (parseJsonBody(inner, "POST /rpc: request") ?? {}) : (inner ?? {});
    // Under --namespace, a name within it (`user`) is the service registered as `NAMESPACE.user`, and no other is reached.
    const name = inNamespace(service, this.#settings.namespace) ? service : `${this.#settings.namespace}.${service}`;
    const backend = await this.#catalogue.service(name);
    if (!backend && (service === httpBrokerDefaults.serviceName || name === httpBrokerDefaults.serviceName))
      throw new TsmicroError(
        Code.NOT_FOUND,
        `POST /rpc: ${service} is the embedded broker's registration of subscribers (docs/broker.md), not a service to call`,
      );
    if (!backend && this.#catalogue.isWebService(name))
      throw new TsmicroError(
        Code.NOT_FOUND,
        `POST /rpc: ${service} is a web service; a gateway with --handler web serves it`,
      );
    if (!backend)
      throw new TsmicroError(
        Code.NOT_FOUND,
        this.#settings.namespace === ""
          ? `POST /rpc: no service ${service} is registered`
          : `POST /rpc: no service ${name} is registered (this gateway reaches the services under ${this.#settings.namespace} only: --namespace)`,
      );
    const target = findMethod(backend, spec);
    if (!target)
      throw new TsmicroError(
        Code.NOT_FOUND,
        `POST /rpc: ${name} has no method ${spec}; it has ${methodNames(backend)}`,
      );
    return await this.#call(target, rpcRule, { variables: {}, query: "", body: message }, request, reply);
  }

  /**
   * The route rules of a call the dashboard's page makes, as for `POST /rpc` with that request:
   * the claims' metadata, or nothing without rules; a refusal throws.
   */
  readonly admitDashboardCall = async (
    target: GatewayMethod,
    body: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<Metadata | undefined> => {
    if (this.guard.open) return undefined;
    const claims = await this.#admit(target, rpcRule, { variables: {}, query: "", body }, request, reply);
    return claims && claimsMetadata(claims);
  };

  async #eventEndpoint(
    publisher: HttpEventPublisher,
    request: FastifyRequest,
    reply: FastifyReply,
    path: string,
  ): Promise<void> {
    if (request.method !== "POST")
      throw new MethodNotAllowedError(
        request.method,
        `${this.#settings.prefix}${path}`,
        // GET /healthz is the gateway's own (see GatewayHealth), beside the topic healthz.
        path === healthzPath && this.#settings.prefix === "" ? ["GET", "POST"] : ["POST"],
      );
    const topic = topicOfPath(path, this.#settings.namespace);
    // Route rules apply to topics as to RPCs (by path, or by the topic as the rule's rpc pattern).
    const claims = await this.guard.admit(topic, request, reply);
    const metadata = { ...this.#requestMetadata(request), ...(claims ? claimsMetadata(claims) : {}) };
    const published = await publishHttpEvent(publisher, topic, request.body, eventHeaders(metadata));
    void reply.code(202).type("application/json").send(JSON.stringify(published));
  }

  /** Calls `target` with the request the HTTP parts map to, once the route rules admit it; answers through `reply`. */
  #call(
    target: GatewayMethod,
    rule: HttpRule,
    parts: HttpRequestParts,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    // Without route rules there is nothing to wait for.
    if (this.guard.open) return this.#callAdmitted(target, rule, parts, undefined, request, reply);
    return this.#admit(target, rule, parts, request, reply).then((claims) =>
      this.#callAdmitted(target, rule, parts, claims, request, reply),
    );
  }

  /** The route rules of a call by `rule` (its own path's, and those of the method's other bindings): the claims, or a refusal thrown. */
  #admit(
    target: GatewayMethod,
    rule: HttpRule,
    parts: HttpRequestParts,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<JwtClaims | undefined> {
    const elsewhere = otherBindings(target, rule, this.#fieldsForRules(target, rule, parts), this.#settings.prefix);
    return this.guard.admit(target.rpc, request, reply, elsewhere);
  }

  #callAdmitted(
    target: GatewayMethod,
    rule: HttpRule,
    parts: HttpRequestParts,
    claims: JwtClaims | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const forwarded = this.#requestMetadata(request);
    const metadata = claims ? { ...forwarded, ...claimsMetadata(claims) } : forwarded;
    const caller = this.#backends.caller(target.service);
    const answer = new ResponseMetadata(request);
    const { onHeader, onTrailer } = answer;
    // Cancelled when the HTTP client goes away; no timeout given leaves the client's own (--client_*_timeout).
    const signal = this.#connections.of(request.raw.socket);
    const timeoutMs = requestTimeoutMs(request);
    switch (target.definition.kind) {
      case "unary": {
        // Encoded here, from the JSON (see requestBytes). One `then`, not an async function awaiting the call.
        const options = { metadata, onHeader, onTrailer, signal, timeoutMs };
        return caller.unary(target.unary, requestBytes(target, rule, parts), options).then(
          (response) => {
            answer.apply(reply);
            void reply
              .type("application/json")
              .send(JSON.stringify(unaryResponseJson(target, rule, response, this.#jsonOptions)));
          },
          (error: unknown) => {
            answer.apply(reply);
            // The backend's own challenge, when it sent one, over the gateway's default.
            const challenge = answer.text("www-authenticate");
            if (challenge !== undefined && isTsmicroError(error) && error.code === Code.UNAUTHENTICATED)
              void reply.header("www-authenticate", challenge);
            throw withEmptyBodyNote(error, target, rule, parts.body, this.#settings.prefix);
          },
        );
      }
      case "server_streaming": {
        const message = requestMessage(target, rule, parts);
        const options = { metadata, onHeader, onTrailer, signal, timeoutMs };
        const messages = caller.serverStreaming(target.definition, message, options);
        return sendStream(
          request,
          reply,
          mapStream(messages, (m) => responseJson(target, rule, m, this.#jsonOptions)),
          answer,
          (error) => this.failureAnswer(request, error).body,
        ).catch((error: unknown) => {
          // Failed before the first message: answered as a plain error, with what metadata came.
          if (!reply.sent) answer.apply(reply);
          throw error;
        });
      }
      default:
        throw new TsmicroError(
          Code.UNIMPLEMENTED,
          `${target.rpc} streams requests, which HTTP/JSON cannot carry; call it over gRPC`,
        );
    }
  }

  /** The request's fields for the route rules of the method's other bindings; none when they do not fit (the call will fail). */
  #fieldsForRules(target: GatewayMethod, rule: HttpRule, parts: HttpRequestParts): unknown {
    try {
      return requestFields(target, rule, parts);
    } catch {
      return undefined;
    }
  }

  /** The metadata forwarded from the request's headers; a value gRPC cannot carry is left out, at debug level. */
  #requestMetadata(request: FastifyRequest): Metadata {
    return forwardedMetadata(
      request.headers,
      // The hop the chain goes on from is the socket's peer, whatever request.ip believes of a proxy's X-Forwarded-For.
      request.raw.socket.remoteAddress ?? "",
      (header) =>
        this.#logger.debug(
          { header, method: request.method, url: request.url },
          "header not forwarded: gRPC metadata takes printable ASCII only",
        ),
      request.raw,
      this.#settings.forwardHeaders,
    );
  }

  async #openApiEndpoint(reply: FastifyReply): Promise<void> {
    if (!this.#openApi)
      throw new TsmicroError(Code.NOT_FOUND, "this gateway serves no OpenAPI document (createGateway without openApi)");
    const document = mergeOpenApi(this.#catalogue.services(), this.#openApi, {
      prefix: this.#settings.prefix,
      useProtoNames: this.#settings.jsonUseProtoNames,
      tokenUse: (operation, elsewhere) => this.guard.tokenUse(operation, elsewhere),
      rateLimited: (operation, elsewhere) => this.guard.rateLimited(operation, elsewhere),
    });
    void reply.type("application/json").send(JSON.stringify(document));
  }

  /**
   * A rule naming RPCs that match no method of the services loaded at start is most likely
   * misspelt (`user.v1.User.*` for `user.v1.UserService.*`): the routes it was meant to guard
   * would be open. Said once, at start; a service that registers later may still match it.
   */
  warnRulesMatchingNone(): void {
    const rpcs = this.#catalogue.services().flatMap((service) => service.methods.map((method) => method.rpc));
    if (rpcs.length === 0) return;
    for (const pattern of this.guard.rpcPatternsMatchingNone(rpcs))
      this.#logger.warn(
        { rule: pattern },
        `route rule ${JSON.stringify(pattern)} matches no method of the services routed so far (such as ${rpcs[0]}): ` +
          "check its spelling, package.Service.Method with * for any part; until a service it names registers, what it was meant to guard is open",
      );
  }
}

/**
 * Forwarded metadata as message headers: strings only (binary `-bin` values do not travel as
 * broker headers), and never the bearer credential, which a durable stream would keep; the
 * verified claims travel instead (`x-jwt-*`).
 */
function eventHeaders(metadata: Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata))
    if (typeof value === "string" && name !== "authorization") headers[name] = value;
  return headers;
}

/**
 * What a 405 adds for a browser's CORS preflight (an OPTIONS with `Origin` and
 * `Access-Control-Request-Method`): one reaches the routes only when the gateway allows no
 * origins (with `--cors_origins`, GatewayCors answers it first), so the page's calls fail in the
 * browser with nothing said but this answer in its network panel.
 */
function preflightNote(request: FastifyRequest): string {
  const origin = request.headers.origin;
  if (!isPreflight(request) || origin === undefined) return "";
  const shown = origin.length > 100 ? `${origin.slice(0, 97)}...` : origin;
  return (
    `; this is a browser's CORS preflight from ${shown}, and this gateway allows no cross-origin calls: ` +
    `start it with --cors_origins=${shown} (or cors.origins in --config) to let that page call it`
  );
}

/** A GET or a HEAD, which is a GET without the body (Node leaves it out). */
function reads(request: FastifyRequest): boolean {
  return request.method === "GET" || request.method === "HEAD";
}

/** The timeout a `Grpc-Timeout` header sets, as grpc-gateway takes it; undefined without one. */
function requestTimeoutMs(request: FastifyRequest): number | undefined {
  const header = request.headers["grpc-timeout"];
  return header === undefined ? undefined : grpcTimeoutMs(header as string);
}

/** The body of `GET /`: what the gateway serves besides the services' routes, and the services it routes. */
export interface GatewayIndex {
  readonly gateway: string;
  /** The merged OpenAPI document of every route; absent when the gateway was made without one. */
  readonly openapi?: string;
  readonly rpc: string;
  readonly defaultRoutes: string;
  /** The routed services, as the first path segment of their default routes names them. */
  readonly services: readonly string[];
  readonly dashboard?: string;
  readonly metrics?: string;
  /** `/healthz`, the gateway's health for probes; absent when a service routes `GET /healthz` itself. */
  readonly health?: string;
}

/** The binding a `POST /rpc` call (and a dashboard page's) is made by. */
const rpcRule: HttpRule = { method: "POST", path: "/rpc", body: "*" };

/** A backend's methods as a caller names them: `UserService.GetUser, …`. */
function methodNames(backend: BackendService): string {
  return backend.methods.map((m) => m.rpc.split(".").slice(-2).join(".")).join(", ");
}

/** The service a path's first segment names (`segment`, as written): one this gateway routes, or a web service. */
export interface NamedService {
  readonly segment: string;
  /** Routed here, a web service, or an rpc service registered under a namespace the gateway was not given. */
  readonly kind: "rpc" | "web" | "namespaced";
  /** For `namespaced`, the registered name (`shop.api.edge`). */
  readonly name?: string;
}

/**
 * A path no route matches; the routes are those of the services registered so far, so one not
 * started yet has none. Services registered whose routes could not be loaded (their nodes did not
 * answer) may be the ones that serve it: that some could not is said, and the log says which and
 * why. `nearMiss`, the path without
 * an extra `/` when routes take that, is named instead: the service runs, the path is off. So is
 * a service the first segment names (`named`): one routed here has no route for the path, and a
 * web service is another handler's; one registered under a namespace the gateway was not given
 * (`shop.api.edge` for `/edge/…`) is named with the --namespace that routes it.
 */
export function noRoute(
  method: string,
  path: string,
  unloaded?: ReadonlyMap<string, string>,
  namespace?: string,
  nearMiss?: string,
  named?: NamedService,
): TsmicroError {
  // A route that takes the path but for an extra `/`: the service is running, the path is off.
  if (nearMiss !== undefined)
    return new TsmicroError(
      Code.NOT_FOUND,
      `no route for ${method} ${path}: routes match paths exactly; ${nearMiss} (without the extra /) has routes`,
    );
  if (named?.kind === "web")
    return new TsmicroError(
      Code.NOT_FOUND,
      `no route for ${method} ${path}: ${named.segment} is a web service; a gateway with --handler web serves it`,
    );
  if (named?.kind === "rpc")
    return new TsmicroError(
      Code.NOT_FOUND,
      `no route for ${method} ${path}: no route matches the path; ${named.segment}'s default routes are ` +
        `/${named.segment}/{method} and /${named.segment}/{Service}/{method}`,
    );
  if (named?.kind === "namespaced" && named.name !== undefined)
    return new TsmicroError(
      Code.NOT_FOUND,
      `no route for ${method} ${path}: no service is registered as ${named.segment}; ${named.name} is, which a gateway ` +
        `started with --namespace=${named.name.slice(0, -(named.segment.length + 1))} reaches by /${named.segment}/…`,
    );
  // Services outside the namespace are running, perhaps, but not this gateway's to route.
  const registered = namespace ? `registered in --namespace ${namespace}` : "registered";
  // Which services failed to load, and why (a node's address, a flag), is the log's to say, not a public client's to learn.
  return new TsmicroError(
    Code.NOT_FOUND,
    (unloaded?.size ?? 0) === 0
      ? `no route for ${method} ${path}: no service ${registered} so far serves it (is its service running?)`
      : `no route for ${method} ${path}: no service loaded so far serves it; some registered services could not be loaded yet (the gateway's log says why)`,
  );
}

/** A method other than GET or HEAD on `/healthz` outside `--prefix`, where only the gateway's own `/healthz` is. */
function healthzOnly(method: string): MethodNotAllowedError {
  return new MethodNotAllowedError(method, healthzPath, ["GET"]);
}

/** The message of a path with a `%` not followed by two hex digits. */
export function malformedEscape(path: string): string {
  return `the path ${JSON.stringify(path)} has a malformed %-escape`;
}
