import { timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fromJson, type JsonValue, type Message, toJson } from "@bufbuild/protobuf";
import {
  Code,
  codeName,
  errorReasonOf,
  isTsmicroError,
  type Logger,
  type Metadata,
  type Service,
  TsmicroError,
} from "@tsmicro/runtime";
import { faultPlace, isPlainObject, jsonFault, messageOf, metricsRegistry } from "@tsmicro/runtime/internal";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { findMethod } from "../backend-catalogue.js";
import { type GatewayBackends, onlyBrokerSubscriptions } from "../gateway-backends.js";
import { type GatewayMethod, httpRulesOf } from "../gateway-method.js";
import { splitAddress } from "../listen-at.js";
import { mergeOpenApi, type OpenApiBuilder } from "../merge-openapi.js";
import type { CallOutcome, FleetEvent, Info, MethodView, RouteView, ServiceDetails } from "./dashboard-api.js";
import { type DashboardSettings, isLoopbackHost } from "./dashboard-settings.js";
import { eventViews } from "./event-views.js";
import { FleetWatch } from "./fleet-watch.js";
import { messageShape, requestShape } from "./message-shape.js";

/** What the dashboard's routes use. */
export interface DashboardRoutesOptions {
  /** The registry, clients and catalogue of the process the page is mounted in. */
  readonly backends: GatewayBackends;
  readonly logger: Logger;
  /** Whether calls are allowed, and with which token. */
  readonly settings: DashboardSettings;
  /** Where the app listens: calls are allowed by default only on loopback. */
  readonly listenAddress: string;
  /** Where the gateway serves its OpenAPI document, when the page is mounted in one. */
  readonly openApiPath?: string;
  /** Builds each proto file's OpenAPI document: the page then serves the services' merged one at `openapi.json`. */
  readonly openApi?: OpenApiBuilder;
  /**
   * The gateway's route rules for a call of `method` with the request `body` (as proto3 JSON):
   * the metadata to send with it (a token's claims), or a refusal thrown. None in `tsmicro web`.
   */
  readonly admit?: (
    method: GatewayMethod,
    body: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<Metadata | undefined>;
  /** Whether `admit` may ask a call for a JWT (the gateway has route rules): the page then offers a field for one. */
  readonly checksTokens?: boolean;
}

/** The page's files, built into dist/web by the package's build. */
const webDirectory = new URL(import.meta.url.endsWith(".ts") ? "../../dist/web/" : "../web/", import.meta.url);
const assets: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
};

