import type { FastifyInstance } from "fastify";
import {
  type BreakerOptions,
  type Broker,
  Code,
  type EventsDefinition,
  type Logger,
  type Registry,
  type ServiceDefinition,
  type ServiceSettings,
  TsmicroError,
} from "@tsmicro/runtime";
import {
  checkFlagSpelling,
  ensureCanListen,
  listenMetrics,
  resolveServiceSettings,
  runtimeFlagNames,
  runUntilSignal,
  serviceLogger,
} from "@tsmicro/runtime/internal";
import type { BackendCatalogue } from "./backend-catalogue.js";
import { dashboardFlagNames } from "./dashboard/dashboard-settings.js";
import { listenAt, urlHost } from "./listen-at.js";
import { gatewayFlagNames, resolveGatewaySettings, type GatewaySettings } from "./gateway-settings.js";
import { closeWithinGrace, openSockets } from "./graceful-close.js";
import type { OpenApiBuilder } from "./merge-openapi.js";
import type { JwtOptions } from "./jwt-auth.js";
import type { RouteRule } from "./route-rules.js";
import { gatewayParts } from "./gateway-parts.js";
import { GatewayFront } from "./gateway-front.js";
import { createGatewayApp } from "./gateway-app.js";

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
  const { backends, proxy, events, connections, ownMetrics, routing, health } = parts;
  const { registry, tracing, catalogue } = backends;
  let metricsAddress: string | undefined;
  const front = new GatewayFront(parts);
  const app = createGatewayApp(parts, front);
  let address: string | undefined;
  let url: string | undefined;
  let stopping: Promise<void> | undefined;

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

/** The gateway's own logger from the `--log_*` flags; one it cannot make (pretty without pino-pretty) is a setup error now. */
export function ownLogger(name: string, settings: ServiceSettings): Logger {
  const { logger, error } = serviceLogger({ service: name }, settings);
  if (error) throw error;
  return logger;
}
