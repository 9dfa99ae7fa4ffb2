import { randomUUID } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  fastify,
  LogController,
} from "fastify";
import { type Logger, type Registry, type ServiceSettings, SetupError } from "@tsmicro/runtime";
import {
  advertised,
  asksForHelp,
  checkFlagSpelling,
  ensureCanListen,
  HelpRequested,
  listenMetrics,
  listenError,
  metricsListenAddress,
  metricsRegistry,
  nodeRecord,
  readOrDefer,
  Registration,
  RegistryUse,
  serviceLogger,
  resolveServiceSettings,
  runUntilSignal,
  resolveTracingSettings,
  runtimeFlagNames,
  serviceFlagUsage,
  serviceHelp,
  TracingUse,
} from "@tsmicro/runtime/internal";
import { GatewayMetrics, ownMetricsListener } from "./gateway-metrics.js";
import { HttpTracing } from "./gateway-tracing.js";

/** Options of createWebService. Settings given here are overridden by environment and flags, as for createService. */
export interface WebServiceOptions {
  /** The name the gateway finds the service by: `/{name}/...` is proxied here (under the gateway's namespace, if any). */
  readonly name: string;
  readonly version?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * A registry to use instead of the one the settings name. It is started
   * if needed but not stopped: whoever made it may share it with others.
   */
  readonly registry?: Registry;
  readonly settings?: Partial<ServiceSettings>;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Environment to read `TSMICRO_*`/`MICRO_*` from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
}

/** A plain HTTP service (go-micro's web service) that registers itself so it can sit behind the gateway's web or proxy handler. */
export interface WebService {
  readonly name: string;
  /** The fastify app: add routes (and a WebSocket server on `app.server`) before start. */
  readonly app: FastifyInstance;
  /** This instance's node id in the registry. */
  readonly id: string;
  readonly settings: ServiceSettings;
  readonly logger: Logger;
  /** The registered `host:port`, once started. */
  readonly address: string | undefined;
  /** Listens on `--server_address`, registers a node with `protocol: http` and starts heartbeats. */
  start(): Promise<void>;
  /** Deregisters, keeps serving briefly so gateways drop the node, then closes; connections still open after `--shutdown_grace` are cut. */
  stop(): Promise<void>;
  /**
   * Starts, then stops on SIGINT or SIGTERM; resolves once stopped. If start fails it prints one line and exits 1;
   * given `--help` (or `-h`), it prints the flags it reads and exits 0.
   */
  run(): Promise<void>;
}

/**
 * Creates a web service: a fastify app that registers in the tsmicro
 * registry with HTTP node metadata, heartbeats while it runs and
 * deregisters on stop. Settings (registry, `--server_address`, TTLs,
 * shutdown grace) resolve from options, environment and flags as for
 * createService.
 */