/**
 * The dashboard: its page at `/`, and the JSON API the page reads: `api/info`, `api/services`,
 * `api/services/:name` (methods with request and response shapes, and the events it subscribes
 * to and publishes), `api/routes`, `api/events`
 * (server-sent events: the services whenever the registry changes, charts every tick) and
 * `POST api/call`. Registered under a prefix in the gateway (`/dashboard`), at the root in
 * `tsmicro web`.
 */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardRoutesOptions): Promise<void> {
  const files = await readAssets();
  const { backends, settings } = options;
  const { catalogue } = backends;
  const callsAllowed =
    settings.calls ?? (isLoopbackHost(splitAddress(options.listenAddress).host) || settings.token !== undefined);
  const refusal = callsAllowed
    ? undefined
    : settings.calls === false
      ? "calls from the dashboard are off (--dashboard_calls off); start it with --dashboard_calls on to allow them"
      : "calls from the dashboard are off: it listens beyond loopback; start it with --dashboard_calls on, or --dashboard_token TOKEN and give the page that token";
  // Open by default only because it listens on loopback: then only to a page opened at a loopback address.
  const openByListening = callsAllowed && settings.calls === undefined && settings.token === undefined;
  app.addHook("onRequest", (request, _reply, done) => done(crossOrigin(request)));
  const watch = new FleetWatch({
    registry: backends.registry,
    transport: backends.transport,
    logger: options.logger,
    shows: (name) => backends.reaches(name),
    ...(backends.metricsOn ? { ownMetrics: () => metricsRegistry().metrics() } : {}),
  });

  app.get("/", async (request, reply) => {
    // Relative links (app.js, api/…) need the page at a path ending in a slash.
    const path = request.url.split("?")[0]!;
    if (!path.endsWith("/")) return reply.redirect(`${path}/`, 308);
    return reply.type(assets["index.html"]!).header("cache-control", "no-cache").send(files.get("index.html"));
  });
  for (const name of ["app.js", "app.css"])
    app.get(`/${name}`, async (_request, reply) => reply.type(assets[name]!).send(files.get(name)));

  const { openApi } = options;
  if (openApi) app.get("/openapi.json", async () => mergeOpenApi(catalogue.services(), openApi, { prefix: "" }));
  app.get(
    "/api/info",
    async (): Promise<Info> => ({
      registry: backends.registry.kind,
      calls: callsAllowed ? (settings.token ? "token" : "open") : "off",
      jwt: options.checksTokens === true,
      openApi: options.openApiPath ?? (openApi ? "openapi.json" : null),
    }),
  );

  app.get("/api/services", async () => watch.services());

  app.get<{ Params: { name: string } }>("/api/services/:name", async (request): Promise<ServiceDetails> => {
    const backend = await catalogue.service(request.params.name);
    // Events are not in reflection: the registry lists them, as endpoints with a topic. A name
    // outside the gateway's --namespace is not read: the page shows none of those.
    const reached = backends.reaches(request.params.name);
    const versions = reached ? await backends.registry.getService(request.params.name).catch(() => []) : [];
    if (!backend) return withoutMethods(request.params.name, versions, catalogue.unloaded().get(request.params.name));
    return {
      name: backend.name,
      methods: backend.methods.map(
        (method): MethodView => ({
          rpc: method.rpc,
          kind: method.definition.kind,
          request: method.desc.input.typeName,
          response: method.desc.output.typeName,
          requestShape: requestShape(method.desc.input),
          responseShape: messageShape(method.desc.output),
          routes: httpRulesOf(method).map((rule) => `${rule.method} ${rule.path}`),
        }),
      ),
      events: eventViews(versions),
    };
  });

  app.get(
    "/api/routes",
    async (): Promise<RouteView[]> =>
      catalogue.services().flatMap((backend) =>
        backend.methods.flatMap((method) =>
          httpRulesOf(method).map((rule) => ({
            method: rule.method,
            path: rule.path,
            rpc: method.rpc,
            service: backend.name,
          })),
        ),
      ),
  );

  const streams = new Set<FastifyReply>();
  app.addHook("preClose", async () => {
    watch.stop();
    for (const reply of streams) reply.raw.end();
  });
  app.get("/api/events", (request, reply) => {
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    response.write(": tsmicro dashboard\n\n");
    streams.add(reply);
    const send = (event: FleetEvent) => response.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    const unsubscribe = watch.subscribe(send);
    // A comment now and then keeps proxies from closing a quiet stream.
    const keepAlive = setInterval(() => response.write(": keep-alive\n\n"), 15_000);
    keepAlive.unref();
    request.raw.socket.once("close", () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(reply);
    });
  });

  app.post<{ Body: unknown }>("/api/call", async (request, reply): Promise<CallOutcome> => {
    admit(refusal, settings.token, request);
    if (openByListening) admitHost(request);
    const { service, method: spec, request: input } = callBody(request.body);
    const backend = await catalogue.service(service);
    if (!backend) throw new TsmicroError(Code.NOT_FOUND, `no service ${service} is registered`);
    const method = findMethod(backend, spec);
    if (!method) throw new TsmicroError(Code.NOT_FOUND, `${service} has no method ${spec}`);
    if (method.definition.kind !== "unary")
      throw new TsmicroError(Code.INVALID_ARGUMENT, `${method.rpc} streams; the page calls unary methods only`);
    const message = decodeRequest(method, input);
    const metadata = await options.admit?.(method, input, request, reply);
    const traceId = traceIdOf(reply);
    const started = performance.now();
    try {
      const response = await backends.caller(service).unary(method.definition, message, metadata && { metadata });
      const latencyMs = performance.now() - started;
      return {
        status: "OK",
        code: 0,
        latencyMs,
        traceId,
        response: toJson(method.desc.output, response, { registry: method.registry }),
      };
    } catch (error) {
      const latencyMs = performance.now() - started;
      if (!isTsmicroError(error)) throw error;
      const reason = errorReasonOf(error);
      return {
        status: codeName(error.code),
        code: error.code,
        latencyMs,
        traceId,
        message: error.message,
        ...(reason ? { reason: { reason: reason.reason, domain: reason.domain, metadata: reason.metadata } } : {}),
      };
    }
  });
}

/** The page's three files; a package built without them is named as the problem, with the fix. */
async function readAssets(): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(assets)) {
    const url = new URL(name, webDirectory);
    try {
      files.set(name, await readFile(url));
    } catch {
      throw new Error(
        `the dashboard's page is missing (${url.pathname}): @tsmicro/gateway was built without it; run npm run build in tsmicro`,
      );
    }
  }
  return files;
}

/**
 * PERMISSION_DENIED for a request a page of another origin sent (its `Origin` names another host
 * than the request's `Host`, or the `X-Forwarded-Host` of a proxy in front), whatever CORS the
 * gateway allows its own routes: the dashboard serves its own page only. Undefined otherwise.
 */
function crossOrigin(request: FastifyRequest): TsmicroError | undefined {
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  const forwarded = request.headers["x-forwarded-host"];
  const hosts = [request.headers.host, ...(Array.isArray(forwarded) ? forwarded : [forwarded])];
  if (hosts.includes(hostOf(origin))) return undefined;
  return new TsmicroError(
    Code.PERMISSION_DENIED,
    `the dashboard answers its own page only: a request from the page of ${origin} is refused`,
  );
}

/** The URL's host with its port, or without (`hostname`); undefined for `null` and what is no URL. */
function hostOf(url: string, part: "host" | "hostname" = "host"): string | undefined {
  try {
    return new URL(url)[part];
  } catch {
    return undefined;
  }
}

