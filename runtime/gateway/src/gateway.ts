import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  type BreakerOptions,
  type Broker,
  brokerSettingsFrom,
  Code,
  createBroker,
  type EventsDefinition,
  type HttpRule,
  isTsmicroError,
  type Logger,
  type Metadata,
  type Registry,
  type ServiceDefinition,
  type ServiceSettings,
  SetupError,
  TsmicroError,
} from "@tsmicro/runtime";
import {
  checkFlagSpelling,
  ensureCanListen,
  httpBrokerDefaults,
  listenMetrics,
  messageOf,
  resolveServiceSettings,
  metricsRegistry,
  runtimeFlagNames,
  runUntilSignal,
  serviceLogger,
  strategies,
} from "@tsmicro/runtime/internal";
import { GatewayMetrics, ownMetricsListener } from "./gateway-metrics.js";
import { HttpTracing } from "./gateway-tracing.js";
import { GatewayCors } from "./gateway-cors.js";
import { type BackendCatalogue, type BackendService, findMethod } from "./backend-catalogue.js";
import { dashboardRoutes } from "./dashboard/dashboard-routes.js";
import { dashboardFlagNames, resolveDashboardSettings } from "./dashboard/dashboard-settings.js";
import { GatewayBackends, inNamespace } from "./gateway-backends.js";
import { listenAt, urlHost } from "./listen-at.js";
import type { GatewayMethod } from "./gateway-method.js";
import { gatewayFlagNames, resolveGatewaySettings, type GatewaySettings } from "./gateway-settings.js";
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
} from "./http-mapping.js";
import { otherBindings } from "./binding-paths.js";
import { acceptMethods, routableMethods, routeMethods } from "./http-methods.js";
import { mapStream, sendStream } from "./http-stream.js";
import { ConnectionSignals } from "./connection-signals.js";
import { grpcTimeoutMs } from "./grpc-timeout.js";
import { closeWithinGrace, openSockets } from "./graceful-close.js";
import { parseJsonBody } from "./json-body.js";
import { forwardedMetadata } from "./forwarded-metadata.js";
import { ResponseMetadata } from "./response-metadata.js";
import { publishHttpEvent, topicOfPath, type HttpEventPublisher } from "./event-handler.js";
import { EventTopics } from "./event-topics.js";
import { mergeOpenApi, type OpenApiBuilder } from "./merge-openapi.js";
import { loadGatewayConfig } from "./gateway-config.js";
import { claimsMetadata, type JwtClaims, type JwtOptions } from "./jwt-auth.js";
import { createRouteGuard, type RouteGuard } from "./route-guard.js";
import type { RouteRule } from "./route-rules.js";
import { createWebProxy, webProxyRoutes } from "./web-proxy.js";

/** Options of createGateway. Settings given here are overridden by environment and flags. */
export interface GatewayOptions {
  readonly settings?: Partial<GatewaySettings>;
  /** Registry and client settings, as a service reads them (`--registry`, `--client_retries`, …). */
  readonly serviceSettings?: Partial<ServiceSettings>;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /**
   * The command the arguments are all for (`tsmicro api`): a flag the gateway
   * does not read is then refused, naming it. Without, only near misses are,
   * and other flags are left for the program that embeds the gateway.
   */
  readonly program?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A registry to use instead of the one the settings name. It is started if needed but never stopped: the caller owns it. */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /**
   * Generated definitions whose embedded descriptors are used instead of
   * asking nodes by reflection: services for routes, events definitions for
   * the typed topics of `--handler event`.
   */
  readonly definitions?: readonly (ServiceDefinition | EventsDefinition)[];
  /**
   * The broker `--handler event` publishes to, instead of the one
   * `--broker`/`--broker_address` name. Started if needed, never stopped: the caller owns it.
   */
  readonly broker?: Broker;
  /** Circuit breakers on backend calls, one per service and method (on by default); `false` turns them off. */
  readonly breaker?: BreakerOptions | false;
  /** Serves the merged OpenAPI document of every routed service at `/openapi.json`. */
  readonly openApi?: OpenApiBuilder;
  /** Verifies bearer tokens on routes whose rule says `auth: true`; `--config` may give it instead. */
  readonly jwt?: JwtOptions;
  /** Per-route auth and rate limits, later rules overriding earlier ones; `--config` adds its own after these. */
  readonly routes?: readonly RouteRule[];
}

