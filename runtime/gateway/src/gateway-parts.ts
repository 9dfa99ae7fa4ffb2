import {
  brokerSettingsFrom,
  type EventsDefinition,
  type Logger,
  type ServiceDefinition,
  type ServiceSettings,
} from "@tsmicro/runtime";
import { metricsRegistry, strategies } from "@tsmicro/runtime/internal";
import type { GatewayOptions } from "./gateway.js";
import { GatewayBackends } from "./gateway-backends.js";
import { GatewayHealth } from "./gateway-health.js";
import { GatewayMetrics, type OwnMetricsListener, ownMetricsListener } from "./gateway-metrics.js";
import type { GatewaySettings } from "./gateway-settings.js";
import { HttpTracing } from "./gateway-tracing.js";
import { ConnectionSignals } from "./connection-signals.js";
import { createEventBroker, type HttpEventPublisher } from "./event-handler.js";
import { EventTopics } from "./event-topics.js";
import { PublishedEvents } from "./published-events.js";
import { createRouteGuard } from "./route-guard.js";
import { GatewayDispatch } from "./gateway-dispatch.js";
import { createWebProxy, type WebProxy } from "./web-proxy.js";

/** What createGateway has read before it makes the parts: its options, and the settings from them, the environment and the flags. */
export interface GatewaySetup {
  readonly options: GatewayOptions;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly settings: GatewaySettings;
  readonly serviceSettings: ServiceSettings;
  readonly logger: Logger;
}

/** The gateway's parts, made (no I/O yet) from its settings; started at start, stopped at stop. */
export interface GatewayParts extends GatewaySetup {
  readonly backends: GatewayBackends;
  readonly httpTracing: HttpTracing;
  /** `/metrics` and the HTTP request metrics; undefined with `--metrics_address=off`. */
  readonly metrics: GatewayMetrics | undefined;
  /** `--handler web|proxy`: the HTTP services requests go to. */
  readonly proxy: WebProxy | undefined;
  /** `--handler event`: the broker requests publish to, and the topics. */
  readonly events: HttpEventPublisher | undefined;
  readonly connections: ConnectionSignals;
  /** `/metrics` on an address of its own (`--metrics_address=HOST:PORT`). */
  readonly ownMetrics: OwnMetricsListener | undefined;
  readonly routing: GatewayDispatch;
  readonly health: GatewayHealth;
}

/** Makes the gateway's parts for the handler its settings name: backends, tracing, metrics, then the proxy or the broker, and the routing. */
export function gatewayParts(setup: GatewaySetup): GatewayParts {
  const { options, args, env, settings, serviceSettings, logger } = setup;
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
  const { metricsOn } = backends;
  const httpTracing = new HttpTracing(backends.tracing);
  // On by default as in services, on the gateway's own port; --metrics_address=off turns it off, and
  // --metrics_address=HOST:PORT serves /metrics there instead, off the port the public reaches.
  const metrics = metricsOn
    ? new GatewayMetrics(metricsRegistry(), { proxied: settings.handler === "web" || settings.handler === "proxy" })
    : undefined;
  const proxy = webProxyOf(setup, backends);
  const events = eventPublisherOf(setup, backends);
  const connections = new ConnectionSignals();
  const ownMetrics = ownMetricsListener(serviceSettings, metricsOn);
  const routing = new GatewayDispatch({
    settings,
    backends,
    logger,
    httpTracing,
    metrics,
    connections,
    events,
    openApi: options.openApi,
    guard: createRouteGuard({ routes: options.routes ?? [], jwt: options.jwt }),
    metricsOnPort: metrics !== undefined && ownMetrics === undefined,
  });
  const health = new GatewayHealth(logger, (request, body) => httpTracing.withTraceId(request, body));
  return { ...setup, backends, httpTracing, metrics, proxy, events, connections, ownMetrics, routing, health };
}

/** --handler web|proxy: every request goes to an HTTP service named by the first path segment. */
function webProxyOf(setup: GatewaySetup, backends: GatewayBackends): WebProxy | undefined {
  const { settings, serviceSettings, logger } = setup;
  if (settings.handler !== "web" && settings.handler !== "proxy") return undefined;
  return createWebProxy({
    registry: backends.registry,
    namespace: settings.namespace,
    strategy: strategies[serviceSettings.selector],
    bodyLimit: settings.bodyLimit,
    logger,
  });
}

/** --handler event: POST /{topic} publishes; the broker is made (no I/O yet) only in this mode. */
function eventPublisherOf(setup: GatewaySetup, backends: GatewayBackends): HttpEventPublisher | undefined {
  const { options, args, env, settings, logger } = setup;
  if (settings.handler !== "event") return undefined;
  const { registry, tracing, transport, metricsOn } = backends;
  return {
    broker: options.broker ?? createEventBroker(brokerSettingsFrom(args, env), registry, logger),
    topics: new EventTopics({
      definitions: (options.definitions ?? []).filter(isEventsDefinition),
      registry,
      transport,
      logger,
    }),
    tracing,
    // The gateway counts what its own broker publishes; a broker handed in counts as it was made.
    published: metricsOn && options.broker === undefined ? new PublishedEvents(metricsRegistry(), logger) : undefined,
  };
}

function isServiceDefinition(definition: ServiceDefinition | EventsDefinition): definition is ServiceDefinition {
  return "methods" in definition;
}

function isEventsDefinition(definition: ServiceDefinition | EventsDefinition): definition is EventsDefinition {
  return "events" in definition;
}