/**
 * Calls are open without a token because the dashboard listens on loopback, where only this
 * machine reaches it; a request for another host reached it by a name that resolves to loopback
 * (DNS rebinding: a page of another site calling it through the browser), so it is refused.
 */
function admitHost(request: FastifyRequest): void {
  const host = request.headers.host ?? "";
  const name = hostOf(`http://${host}`, "hostname") ?? host;
  if (isLoopbackHost(name)) return;
  throw new TsmicroError(
    Code.PERMISSION_DENIED,
    `calls from the dashboard are open to its page at a loopback address only, and this one came for ${JSON.stringify(host)}: ` +
      "open the page at http://localhost:PORT/ (or 127.0.0.1), or start it with --dashboard_calls on or --dashboard_token TOKEN",
  );
}

/**
 * The header the page sends the dashboard's token in: `Authorization` carries the JWT the
 * gateway's route rules check, so the two do not compete for one header.
 */
export const dashboardTokenHeader = "x-dashboard-token";

/**
 * Refuses a call when calls are off (`refusal` says why), or when the token is required and not
 * sent. The token comes in X-Dashboard-Token; one sent as `Authorization: Bearer`, as pages did
 * before, is taken too, and that header is then no JWT for the route rules.
 */
function admit(refusal: string | undefined, token: string | undefined, request: FastifyRequest): void {
  if (refusal !== undefined) throw new TsmicroError(Code.PERMISSION_DENIED, refusal);
  if (token === undefined) return;
  const own = request.headers[dashboardTokenHeader];
  if (typeof own === "string") {
    if (sameToken(own, token)) return;
  } else if (sameToken((request.headers.authorization ?? "").replace(/^Bearer\s+/i, ""), token)) {
    delete request.headers.authorization;
    return;
  }
  throw new TsmicroError(
    Code.UNAUTHENTICATED,
    "calls need the dashboard's token (--dashboard_token), sent in the X-Dashboard-Token header",
  );
}

function sameToken(sent: string, token: string): boolean {
  const given = Buffer.from(sent);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The body of `POST api/call`: `{service, method, request}`, the request as JSON or text. */
function callBody(body: unknown): { service: string; method: string; request: JsonValue } {
  const fields = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const { service, method } = fields;
  if (typeof service !== "string" || service === "" || typeof method !== "string" || method === "")
    throw new TsmicroError(Code.INVALID_ARGUMENT, "POST api/call takes {service, method, request}: name both");
  let request = fields.request ?? {};
  if (typeof request === "string") {
    try {
      request = JSON.parse(request === "" ? "{}" : request);
    } catch (error) {
      throw new TsmicroError(
        Code.INVALID_ARGUMENT,
        `the request is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return { service, method, request: request as JsonValue };
}

/**
 * The form's JSON as the method's request, or INVALID_ARGUMENT worded as `tsmicro call` words it:
 * not an object says so (protobuf-es would say "Array(1)"), and a field that does not fit is named
 * by its place in the request (protobuf-es names the type that refused it).
 */
function decodeRequest(method: GatewayMethod, input: JsonValue): Message {
  const { input: desc } = method.desc;
  // Well-known types have JSON forms of their own (a string for a StringValue); other messages are objects.
  if (!desc.typeName.startsWith("google.protobuf.") && !isPlainObject(input))
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the request must be a JSON object of ${desc.typeName}'s fields, not ${Array.isArray(input) ? "an array" : JSON.stringify(input)}`,
    );
  try {
    return fromJson(desc, input, { registry: method.registry });
  } catch (error) {
    const fault = jsonFault(desc, input, method.registry);
    const reason = fault ? `${faultPlace(fault)}: ${fault.reason}` : messageOf(error);
    throw new TsmicroError(Code.INVALID_ARGUMENT, `the request does not fit ${desc.typeName}: ${reason}`);
  }
}

/** The trace id of the request's span, from the `traceresponse` header tracing set; null when untraced. */
function traceIdOf(reply: FastifyReply): string | null {
  const header = reply.getHeader("traceresponse");
  return typeof header === "string" && header.length >= 35 ? header.slice(3, 35) : null;
}

/**
 * What the page shows for a service the catalogue has no methods of: a web service (its nodes
 * serve HTTP) or one whose nodes did not answer reflection are registered, and say so, rather
 * than the "no service … is registered" of a name the registry does not know.
 */
function withoutMethods(name: string, versions: readonly Service[], unloaded: string | undefined): ServiceDetails {
  // The http broker's subscriptions (tsmicro.broker) are listed under their services, not as one.
  const nodes = versions.filter((version) => !onlyBrokerSubscriptions(version)).flatMap((version) => version.nodes);
  if (nodes.length === 0) throw new TsmicroError(Code.NOT_FOUND, `no service ${name} is registered`);
  const web = nodes.every((node) => node.metadata.protocol === "http");
  const reason = web
    ? "No methods to call here: a web service serves HTTP, not gRPC; tsmicro api --handler web routes to it."
    : `Its methods could not be read: ${(unloaded ?? "no node answered server reflection").replace(/\.$/, "")}.`;
  return { name, methods: [], events: eventViews(versions), noMethods: { reason, failed: !web } };
}