/** A running (or runnable) HTTP gateway. */
export interface Gateway {
  /** The fastify instance: add hooks, plugins and routes before start. */
  readonly app: FastifyInstance;
  readonly settings: GatewaySettings;
  readonly serviceSettings: ServiceSettings;
  readonly logger: Logger;
  readonly catalogue: BackendCatalogue;
  /** `host:port` it listens on, once started. */
  readonly address: string | undefined;
  /** `http://host:port` or `https://…`, once started. */
  readonly url: string | undefined;
  /** Where `/metrics` is served when `--metrics_address` names an address of its own (bound, once started); else undefined: on the gateway's port, or off. */
  readonly metricsAddress: string | undefined;
  /** Connects to the registry, loads the services, listens. */
  start(): Promise<void>;
  /**
   * Stops listening, gives requests in flight `--shutdown_grace` to finish, then cancels the rest
   * (and their backend calls) and closes backend connections.
   */
  stop(): Promise<void>;
  /** Starts, then stops on SIGINT or SIGTERM; resolves once stopped. If start fails it prints one line and exits 1. */
  run(): Promise<void>;
}

/**
 * Creates the HTTP gateway of `tsmicro api`: routes from the services' `google.api.http`
 * bindings, default `/{service}/{method}` routes and `POST /rpc` as `micro api` has them, proto3
 * JSON both ways, gRPC status to HTTP status, NDJSON or SSE for server streams. Backends are
 * found through the registry (a service started later is routed without a restart) and called
 * with the runtime's client: selector, retries, deadlines and circuit breakers.
 */
