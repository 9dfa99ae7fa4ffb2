import type { FastifyInstance, FastifyServerOptions } from "fastify";
import { SetupError } from "@tsmicro/runtime";
import { dashboardRoutes } from "./dashboard/dashboard-routes.js";
import { resolveDashboardSettings } from "./dashboard/dashboard-settings.js";
import { type GatewayConfig, loadGatewayConfig } from "./gateway-config.js";
import { GatewayCors } from "./gateway-cors.js";
import type { GatewayDispatch } from "./gateway-dispatch.js";
import type { GatewayParts } from "./gateway-parts.js";
import { acceptMethods, routableMethods, routeMethods } from "./http-methods.js";
import { claimsMetadata } from "./jwt-auth.js";
import { createRouteGuard, type GuardedReply, type GuardedRequest } from "./route-guard.js";
import { type ProxyTrust, proxyTrust, type TrustProxy } from "./trusted-proxies.js";
import { type ClaimsHeaders, webProxyRoutes } from "./web-proxy.js";

/**
 * What stands in front of the gateway's routes, set up at start once `--config` is read: the
 * proxies believed about the client, the route rules and JWT checks, CORS, `/metrics`, `/healthz`
 * and the dashboard; then the one route behind them, dispatch's catch-all or the web proxy's.
 */
export class GatewayFront {
  /** CORS, when `--cors_origins` (or `--config`) names origins; made at start. */
  #cors: GatewayCors | undefined;
  /** The proxies believed about the client: `--trust_proxy`'s, or the `--config` file's, read at start. */
  #trustSetting: TrustProxy;
  #trust: ProxyTrust | undefined;
  readonly #parts: GatewayParts;

  constructor(parts: GatewayParts) {
    this.#parts = parts;
    this.#trustSetting = parts.settings.trustProxy;
    this.#trust = proxyTrust(this.#trustSetting);
  }

  /** CORS, once mounted; undefined before start and when no origin is named. */
  get cors(): GatewayCors | undefined {
    return this.#cors;
  }