export function createWebService(options: WebServiceOptions): WebService {
  const args = options.args ?? process.argv.slice(2);
  const help = asksForHelp(args) ? new HelpRequested(serviceHelp(options.name, serviceFlagUsage)) : undefined;
  const { value: config, error: flagError } = readOrDefer(
    (args, env) => {
      checkFlagSpelling(args, runtimeFlagNames, undefined, { serves: true });
      const settings = resolveServiceSettings(options.settings ?? {}, args, env);
      return { settings, tracing: resolveTracingSettings(options.name, settings, env) };
    },
    args,
    options.env ?? process.env,
  );
  const { settings } = config;
  const id = `${options.name}-${randomUUID()}`;
  const { logger, error: loggerError } = options.logger
    ? { logger: options.logger, error: undefined }
    : serviceLogger({ service: options.name, version: options.version, node: id }, settings);
  const registry = RegistryUse.of(options.registry, settings, logger);
  const app = fastify(requestLogging(logger));
  // A SERVER span per request, on unless OTEL_SDK_DISABLED=true; the SDK loads at start.
  const tracing = new TracingUse(config.tracing, { serviceVersion: options.version, instanceId: id }, logger);
  const httpTracing = new HttpTracing(tracing);
  httpTracing.mount(app);
  app.setErrorHandler(unexpectedErrors(httpTracing));
  // /metrics on the service's own port, as the gateway's (HTTP requests by route and status, Node.js
  // defaults), on unless --metrics_address=off, or at --metrics_address=HOST:PORT when that is given;
  // advertised in the registry for prometheus-targets.
  const metrics = metricsListenAddress(settings) === undefined ? undefined : new GatewayMetrics(metricsRegistry());
  const ownMetrics = ownMetricsListener(settings, metrics !== undefined);
  metrics?.mount(app, ownMetrics === undefined);
  // Every connection, upgraded ones (WebSockets) included, so stop can cut what outlives the grace period.
  const connections = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });

  let registration: Registration | undefined;
  let address: string | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  async function close(): Promise<void> {
    const grace = setTimeout(() => {
      logger.warn({ open: connections.size }, `connections still open after the shutdown grace; closing them`);
      for (const socket of connections) socket.destroy();
    }, settings.shutdownGraceMs);
    grace.unref();
    try {
      await app.close();
    } catch (error) {
      // A server already closed (a crashed listener, or a test that cut it) has nothing left to close.
      if ((error as NodeJS.ErrnoException).code !== "ERR_SERVER_NOT_RUNNING") throw error;
    } finally {
      clearTimeout(grace);
    }
  }

  async function start(): Promise<void> {
    if (help ?? flagError ?? loggerError) throw help ?? flagError ?? loggerError;
    if (stopping) throw new Error(`${options.name} was stopped; create a new web service to start again`);
    await registry.ready();
    await tracing.start();
    await ensureCanListen(settings.serverAddress, "--server_address");
    const { host, port } = splitHostPort(settings.serverAddress);
    try {
      await app.listen({ host, port });
    } catch (error) {
      throw listenError(error, "--server_address", settings.serverAddress);
    }
    const bound = app.server.address() as AddressInfo;
    address =
      settings.serverAdvertise ??
      advertised(bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`);
    const metricsAddress = ownMetrics
      ? await listenMetrics(ownMetrics.server, ownMetrics.at, settings.serverAdvertise)
      : metrics && address;
    registration = new Registration(
      registry.registry,
      nodeRecord({
        name: options.name,
        version: options.version,
        metadata: options.metadata,
        endpoints: [],
        id,
        address,
        protocol: "http",
        registryKind: registry.registry.kind,
        metricsAddress,
      }),
      { ttlMs: settings.registerTtlMs, intervalMs: settings.registerIntervalMs, logger },
    );
    await registration.start();
    logger.info({ id, address, registry: registry.registry.kind }, `${options.name} started`);
  }

  // Reverse order of start: stop being found, drain, close, then let go of the registry.
  async function stop(): Promise<void> {
    await starting?.catch(() => undefined);
    await registration?.stop();
    await close();
    await ownMetrics?.server.stop();
    await tracing.stop();
    await registry.release();
    logger.info({ id }, `${options.name} stopped`);
  }

  const service: WebService = {
    name: options.name,
    app,
    id,
    settings,
    logger,
    get address() {
      return address;
    },
    start() {
      starting ??= start();
      return starting;
    },
    stop() {
      stopping ??= stop();
      return stopping;
    },
    run: () => runUntilSignal(options.name, service, logger),
  };
  return service;
}

/** `host:port` or `[v6]:port` -> its parts; a bad address is an error naming `--server_address`. */
function splitHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--server_address",
      JSON.stringify(value),
      "use host:port, such as 127.0.0.1:0",
    );
  }
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/**
 * A route's failure. One with an HTTP status (fastify's 4xx, an http-errors
 * error, `reply.code(503)` before a throw) is answered as fastify would.
 * One without (a bug, a library's error) is logged with its stack and answered
 * 500 `internal error` with the trace id, as a gRPC handler's failure is: its
 * message may hold a password or an internal address, and the client reads
 * nothing it can act on in it. A plugin may set its own handler for its routes.
 */
function unexpectedErrors(tracing: HttpTracing): Parameters<FastifyInstance["setErrorHandler"]>[0] {
  return (error, request, reply) => {
    const status = (error as { statusCode?: unknown }).statusCode;
    const fields = { err: error, method: request.method, url: request.url };
    if (typeof status === "number" && status >= 400 && status < 600) {
      if (status >= 500) request.log.error(fields, "route failed");
      return reply.send(error);
    }
    request.log.error(fields, "route failed; answered 500");
    const traceId = tracing.traceId(request);
    const body = { statusCode: 500, error: "Internal Server Error", message: "internal error" };
    return reply
      .code(500)
      .type("application/json")
      .send(JSON.stringify(traceId ? { ...body, traceId } : body));
  };
}

/** The methods fastify needs of a logger it is handed (pino's). */
const pinoMethods = ["info", "error", "debug", "fatal", "warn", "trace", "child"] as const;

/**
 * fastify logging through the service's logger, so `request.log` in a route
 * and the line of a route that fails (unexpectedErrors) carry the service,
 * node and trace ids as every other line; no line per request (tsmicro's
 * metrics and spans count requests). A logger handed in that is not pino-like leaves
 * fastify without one.
 */
function requestLogging(logger: Logger): FastifyServerOptions {
  const methods = logger as unknown as Record<string, unknown>;
  if (!pinoMethods.every((method) => typeof methods[method] === "function")) return {};
  return {
    loggerInstance: logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  };
}
