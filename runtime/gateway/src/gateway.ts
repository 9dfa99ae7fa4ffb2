import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import { maxHeaderSize, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  type BreakerOptions,
  type Broker,
  Code,
  type EventsDefinition,
  isTsmicroError,
  type Logger,
  type Registry,
  type ServiceDefinition,
  type ServiceSettings,
  SetupError,
  TsmicroError,
} from "@tsmicro/runtime";
import {
  checkFlagSpelling,
  ensureCanListen,
  listenMetrics,
  messageOf,
  resolveServiceSettings,
  runtimeFlagNames,
  runUntilSignal,
  serviceLogger,
} from "@tsmicro/runtime/internal";
import type { BackendCatalogue } from "./backend-catalogue.js";
import { dashboardFlagNames } from "./dashboard/dashboard-settings.js";
import { listenAt, urlHost } from "./listen-at.js";
import { gatewayFlagNames, resolveGatewaySettings, type GatewaySettings } from "./gateway-settings.js";
import { errorResponse } from "./http-mapping.js";
import { closeWithinGrace, openSockets } from "./graceful-close.js";
import { parseJsonBody } from "./json-body.js";
import { BodyEncodingError, decodeBody } from "./request-encoding.js";
import type { OpenApiBuilder } from "./merge-openapi.js";
import type { JwtOptions } from "./jwt-auth.js";
import { type GatewayDispatch, malformedEscape, noRoute } from "./gateway-dispatch.js";
import type { RouteRule } from "./route-rules.js";
import { gatewayParts } from "./gateway-parts.js";
import { GatewayFront } from "./gateway-front.js";

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
   * Answers 503 on `/healthz` and keeps serving for `--shutdown_delay` (none by default), then stops
   * listening, gives requests in flight `--shutdown_grace` to finish, cancels the rest (and their
   * backend calls) and closes backend connections.
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
  const parts = gatewayParts({ options, args, env, settings, serviceSettings, logger });
  const { backends, httpTracing, proxy, events, connections, ownMetrics, routing, health } = parts;
  const { registry, tracing, catalogue } = backends;
  let metricsAddress: string | undefined;
  const front = new GatewayFront(parts);
  const app = Fastify({
    bodyLimit: settings.bodyLimit,
    ...front.trustProxyOption(),
    // The router refuses a malformed %-escape before any route runs; answer it like every other error.
    frameworkErrors: (error, request, reply) => {
      // Worded as dispatch words the same mistake ("'/v1/x/%zz' is not a valid url component" otherwise).
      const badPath = /^'(.*)' is not a valid url component$/.exec(error.message)?.[1];
      const message = badPath === undefined ? error.message : malformedEscape(badPath);
      const { body } = errorResponse(new TsmicroError(Code.INVALID_ARGUMENT, message));
      // Refused before the hooks that trace every request and set CORS' headers ran: done here, as they would have.
      httpTracing.traceRefused(request as FastifyRequest, reply as FastifyReply);
      front.cors?.mark(request as FastifyRequest, reply as FastifyReply);
      void (reply as FastifyReply)
        .code(error.statusCode ?? 400)
        .type("application/json")
        .send(JSON.stringify(httpTracing.withTraceId(request as FastifyRequest, body)));
    },
    clientErrorHandler: answerClientError,
    // Answered in the gateway's error shape by GatewayHealth.refuseOnceClosed.
    return503OnClosing: false,
    ...(settings.tlsCertFile || settings.tlsKeyFile ? { https: tlsOptions(settings) } : {}),
  });
  let address: string | undefined;
  let url: string | undefined;
  let stopping: Promise<void> | undefined;

  readBodiesAsJson(app, routing, settings.bodyLimit);
  answerFailures(app, routing, logger, settings.bodyLimit);
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = errorResponse(
      noRoute(request.method, request.url, catalogue.unloaded(), settings.namespace),
    );
    void reply
      .code(status)
      .type("application/json")
      .send(JSON.stringify(httpTracing.withTraceId(request, body)));
  });

  const sockets = openSockets(app.server);

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
      await front.mount(app);
      await backends.registryUse.ready();
      // A broker that cannot be reached fails start, loudly, like the registry.
      if (events) await events.broker.start();
      if (proxy) {
        await proxy.start();
        front.warnRpcRulesUnderProxy();
      } else if (!events) {
        await catalogue.start();
        routing.warnRulesMatchingNone();
      }
      front.warnIfTrustingEveryHop();
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
        // A gateway that never listened has no load balancer to wait for.
        await health.drain(address === undefined ? 0 : settings.shutdownDelayMs);
        health.close();
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

