import { type Logger, type Registry, TsmicroError } from "@tsmicro/runtime";
import {
  checkFlagSpelling,
  ensureCanListen,
  listenMetrics,
  metricsRegistry,
  resolveServiceSettings,
  runtimeFlagNames,
  runUntilSignal,
} from "@tsmicro/runtime/internal";
import Fastify, { type FastifyInstance } from "fastify";
import { GatewayBackends } from "../gateway-backends.js";
import { GatewayMetrics, ownMetricsListener } from "../gateway-metrics.js";
import { HttpTracing } from "../gateway-tracing.js";
import { ownLogger } from "../gateway.js";
import { listenAt, urlHost } from "../listen-at.js";
import { errorResponse } from "../http-mapping.js";
import type { OpenApiBuilder } from "../merge-openapi.js";
import { type DashboardSettings, dashboardFlagNames, resolveDashboardSettings } from "./dashboard-settings.js";
import { unreadFlags, warnUnreadFlags } from "../unread-flags.js";
import { dashboardRoutes } from "./dashboard-routes.js";

/** Options of createDashboard. Settings given here are overridden by environment and flags. */
export interface DashboardOptions {
  readonly settings?: Partial<DashboardSettings>;
  /** Command-line arguments to read flags from (registry, client and dashboard flags); default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /**
   * The command the arguments are all for (`tsmicro web`): a flag the dashboard does not know is then
   * refused, and a service's flag it never reads (`--database_url`) is warned about at start.
   */
  readonly program?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A registry the caller owns: started if needed, never stopped. */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Serves the registered services' merged OpenAPI document at `/openapi.json`, as the gateway does. */
  readonly openApi?: OpenApiBuilder;
}

/** A running (or runnable) `tsmicro web`. */
export interface Dashboard {
  readonly app: FastifyInstance;
  readonly settings: DashboardSettings;
  /** `http://host:port/`, once started. */
  readonly url: string | undefined;
  /** Where `/metrics` is served when `--metrics_address` names an address of its own (bound, once started); else undefined: on the dashboard's port, or off. */
  readonly metricsAddress: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Starts, then stops on SIGINT or SIGTERM. */
  run(): Promise<void>;
}

/**
 * `tsmicro web`, the counterpart of `micro web`: a page of the registered services, their nodes
 * and health, their methods with request and response shapes, live charts from their metrics,
 * and a form that calls any unary method through the same client a service has. It listens on
 * loopback unless `--address` says otherwise; bound elsewhere, calls from the page need
 * `--dashboard_calls on` or a `--dashboard_token`.
 */
export function createDashboard(options: DashboardOptions = {}): Dashboard {
  const args = options.args ?? process.argv.slice(2);
  const env = options.env ?? process.env;
  checkFlagSpelling(args, [...runtimeFlagNames, ...dashboardFlagNames], options.program);
  const settings = resolveDashboardSettings(options.settings ?? {}, args, env);
  const serviceSettings = resolveServiceSettings({}, args, env);
  const logger = options.logger ?? ownLogger("web", serviceSettings);
  const backends = new GatewayBackends({ name: "web", serviceSettings, args, env, logger, registry: options.registry });
  const app = Fastify();
  const httpTracing = new HttpTracing(backends.tracing);
  // As the gateway's: /metrics (its client's calls and breakers, its requests, Node.js) on the dashboard's
  // own port; --metrics_address=HOST:PORT serves it there instead, and off records none.
  const metrics = backends.metricsOn ? new GatewayMetrics(metricsRegistry()) : undefined;
  const ownMetrics = ownMetricsListener(serviceSettings, backends.metricsOn);
  let metricsAddress: string | undefined;
  let url: string | undefined;
  let stopping: Promise<void> | undefined;

  app.setErrorHandler((error, request, reply) => {
    const known = error instanceof TsmicroError;
    const { status, body } = errorResponse(error);
    const clientStatus = (error as { statusCode?: number }).statusCode;
    if (!known && !(clientStatus && clientStatus < 500))
      logger.error({ err: error, url: request.url }, "dashboard error");
    void reply.code(known ? status : (clientStatus ?? 500)).send(known ? body : { message: (error as Error).message });
  });

  const dashboard: Dashboard = {
    app,
    settings,
    get url() {
      return url;
    },
    get metricsAddress() {
      return metricsAddress;
    },
    async start() {
      // A bad or taken --address fails before the registry is reached, as the gateway's does.
      await ensureCanListen(settings.address, "--address");
      if (ownMetrics) await ensureCanListen(ownMetrics.at, "--metrics_address");
      await backends.tracing.start();
      httpTracing.mount(app);
      metrics?.mount(app, ownMetrics === undefined);
      await app.register(dashboardRoutes, {
        backends,
        logger,
        settings,
        listenAddress: settings.address,
        ...(options.openApi ? { openApi: options.openApi } : {}),
      });
      await backends.registryUse.ready();
      await backends.catalogue.start();
      // A service's flag it never reads (`--database_url`), warned about as tsmicro api does.
      if (options.program !== undefined)
        warnUnreadFlags(logger, unreadFlags(args, { program: options.program }), options.program);
      const bound = await listenAt(app, settings.address, "--address");
      url = `http://${urlHost(bound.host)}:${bound.port}/`;
      if (ownMetrics) metricsAddress = await listenMetrics(ownMetrics.server, ownMetrics.at);
      logger.info(
        { url, registry: backends.registry.kind, ...(metricsAddress ? { metrics: metricsAddress } : {}) },
        "dashboard started",
      );
    },
    stop() {
      stopping ??= (async () => {
        await app.close();
        await ownMetrics?.server.stop();
        await backends.stop();
        logger.info({ url }, "dashboard stopped");
      })();
      return stopping;
    },
    run: () => runUntilSignal("web", dashboard, logger),
  };
  return dashboard;
}