  /**
   * fastify's `trustProxy`, for request.ip: the client X-Forwarded-For names where the hop is a
   * trusted proxy, else the socket's peer. Fastify takes it when the app is made; a config file,
   * read at start, may name the proxies later.
   */
  trustProxyOption(): Pick<FastifyServerOptions, "trustProxy"> {
    if (!this.#trust && !this.#parts.settings.config) return {};
    return { trustProxy: (address: string, hop: number) => this.#trust?.(address, hop) ?? false };
  }

  /** Reads `--config`, then mounts CORS and the routes: at start, so the config file is read asynchronously. */
  async mount(app: FastifyInstance): Promise<void> {
    const { settings, httpTracing, routing, health, metrics, ownMetrics, proxy, events } = this.#parts;
    health.refuseOnceClosed(app);
    httpTracing.mount(app, { forwardTrace: proxy !== undefined });
    const config = settings.config ? await loadGatewayConfig(settings.config) : undefined;
    this.#applyConfig(config);
    const origins = [...settings.corsOrigins, ...(config?.corsOrigins ?? [])];
    // Routes come and go with the services behind: every method a route may name is taken.
    const methods = acceptMethods(app, routableMethods);
    if (origins.length > 0) {
      this.#cors = new GatewayCors(origins, this.#corsMethods(methods));
      this.#cors.mount(app);
    }
    metrics?.mount(app, ownMetrics === undefined);
    // In every mode: a web service behind the proxy is reached by /NAME/…, and --handler event publishes only by POST.
    health.mount(app, proxy || events ? undefined : routing.serviceHealthz);
    if (settings.dashboard) await this.#mountDashboard(app);
    await this.#mountRoute(app, methods);
  }

  /**
   * Rules naming RPCs match nothing a web service serves (only `*`, any RPC, matches every request):
   * one warning each, as what they were meant to guard is open.
   */
  warnRpcRulesUnderProxy(): void {
    const { settings, routing, logger } = this.#parts;
    for (const pattern of routing.guard.rpcPatternsMatchingNone([""]))
      logger.warn(
        { rule: pattern, handler: settings.handler },
        `route rule "${pattern}" names RPCs, which --handler ${settings.handler} does not serve: it matches nothing; guard the web services with path rules, such as "* /site/**"`,
      );
  }

  /** Believing every X-Forwarded-For lets a client pick its own rate-limit budget: said at start. */
  warnIfTrustingEveryHop(): void {
    if (this.#trustSetting === true)
      this.#parts.logger.warn(
        { trustProxy: true },
        '--trust_proxy on (or trustProxy: true in --config) believes every X-Forwarded-For: a client that reaches the gateway directly names any address it likes, and so picks its own per: "client" rate-limit budget; name the proxies instead (--trust_proxy=10.0.0.0/8)',
      );
  }

  /** What `--config` adds: the proxies trusted (refused when `--trust_proxy` names them too), route rules and the JWT check. */
  #applyConfig(config: GatewayConfig | undefined): void {
    const { settings, options, routing } = this.#parts;
    if (config?.trustProxy !== undefined) {
      if (settings.trustProxy !== false)
        throw new SetupError(
          "TSM_ERR_CONFIG_SETTING",
          settings.config!,
          "trustProxy is set here and by --trust_proxy (or TSMICRO_TRUST_PROXY) too: set it in one place",
        );
      this.#trustSetting = config.trustProxy;
      this.#trust = proxyTrust(this.#trustSetting);
    }
    routing.guard = createRouteGuard({
      routes: [...(options.routes ?? []), ...(config?.routes ?? [])],
      jwt: config?.jwt ?? options.jwt,
    });
  }

  /** The one route behind the front: the web proxy's under `--handler web|proxy`, else dispatch's catch-all. */
  async #mountRoute(app: FastifyInstance, methods: readonly string[]): Promise<void> {
    const { httpTracing, routing, proxy } = this.#parts;
    if (proxy)
      await app.register(webProxyRoutes, {
        proxy,
        details: (request, body) => httpTracing.withTraceId(request, body),
        nameRoute: routing.nameRoute,
        // Path rules hold in front of the web services as in front of RPCs: tokens, limits, claims.
        ...(routing.guard.open ? {} : { admit: proxiedAdmission(routing), trust: this.#trust }),
      });
    else
      app.route({
        // A plain OPTIONS too, as any method (GatewayCors answers preflights before routing).
        method: [...methods, "OPTIONS"],
        url: "/*",
        // The span is active already (HttpTracing's preHandler hook).
        handler: routing.dispatch,
      });
  }

  /**
   * What a preflight allows: the methods the routes take, asked anew as services come and go; a
   * method no route takes is refused by the browser, one the path does not take gets the 405.
   * The web services behind `--handler web|proxy` may take any method the gateway accepts, but
   * TRACE, which browsers never send.
   */
  #corsMethods(accepted: readonly string[]): () => readonly string[] {
    const { proxy, backends } = this.#parts;
    const { catalogue } = backends;
    if (!proxy) return () => routeMethods(catalogue.router.methods);
    const allowed = accepted.filter((method) => method !== "TRACE");
    return () => allowed;
  }

  /** The dashboard's page and API under `<prefix>/dashboard/`, calls allowed as `tsmicro web` allows them. */
  async #mountDashboard(app: FastifyInstance): Promise<void> {
    const { settings, args, env, options, backends, logger, routing } = this.#parts;
    await app.register(dashboardRoutes, {
      prefix: `${settings.prefix}/dashboard`,
      backends,
      logger,
      settings: resolveDashboardSettings({}, args, env, { withAddress: false }),
      listenAddress: settings.address,
      ...(options.openApi ? { openApiPath: `${settings.prefix}/openapi.json` } : {}),
      // The page's calls meet the route rules, as /rpc's do.
      admit: routing.admitDashboardCall,
      checksTokens: !routing.guard.open,
    });
  }
}

/** The route rules of a request the web proxy passes on: the claims' headers, or a refusal thrown. */
function proxiedAdmission(
  routing: GatewayDispatch,
): (request: GuardedRequest, reply: GuardedReply) => Promise<ClaimsHeaders | undefined> {
  return async (request, reply) => {
    const claims = await routing.guard.admit("", request, reply);
    return claims && claimsMetadata(claims);
  };
}