/**
 * Bodies are read as text and parsed here, so any content type is accepted as JSON (as
 * grpc-gateway does) and a parse error names the problem; a body with a `Content-Encoding` is
 * decoded first (see decodeBody). The same parser is named for JSON too: fastify finds a
 * catch-all anew (parsing the content type) on every request, a named parser in its cache.
 */
function readBodiesAsJson(app: FastifyInstance, routing: GatewayDispatch, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  type Done = (error: TsmicroError | null, body?: unknown) => void;
  const refuse = (request: FastifyRequest, error: TsmicroError, done: Done) => {
    // The request never reaches dispatch, which names its route: named here, it is counted under its route.
    const template = routing.templateOf(request.method, request.raw.url ?? "/");
    if (template !== undefined) routing.nameRoute(request, template);
    done(error, undefined);
  };
  const parseText = (request: FastifyRequest, bytes: Buffer, done: Done) => {
    // JSON is UTF-8: bytes that are not would be read as U+FFFD and stored so, as grpc-gateway refuses them.
    if (!isUtf8(bytes))
      return refuse(
        request,
        new TsmicroError(
          Code.INVALID_ARGUMENT,
          `${bodyName(request.headers["content-type"])} is not valid UTF-8, which JSON text must be`,
        ),
        done,
      );
    const text = bytes.toString("utf8");
    let parsed: unknown;
    try {
      parsed = parseJsonBody(text);
    } catch (error) {
      return refuse(request, notJson(error as TsmicroError, text, request.headers["content-type"]), done);
    }
    done(null, parsed);
  };
  const parseBody = (request: FastifyRequest, body: string | Buffer, done: Done) => {
    const encoding = request.headers["content-encoding"];
    if (encoding === undefined) return parseText(request, body as Buffer, done);
    decodeBody(body as Buffer, encoding, bodyLimit).then(
      (decoded) => parseText(request, decoded, done),
      (error: TsmicroError) => refuse(request, error, done),
    );
  };
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, parseBody);
  app.addContentTypeParser("*", { parseAs: "buffer" }, parseBody);
}

/**
 * Every failed request answered as JSON with its gRPC code and HTTP status, fastify's own refusals
 * (a body over `bodyLimit`, a bad Content-Type) worded as the gateway's; a failure that is no
 * TsmicroError is logged.
 */
function answerFailures(app: FastifyInstance, routing: GatewayDispatch, logger: Logger, bodyLimit: number): void {
  app.setErrorHandler((error, request, reply) => {
    const httpStatus = error instanceof BodyEncodingError ? error.status : fastifyStatus(error);
    const failure = asTsmicroError(error, bodyLimit, request.headers["content-type"]);
    if (!isTsmicroError(failure))
      logger.error({ err: error, method: request.method, url: request.url }, "gateway error");
    const { status, headers, body } = routing.failureAnswer(request, failure);
    // A more precise header set on the way (the JWT check's challenge) stays.
    for (const [name, value] of Object.entries(headers)) if (!reply.hasHeader(name)) void reply.header(name, value);
    void reply
      .code(httpStatus ?? status)
      .type("application/json")
      .send(JSON.stringify(body));
  });
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
      ? // Node's limit holds for the request line and the headers together: a long query string meets it too.
        [
          431,
          Code.INVALID_ARGUMENT,
          `the request's URL and headers are too large together (over ${maxHeaderSize / 1024} KiB); send less in the query or the headers`,
        ]
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

/** The gateway's own logger from the `--log_*` flags; one it cannot make (pretty without pino-pretty) is a setup error now. */
export function ownLogger(name: string, settings: ServiceSettings): Logger {
  const { logger, error } = serviceLogger({ service: name }, settings);
  if (error) throw error;
  return logger;
}
