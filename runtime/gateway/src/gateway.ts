import type { Socket } from "node:net";
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
import { type GatewayParts, gatewayParts } from "./gateway-parts.js";
import { GatewayFront } from "./gateway-front.js";
import { createGatewayApp } from "./gateway-app.js";
import { unreadFlags, warnUnreadFlags } from "./unread-flags.js";

/** Options of createGateway. Settings given here are overridden by environment and flags. */
export interface GatewayOptions {
  readonly settings?: Partial<GatewaySettings>;
  /** Registry and client settings, as a service reads them (`--registry`, `--client_retries`, …). */
  readonly serviceSettings?: Partial<ServiceSettings>;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /**
   * The command the arguments are all for (`tsmicro api`): a flag the gateway
   * does not know is then refused, naming it, and a service's flag it never
   * reads (`--rate_limit`) is warned about at start. Without, only near misses
   * are refused, and other flags are left for the program that embeds the gateway.
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
  return new HttpGateway(gatewayParts({ options, args, env, settings, serviceSettings, logger }));
}

/**
 * The gateway's lifecycle, over the parts gatewayParts made: start brings up tracing, the front
 * and its routes, the registry, then what the handler serves from, and listens last; stop drains
 * and closes the listener first, then stops the parts in reverse.
 */
class HttpGateway implements Gateway {
  readonly app: FastifyInstance;
  readonly settings: GatewaySettings;
  readonly serviceSettings: ServiceSettings;
  readonly logger: Logger;
  readonly catalogue: BackendCatalogue;
  readonly #parts: GatewayParts;
  readonly #front: GatewayFront;
  /** The sockets open, upgraded ones too: what stop cuts once the grace is over. */
  readonly #sockets: ReadonlySet<Socket>;
  #address: string | undefined;
  #url: string | undefined;
  #metricsAddress: string | undefined;
  #stopping: Promise<void> | undefined;

  constructor(parts: GatewayParts) {
    this.#parts = parts;
    this.settings = parts.settings;
    this.serviceSettings = parts.serviceSettings;
    this.logger = parts.logger;
    this.catalogue = parts.backends.catalogue;
    this.#front = new GatewayFront(parts);
    this.app = createGatewayApp(parts, this.#front);
    this.#sockets = openSockets(this.app.server);
  }

  get address(): string | undefined {
    return this.#address;
  }

  get url(): string | undefined {
    return this.#url;
  }

  get metricsAddress(): string | undefined {
    return this.#metricsAddress;
  }

  // start, stop and run are own properties, as on the object createGateway returned before it was
  // a class: `gateway.stop` may be handed on by itself (to a signal handler, say) and still work.
  readonly start = async (): Promise<void> => {
    const { settings, ownMetrics, backends } = this.#parts;
    // A taken --address fails before anything else starts (and logs the routes it would have served).
    await ensureCanListen(settings.address, "--address");
    if (ownMetrics) await ensureCanListen(ownMetrics.at, "--metrics_address");
    await backends.tracing.start();
    await this.#front.mount(this.app);
    await backends.registryUse.ready();
    await this.#startHandler();
    this.#front.warnIfTrustingEveryHop();
    this.#warnUnreadFlags();
    await this.#listen();
    this.logger.info(
      {
        address: this.#address,
        handler: settings.handler,
        registry: backends.registry.kind,
        ...(this.#metricsAddress ? { metrics: this.#metricsAddress } : {}),
      },
      "gateway started",
    );
  };

  readonly stop = (): Promise<void> => {
    this.#stopping ??= this.#shutDown();
    return this.#stopping;
  };

  readonly run = (): Promise<void> => runUntilSignal("api", this, this.logger);

  /**
   * What the handler serves from: the broker (`event`), the web services (`web|proxy`) or the
   * routed services' catalogue (`rpc`); route rules that match nothing there are warned about.
   */
  async #startHandler(): Promise<void> {
    const { events, proxy, backends, routing } = this.#parts;
    // A broker that cannot be reached fails start, loudly, like the registry.
    if (events) await events.broker.start();
    if (proxy) {
      await proxy.start();
      this.#front.warnRpcRulesUnderProxy();
    } else if (!events) {
      await backends.catalogue.start();
      routing.warnRulesMatchingNone();
    }
  }

  /**
   * A service's flag given to `tsmicro api` that it never reads (`--rate_limit`): warned about, not
   * refused, as one flag set is often handed to every process. Only when the arguments are all the
   * gateway's (`program`): an embedding program's own flags are its to read.
   */
  #warnUnreadFlags(): void {
    const { options, args, settings } = this.#parts;
    if (options.program === undefined) return;
    const unread = unreadFlags(args, { program: options.program, handler: settings.handler });
    warnUnreadFlags(this.logger, unread, options.program);
  }

  /** Listens on `--address`, then serves `/metrics` on `--metrics_address` when that names an address of its own. */
  async #listen(): Promise<void> {
    const { settings, ownMetrics } = this.#parts;
    const { host, port } = await listenAt(this.app, settings.address, "--address");
    this.#address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    this.#url = `${settings.tlsCertFile ? "https" : "http"}://${urlHost(host)}:${port}`;
    if (ownMetrics) this.#metricsAddress = await listenMetrics(ownMetrics.server, ownMetrics.at);
  }

  /** Stop, once: see Gateway.stop. What the caller handed in (registry, broker) is left running. */
  async #shutDown(): Promise<void> {
    const { settings, serviceSettings, health, ownMetrics, events, options, proxy, backends } = this.#parts;
    // A gateway that never listened has no load balancer to wait for.
    await health.drain(this.#address === undefined ? 0 : settings.shutdownDelayMs);
    health.close();
    await closeWithinGrace(this.app, this.#sockets, serviceSettings.shutdownGraceMs, () => this.#cancelInFlight());
    await ownMetrics?.server.stop();
    if (events && !options.broker) await events.broker.stop();
    await proxy?.stop();
    await backends.stop();
    this.logger.info({ address: this.#address }, "gateway stopped");
  }

  /**
   * The end of `--shutdown_grace` with requests still in flight: their backend calls are
   * cancelled, so a stream ends with an UNAVAILABLE error line or event and a unary call answers 503.
   */
  #cancelInFlight(): void {
    const graceMs = this.serviceSettings.shutdownGraceMs;
    this.logger.warn(
      { open: this.#sockets.size },
      "requests still in flight after the shutdown grace (--shutdown_grace); cancelling them",
    );
    this.#parts.connections.cancelAll(
      new TsmicroError(
        Code.UNAVAILABLE,
        `the gateway is shutting down and the call was still running after ${graceMs} ms (--shutdown_grace); send it again`,
      ),
    );
  }
}

/** The gateway's own logger from the `--log_*` flags; one it cannot make (pretty without pino-pretty) is a setup error now. */
export function ownLogger(name: string, settings: ServiceSettings): Logger {
  const { logger, error } = serviceLogger({ service: name }, settings);
  if (error) throw error;
  return logger;
}