export function createGateway(options: GatewayOptions = {}): Gateway {
  const args = options.args ?? process.argv.slice(2);
  const env = options.env ?? process.env;
  checkFlagSpelling(args, [...runtimeFlagNames, ...gatewayFlagNames, ...dashboardFlagNames], options.program);
  const settings = resolveGatewaySettings(options.settings ?? {}, args, env);
  const serviceSettings = resolveServiceSettings(options.serviceSettings ?? {}, args, env);
  const logger = options.logger ?? ownLogger("api", serviceSettings);
  const backends = new GatewayBackends({
    name: "api",
    serviceSettings,
    args,
    env,
    logger,
    registry: options.registry,
    breaker: options.breaker,
    definitions: (options.definitions ?? []).filter(isServiceDefinition),
    strictRoutes: settings.strictRoutes,
    namespace: settings.namespace,
  });
  const { registry, tracing, transport, catalogue, metricsOn } = backends;
  const httpTracing = new HttpTracing(tracing);
  // On by default as in services, on the gateway's own port; --metrics_address=off turns it off, and
  // --metrics_address=HOST:PORT serves /metrics there instead, off the port the public reaches.
  const metrics = metricsOn
    ? new GatewayMetrics(metricsRegistry(), { proxied: settings.handler === "web" || settings.handler === "proxy" })
    : undefined;
  const ownMetrics = ownMetricsListener(serviceSettings, metricsOn);
  let metricsAddress: string | undefined;
  /** CORS, when `--cors_origins` (or `--config`) names origins; made at start. */
  let cors: GatewayCors | undefined;
  const app = Fastify({
    bodyLimit: settings.bodyLimit,
    // The router refuses a malformed %-escape before any route runs; answer it like every other error.
    frameworkErrors: (error, request, reply) => {
      // Worded as dispatch words the same mistake ("'/v1/x/%zz' is not a valid url component" otherwise).
      const badPath = /^'(.*)' is not a valid url component$/.exec(error.message)?.[1];
      const message = badPath === undefined ? error.message : malformedEscape(badPath);
      const { body } = errorResponse(new TsmicroError(Code.INVALID_ARGUMENT, message));
      // Refused before the hooks that trace every request and set CORS' headers ran: done here, as they would have.
      httpTracing.traceRefused(request as FastifyRequest, reply as FastifyReply);
      cors?.mark(request as FastifyRequest, reply as FastifyReply);
      void (reply as FastifyReply)
        .code(error.statusCode ?? 400)
        .type("application/json")
        .send(JSON.stringify(httpTracing.withTraceId(request as FastifyRequest, body)));
    },
    clientErrorHandler: answerClientError,
    ...(settings.tlsCertFile || settings.tlsKeyFile ? { https: tlsOptions(settings) } : {}),
  });
  let address: string | undefined;
  let url: string | undefined;
  let stopping: Promise<void> | undefined;

  // Bodies are read as text and parsed here, so any content type is accepted as JSON (as
  // grpc-gateway does) and a parse error names the problem. The same parser is named for JSON
  // too: fastify finds a catch-all anew (parsing the content type) on every request, a named
  // parser in its cache.
  app.removeAllContentTypeParsers();
  const parseBody = (
    request: FastifyRequest,
    body: string | Buffer,
    done: (error: TsmicroError | null, body?: unknown) => void,
  ) => {
    const bytes = body as Buffer;
    // JSON is UTF-8: bytes that are not would be read as U+FFFD and stored so, as grpc-gateway refuses them.
    const text = isUtf8(bytes) ? bytes.toString("utf8") : undefined;
    try {
      if (text === undefined)
        throw new TsmicroError(
          Code.INVALID_ARGUMENT,
          `${bodyName(request.headers["content-type"])} is not valid UTF-8, which JSON text must be`,
        );
      done(null, parseJsonBody(text));
    } catch (error) {
      // The request never reaches dispatch, which names its route: named here, it is counted under its route.
      const template = templateOf(request.method, request.raw.url ?? "/");
      if (template !== undefined) nameRoute(request, template);
      const refusal = error as TsmicroError;
      done(text === undefined ? refusal : notJson(refusal, text, request.headers["content-type"]), undefined);
    }
  };
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, parseBody);
  app.addContentTypeParser("*", { parseAs: "buffer" }, parseBody);

  app.setErrorHandler((error, request, reply) => {
    const httpStatus = fastifyStatus(error);
    const failure = asTsmicroError(error, settings.bodyLimit, request.headers["content-type"]);
    if (!isTsmicroError(failure))
      logger.error({ err: error, method: request.method, url: request.url }, "gateway error");
    const { status, headers, body } = failureAnswer(request, failure);
    // A more precise header set on the way (the JWT check's challenge) stays.
    for (const [name, value] of Object.entries(headers)) if (!reply.hasHeader(name)) void reply.header(name, value);
    void reply
      .code(httpStatus ?? status)
      .type("application/json")
      .send(JSON.stringify(body));
  });

  /** A detail type of the routed services' own, as their descriptors declare it, for error bodies. */
  function detailType(typeName: string): ReturnType<DetailTypes> {
    for (const backend of catalogue.services())
      for (const registry of backend.descriptors.values()) {
        const desc = registry.getMessage(typeName);
        if (desc) return { desc, registry };
      }
    return undefined;
  }

  /**
   * The answer to a failed request, its body with the trace id; the message it withholds from
   * the client (a failure on the servers' side, see errorResponse) is logged, with the service
   * whose call failed.
   */
  function failureAnswer(request: FastifyRequest, error: unknown): ErrorResponse {
    const answer = errorResponse(error, detailType);
    logWithheld(answer, error, request, logger);
    return { ...answer, body: httpTracing.withTraceId(request, answer.body) };
  }

  app.setNotFoundHandler((request, reply) => {
    const { status, body } = errorResponse(
      noRoute(request.method, request.url, catalogue.unloaded(), settings.namespace),
    );
    void reply
      .code(status)
      .type("application/json")
      .send(JSON.stringify(httpTracing.withTraceId(request, body)));
  });

  // --handler web|proxy: every request goes to an HTTP service named by the first path segment.
  const proxy =
    settings.handler === "web" || settings.handler === "proxy"
      ? createWebProxy({
          registry,
          namespace: settings.namespace,
          strategy: strategies[serviceSettings.selector],
          logger,
        })
      : undefined;
  // --handler event: POST /{topic} publishes; the broker is made (no I/O yet) only in this mode.
  const events: HttpEventPublisher | undefined =
    settings.handler === "event"
      ? {
          broker: options.broker ?? createBroker(brokerSettingsFrom(args, env), { registry, logger, name: "api" }),
          topics: new EventTopics({
            definitions: (options.definitions ?? []).filter(isEventsDefinition),
            registry,
            transport,
            logger,
          }),
          tracing,
        }
      : undefined;
  const connections = new ConnectionSignals();
  const sockets = openSockets(app.server);
  let guard: RouteGuard = createRouteGuard({ routes: options.routes ?? [], jwt: options.jwt });
  const jsonOptions = { emitUnpopulated: settings.jsonEmitUnpopulated, useProtoNames: settings.jsonUseProtoNames };

  /** Reads `--config`, then mounts CORS and the routes: at start, so the config file is read asynchronously. */
  async function setUp(): Promise<void> {
    httpTracing.mount(app, { forwardTrace: proxy !== undefined });
    const config = settings.config ? await loadGatewayConfig(settings.config) : undefined;
    guard = createRouteGuard({
      routes: [...(options.routes ?? []), ...(config?.routes ?? [])],
      jwt: config?.jwt ?? options.jwt,
    });
    const origins = [...settings.corsOrigins, ...(config?.corsOrigins ?? [])];
    // Routes come and go with the services behind: every method a route may name is taken.
    const methods = acceptMethods(app, routableMethods);
    if (origins.length > 0) {
      cors = new GatewayCors(origins, corsMethods(methods));
      cors.mount(app);
    }
    metrics?.mount(app, ownMetrics === undefined);
    if (settings.dashboard) await mountDashboard();
    if (proxy)
      await app.register(webProxyRoutes, {
        proxy,
        details: (request, body) => httpTracing.withTraceId(request, body),
        nameRoute,
      });
    else
      app.route({
        // A plain OPTIONS too, as any method (GatewayCors answers preflights before routing).
        method: [...methods, "OPTIONS"],
        url: "/*",
        // The span is active already (HttpTracing's preHandler hook).
        handler: dispatch,
      });
  }

  /**
   * What a preflight allows: the methods the routes take, asked anew as services come and go; a
   * method no route takes is refused by the browser, one the path does not take gets the 405.
   * The web services behind `--handler web|proxy` may take any method the gateway accepts, but
   * TRACE, which browsers never send.
   */
  function corsMethods(accepted: readonly string[]): () => readonly string[] {
    if (!proxy) return () => routeMethods(catalogue.router.methods);
    const allowed = accepted.filter((method) => method !== "TRACE");
    return () => allowed;
  }

  /** The dashboard's page and API under `<prefix>/dashboard/`, calls allowed as `tsmicro web` allows them. */
  async function mountDashboard(): Promise<void> {
    await app.register(dashboardRoutes, {
      prefix: `${settings.prefix}/dashboard`,
      backends,
      logger,
      settings: resolveDashboardSettings({}, args, env, { withAddress: false }),
      listenAddress: settings.address,
      ...(options.openApi ? { openApiPath: `${settings.prefix}/openapi.json` } : {}),
      // The page's calls meet the route rules, as /rpc's do.
      admit: admitDashboardCall,
    });
  }

  /**
   * The gateway's one route. Not async: a route the router matches goes straight to its call, with
   * no promise of its own per request; a refusal thrown here reaches the error handler as a
   * rejection would.
   */
  function dispatch(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const raw = request.raw.url ?? "/";
    const queryAt = raw.indexOf("?");
    let path = queryAt < 0 ? raw : raw.slice(0, queryAt);
    const query = queryAt < 0 ? "" : raw.slice(queryAt + 1);
    if (settings.prefix !== "") {
      if (path !== settings.prefix && !path.startsWith(`${settings.prefix}/`)) throw noRoute(request.method, path);
      path = path.slice(settings.prefix.length) || "/";
    }
    if (path.includes("%") && /%(?![0-9a-fA-F]{2})/.test(path))
      throw new TsmicroError(Code.INVALID_ARGUMENT, malformedEscape(path));

    if (events && !(path === "/openapi.json" && request.method === "GET")) {
      nameRoute(request, `${settings.prefix}/{topic}`);
      return eventEndpoint(events, request, reply, path);
    }
    if (path === "/rpc" && request.method === "POST") {
      nameRoute(request, `${settings.prefix}/rpc`);
      return rpcEndpoint(request, reply);
    }
    if (path === "/openapi.json" && request.method === "GET") {
      nameRoute(request, `${settings.prefix}/openapi.json`);
      return openApiEndpoint(reply);
    }

    // HEAD is GET without the body (Node leaves the body out), as HTTP has it.
    const match = catalogue.router.find(request.method === "HEAD" ? "GET" : request.method, path);
    if (match) {
      const { target, rule } = match.route;
      nameRoute(request, `${settings.prefix}${rule.path}`);
      return call(target, rule, { variables: match.variables, query, body: request.body }, request, reply);
    }
    return dispatchDefault(path, query, request, reply);
  }

  /** A path no route rule matches: a default route (`/{service}/{method}`), else 405 or 404. */
  async function dispatchDefault(path: string, query: string, request: FastifyRequest, reply: FastifyReply) {
    const target = await defaultRoute(path);
    if (!target) {
      const allow = allowedMethods(path);
      if (allow.length > 0) throw new MethodNotAllowedError(request.method, `${settings.prefix}${path}`, allow);
      throw (
        (await unknownDefaultMethod(path)) ??
        noRoute(request.method, path, catalogue.unloaded(), settings.namespace, routedWithoutExtraSlashes(path))
      );
    }
    // A default route's path names a registered method, so the label set stays bounded.
    nameRoute(request, `${settings.prefix}${path}`);
    const rule: HttpRule =
      request.method === "GET" || request.method === "DELETE" || request.method === "HEAD"
        ? { method: request.method, path }
        : { method: request.method, path, body: "*" };
    // `return await`: an async function returning a promise unawaited waits extra microtask turns for it.
    return await call(target, rule, { variables: {}, query, body: request.body }, request, reply);
  }

  /** Names the route a request is counted and traced under: a template, never the raw path. */
  function nameRoute(request: FastifyRequest, template: string): void {
    metrics?.route(request, template);
    httpTracing.route(request, template);
  }

  /** The template of a route's path as dispatch would name it, when no default route is needed to find it. */
  function templateOf(method: string, url: string): string | undefined {
    const queryAt = url.indexOf("?");
    let path = queryAt < 0 ? url : url.slice(0, queryAt);
    if (settings.prefix !== "") {
      if (path !== settings.prefix && !path.startsWith(`${settings.prefix}/`)) return undefined;
      path = path.slice(settings.prefix.length) || "/";
    }
    if (events) return `${settings.prefix}/{topic}`;
    if (path === "/rpc" && method === "POST") return `${settings.prefix}/rpc`;
    const match = catalogue.router.find(method, path);
    return match ? `${settings.prefix}${match.route.rule.path}` : undefined;
  }

  /**
   * `path` without a trailing or doubled `/` (`/v1/users/`, `//v1/users`), when some route takes
   * that: the request's near miss, to name in its 404.
   */
  function routedWithoutExtraSlashes(path: string): string | undefined {
    const trimmed = path.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1");
    if (trimmed === path || catalogue.router.methodsFor(trimmed).length === 0) return undefined;
    return trimmed;
  }

  /** The methods some route takes on a path no route of the request's method matched. */
  function allowedMethods(path: string): string[] {
    const allow = new Set(catalogue.router.methodsFor(path));
    if (path === "/rpc") allow.add("POST");
    if (path === "/openapi.json" && options.openApi) allow.add("GET");
    return [...allow].sort();
  }

  /** `/{service}/{method}` or `/{service}/{Service}/{method}`, as `micro api` resolves paths. */
  async function defaultRoute(path: string): Promise<GatewayMethod | undefined> {
    const named = await defaultRouteBackend(path);
    return named && findMethod(named.backend, named.method);
  }

  /** The registered service a default route's path names, and the method it asks of it. */
  async function defaultRouteBackend(path: string): Promise<{ backend: BackendService; method: string } | undefined> {
    const segments = path.split("/").filter((s) => s !== "");
    if (segments.length < 2 || segments.length > 3) return undefined;
    const [first, ...rest] = segments.map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const name = settings.namespace === "" ? first! : `${settings.namespace}.${first!}`;
    const backend = await catalogue.service(name);
    return backend && { backend, method: rest.length === 2 ? `${rest[0]!}.${rest[1]!}` : rest[0]! };
  }

  /** A default route naming a registered service and a method it lacks: NOT_FOUND listing those it has. */
  async function unknownDefaultMethod(path: string): Promise<TsmicroError | undefined> {
    const named = await defaultRouteBackend(path);
    if (!named) return undefined;
    return new TsmicroError(
      Code.NOT_FOUND,
      `${named.backend.name} has no method ${named.method}; it has ${methodNames(named.backend)}`,
    );
  }

  async function rpcEndpoint(request: FastifyRequest, reply: FastifyReply): Promise<void> {
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
    const name = inNamespace(service, settings.namespace) ? service : `${settings.namespace}.${service}`;
    const backend = await catalogue.service(name);
    if (!backend && (service === httpBrokerDefaults.serviceName || name === httpBrokerDefaults.serviceName))
      throw new TsmicroError(
        Code.NOT_FOUND,
        `POST /rpc: ${service} is the embedded broker's registration of subscribers (docs/broker.md), not a service to call`,
      );
    if (!backend)
      throw new TsmicroError(
        Code.NOT_FOUND,
        settings.namespace === ""
          ? `POST /rpc: no service ${service} is registered`
          : `POST /rpc: no service ${name} is registered (this gateway reaches the services under ${settings.namespace} only: --namespace)`,
      );
    const target = findMethod(backend, spec);
    if (!target)
      throw new TsmicroError(
        Code.NOT_FOUND,
        `POST /rpc: ${name} has no method ${spec}; it has ${methodNames(backend)}`,
      );
    return await call(target, rpcRule, { variables: {}, query: "", body: message }, request, reply);
  }

  /**
   * The route rules of a call the dashboard's page makes, as for `POST /rpc` with that request:
   * the claims' metadata, or nothing without rules; a refusal throws.
   */
  async function admitDashboardCall(
    target: GatewayMethod,
    body: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<Metadata | undefined> {
    if (guard.open) return undefined;
    const claims = await admit(target, rpcRule, { variables: {}, query: "", body }, request, reply);
    return claims && claimsMetadata(claims);
  }

  async function eventEndpoint(
    publisher: HttpEventPublisher,
    request: FastifyRequest,
    reply: FastifyReply,
    path: string,
  ): Promise<void> {
    if (request.method !== "POST")
      throw new MethodNotAllowedError(request.method, `${settings.prefix}${path}`, ["POST"]);
    const topic = topicOfPath(path, settings.namespace);
    // Route rules apply to topics as to RPCs (by path, or by the topic as the rule's rpc pattern).
    const claims = await guard.admit(topic, request, reply);
    const metadata = { ...requestMetadata(request), ...(claims ? claimsMetadata(claims) : {}) };
    const published = await publishHttpEvent(publisher, topic, request.body, eventHeaders(metadata));
    void reply.code(202).type("application/json").send(JSON.stringify(published));
  }

  /** Calls `target` with the request the HTTP parts map to, once the route rules admit it; answers through `reply`. */
  function call(
    target: GatewayMethod,
    rule: HttpRule,
    parts: HttpRequestParts,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    // Without route rules there is nothing to wait for.
    if (guard.open) return callAdmitted(target, rule, parts, undefined, request, reply);
    return admit(target, rule, parts, request, reply).then((claims) =>
      callAdmitted(target, rule, parts, claims, request, reply),
    );
  }

  /** The route rules of a call by `rule` (its own path's, and those of the method's other bindings): the claims, or a refusal thrown. */
  function admit(
    target: GatewayMethod,
    rule: HttpRule,
    parts: HttpRequestParts,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<JwtClaims | undefined> {
    const elsewhere = otherBindings(target, rule, fieldsForRules(target, rule, parts), settings.prefix);
    return guard.admit(target.rpc, request, reply, elsewhere);
  }

  function callAdmitted(
    target: GatewayMethod,
    rule: HttpRule,
    parts: HttpRequestParts,
    claims: JwtClaims | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const forwarded = requestMetadata(request);
    const metadata = claims ? { ...forwarded, ...claimsMetadata(claims) } : forwarded;
    const caller = backends.caller(target.service);
    const answer = new ResponseMetadata(request);
    const { onHeader, onTrailer } = answer;
    // Cancelled when the HTTP client goes away; no timeout given leaves the client's own (--client_*_timeout).
    const signal = connections.of(request.raw.socket);
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
              .send(JSON.stringify(unaryResponseJson(target, rule, response, jsonOptions)));
          },
          (error: unknown) => {
            answer.apply(reply);
            // The backend's own challenge, when it sent one, over the gateway's default.
            const challenge = answer.text("www-authenticate");
            if (challenge !== undefined && isTsmicroError(error) && error.code === Code.UNAUTHENTICATED)
              void reply.header("www-authenticate", challenge);
            throw error;
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
          mapStream(messages, (m) => responseJson(target, rule, m, jsonOptions)),
          answer,
          (error) => failureAnswer(request, error).body,
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
  function fieldsForRules(target: GatewayMethod, rule: HttpRule, parts: HttpRequestParts): unknown {
    try {
      return requestFields(target, rule, parts);
    } catch {
      return undefined;
    }
  }

  /** The metadata forwarded from the request's headers; a value gRPC cannot carry is left out, at debug level. */
  function requestMetadata(request: FastifyRequest): Metadata {
    return forwardedMetadata(
      request.headers,
      request.ip,
      (header) =>
        logger.debug(
          { header, method: request.method, url: request.url },
          "header not forwarded: gRPC metadata takes printable ASCII only",
        ),
      request.raw,
    );
  }

  async function openApiEndpoint(reply: FastifyReply): Promise<void> {
    if (!options.openApi)
      throw new TsmicroError(Code.NOT_FOUND, "this gateway serves no OpenAPI document (createGateway without openApi)");
    const document = mergeOpenApi(catalogue.services(), options.openApi, {
      prefix: settings.prefix,
      useProtoNames: settings.jsonUseProtoNames,
      tokenUse: (operation, elsewhere) => guard.tokenUse(operation, elsewhere),
      rateLimited: (operation, elsewhere) => guard.rateLimited(operation, elsewhere),
    });
    void reply.type("application/json").send(JSON.stringify(document));
  }

  /**
   * A rule naming RPCs that match no method of the services loaded at start is most likely
   * misspelt (`user.v1.User.*` for `user.v1.UserService.*`): the routes it was meant to guard
   * would be open. Said once, at start; a service that registers later may still match it.
   */
  function warnRulesMatchingNone(): void {
    const rpcs = catalogue.services().flatMap((service) => service.methods.map((method) => method.rpc));
    if (rpcs.length === 0) return;
    for (const pattern of guard.rpcPatternsMatchingNone(rpcs))
      logger.warn(
        { rule: pattern },
        `route rule ${JSON.stringify(pattern)} matches no method of the services routed so far (such as ${rpcs[0]}): ` +
          "check its spelling, package.Service.Method with * for any part; until a service it names registers, what it was meant to guard is open",
      );
  }

  /**
   * The end of `--shutdown_grace` with requests still in flight: their backend calls are
   * cancelled, so a stream ends with an UNAVAILABLE error line or event and a unary call answers 503.
   */
  function cancelInFlight(): void {
    const graceMs = serviceSettings.shutdownGraceMs;
    logger.warn(
      { open: sockets.size },
      "requests still in flight after the shutdown grace (--shutdown_grace); cancelling them",
    );
    connections.cancelAll(
      new TsmicroError(
        Code.UNAVAILABLE,
        `the gateway is shutting down and the call was still running after ${graceMs} ms (--shutdown_grace); send it again`,
      ),
    );
  }

  const gateway: Gateway = {
    app,
    settings,
    serviceSettings,
    logger,
    catalogue,
    get address() {
      return address;
    },
    get url() {
      return url;
    },
    get metricsAddress() {
      return metricsAddress;
    },
    async start() {
      // A taken --address fails before anything else starts (and logs the routes it would have served).
      await ensureCanListen(settings.address, "--address");
      if (ownMetrics) await ensureCanListen(ownMetrics.at, "--metrics_address");
      await tracing.start();
      await setUp();
      await backends.registryUse.ready();
      // A broker that cannot be reached fails start, loudly, like the registry.
      if (events) await events.broker.start();
      if (proxy) await proxy.start();
      else if (!events) {
        await catalogue.start();
        warnRulesMatchingNone();
      }
      const { host, port } = await listenAt(app, settings.address, "--address");
      address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
      url = `${settings.tlsCertFile ? "https" : "http"}://${urlHost(host)}:${port}`;
      if (ownMetrics) metricsAddress = await listenMetrics(ownMetrics.server, ownMetrics.at);
      logger.info(
        {
          address,
          handler: settings.handler,
          registry: registry.kind,
          ...(metricsAddress ? { metrics: metricsAddress } : {}),
        },
        "gateway started",
      );
    },
    stop() {
      stopping ??= (async () => {
        await closeWithinGrace(app, sockets, serviceSettings.shutdownGraceMs, cancelInFlight);
        await ownMetrics?.server.stop();
        if (events && !options.broker) await events.broker.stop();
        await proxy?.stop();
        await backends.stop();
        logger.info({ address }, "gateway stopped");
      })();
      return stopping;
    },
    run: () => runUntilSignal("api", gateway, logger),
  };
  return gateway;
}

function isServiceDefinition(definition: ServiceDefinition | EventsDefinition): definition is ServiceDefinition {
  return "methods" in definition;
}

function isEventsDefinition(definition: ServiceDefinition | EventsDefinition): definition is EventsDefinition {
  return "events" in definition;
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

function tlsOptions(settings: GatewaySettings): { cert: Buffer; key: Buffer } {
  if (!settings.tlsCertFile || !settings.tlsKeyFile)
    throw new SetupError(
      "TSM_ERR_FLAG",
      settings.tlsCertFile ? "--tls_key_file" : "--tls_cert_file",
      "(none)",
      "TLS needs both --tls_cert_file and --tls_key_file",
    );
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new SetupError("TSM_ERR_FLAG", flag, JSON.stringify(file), `cannot read it: ${messageOf(error)}`);
    }
  };
  return { cert: read(settings.tlsCertFile, "--tls_cert_file"), key: read(settings.tlsKeyFile, "--tls_key_file") };
}

/**
 * Requests Node's HTTP parser refuses (bad header bytes, headers too large, a timeout) get the
 * same JSON error body as everything else, written straight to the socket.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, message] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, Code.INVALID_ARGUMENT, "the request headers are too large"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, Code.DEADLINE_EXCEEDED, "the request took too long to arrive"]
        : [400, Code.INVALID_ARGUMENT, "the request is not valid HTTP"];
  const body = JSON.stringify({ code, message, details: [] });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(error);
}

/** The timeout a `Grpc-Timeout` header sets, as grpc-gateway takes it; undefined without one. */
function requestTimeoutMs(request: FastifyRequest): number | undefined {
  const header = request.headers["grpc-timeout"];
  return header === undefined ? undefined : grpcTimeoutMs(header as string);
}

/** The binding a `POST /rpc` call (and a dashboard page's) is made by. */
const rpcRule: HttpRule = { method: "POST", path: "/rpc", body: "*" };

/** A backend's methods as a caller names them: `UserService.GetUser, …`. */
function methodNames(backend: BackendService): string {
  return backend.methods.map((m) => m.rpc.split(".").slice(-2).join(".")).join(", ");
}

/**
 * A path no route matches; the routes are those of the services registered so far, so one not
 * started yet has none. Services registered whose routes could not be loaded (their nodes did not
 * answer) may be the ones that serve it: they are named, with why. `nearMiss`, the path without
 * an extra `/` when routes take that, is named instead: the service runs, the path is off.
 */
function noRoute(
  method: string,
  path: string,
  unloaded?: ReadonlyMap<string, string>,
  namespace?: string,
  nearMiss?: string,
): TsmicroError {
  // A route that takes the path but for an extra `/`: the service is running, the path is off.
  if (nearMiss !== undefined)
    return new TsmicroError(
      Code.NOT_FOUND,
      `no route for ${method} ${path}: routes match paths exactly; ${nearMiss} (without the extra /) has routes`,
    );
  const notLoaded = [...(unloaded ?? [])].map(([name, reason]) => `${name} (${reason})`);
  // Services outside the namespace are running, perhaps, but not this gateway's to route.
  const registered = namespace ? `registered in --namespace ${namespace}` : "registered";
  return new TsmicroError(
    Code.NOT_FOUND,
    notLoaded.length === 0
      ? `no route for ${method} ${path}: no service ${registered} so far serves it (is its service running?)`
      : `no route for ${method} ${path}: no service loaded so far serves it; the routes of ${notLoaded.join(", ")} could not be loaded yet`,
  );
}

/** The HTTP status of fastify's own client errors (body too large, bad content type); undefined for others. */
function fastifyStatus(error: unknown): number | undefined {
  if (error instanceof TsmicroError) return undefined;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" && status >= 400 && status < 500 ? status : undefined;
}

/**
 * fastify's client errors become TsmicroErrors with their message (a body too large: the limit
 * and its flag; a Content-Type that is no media type: the header); anything else passes as it is.
 */
function asTsmicroError(error: unknown, bodyLimit: number, contentType: string | undefined): unknown {
  const status = fastifyStatus(error);
  if (status === undefined) return error;
  if (status === 413)
    return new TsmicroError(
      Code.OUT_OF_RANGE,
      `the request body is over the gateway's limit of ${bodyLimit} bytes (--body_limit)`,
    );
  if ((error as { code?: unknown }).code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
    return new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the Content-Type ${JSON.stringify(contentType ?? "")} is no media type (type/subtype); send application/json, as the gateway reads every body as JSON`,
    );
  return new TsmicroError(status === 404 ? Code.NOT_FOUND : Code.INVALID_ARGUMENT, messageOf(error));
}

/**
 * A body that failed to parse, sent as something else than JSON (a form, say): the message names
 * its Content-Type and says that the gateway reads every body as JSON.
 */
function notJson(error: TsmicroError, body: string, contentType: string | undefined): TsmicroError {
  if (contentType === undefined || /json/i.test(contentType)) return error;
  try {
    parseJsonBody(body, bodyName(contentType));
  } catch (worded) {
    return worded as TsmicroError;
  }
  return error;
}

/** How errors name the request body: with its Content-Type when that is not JSON, as the gateway reads every body as JSON. */
function bodyName(contentType: string | undefined): string {
  return contentType === undefined || /json/i.test(contentType)
    ? "the request body"
    : `the request body (Content-Type ${contentType}; the gateway reads every body as JSON)`;
}

function malformedEscape(path: string): string {
  return `the path ${JSON.stringify(path)} has a malformed %-escape`;
}

/** The gateway's own logger from the `--log_*` flags; one it cannot make (pretty without pino-pretty) is a setup error now. */
export function ownLogger(name: string, settings: ServiceSettings): Logger {
  const { logger, error } = serviceLogger({ service: name }, settings);
  if (error) throw error;
  return logger;
}
