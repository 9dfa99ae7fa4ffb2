import type {
  BreakerOptions,
  Caller,
  ClientTransport,
  Logger,
  Registry,
  Service,
  ServiceDefinition,
  ServiceSettings,
} from "@tsmicro/runtime";
import {
  breakerSettingsFrom,
  metricsListenAddress,
  metricsRegistry,
  RegistryClients,
  RegistryUse,
  resolveTracingSettings,
  TracingUse,
} from "@tsmicro/runtime/internal";
import { type BackendCatalogue, createBackendCatalogue } from "./backend-catalogue.js";

/** Options of GatewayBackends. */
export interface GatewayBackendsOptions {
  /** The tracing service name (`api`, `web`), unless OTEL_SERVICE_NAME says otherwise. */
  readonly name: string;
  readonly serviceSettings: ServiceSettings;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** A registry the caller owns: started if needed, never stopped. */
  readonly registry?: Registry;
  readonly breaker?: BreakerOptions | false;
  /** Definitions whose embedded descriptors are used instead of reflection. */
  readonly definitions?: readonly ServiceDefinition[];
  readonly strictRoutes?: boolean;
  /** When set, only services registered under it (`NAMESPACE.name`) are reached; the rest are never loaded. */
  readonly namespace?: string;
}

/** Whether the registry name `name` is under `namespace` (`go.micro.api.user` under `go.micro.api`); any is without one. */
export function inNamespace(name: string, namespace: string | undefined): boolean {
  return !namespace || name.startsWith(`${namespace}.`);
}

/**
 * Whether a registered service is only the http broker's subscriptions (`tsmicro.broker`: each
 * subscription a node with metadata `broker`), which serve no gRPC; the subscribing services list
 * their events themselves.
 */
export function onlyBrokerSubscriptions(service: Service): boolean {
  return service.nodes.every((node) => node.metadata["broker"] !== undefined);
}

/**
 * What an HTTP front (the gateway, the dashboard) needs to reach the services behind it: the
 * registry, tracing, the clients a service has (selector, retries, deadlines, breakers) and the
 * catalogue of registered services with their descriptors. Stopped in reverse of use.
 */
export class GatewayBackends {
  readonly registryUse: RegistryUse;
  readonly registry: Registry;
  readonly tracing: TracingUse;
  readonly clients: RegistryClients;
  readonly transport: ClientTransport;
  readonly catalogue: BackendCatalogue;
  /** Whether RPC metrics are recorded (`--metrics_address` is not off). */
  readonly metricsOn: boolean;
  readonly #callers = new Map<string, Caller>();
  readonly #namespace: string | undefined;

  constructor(options: GatewayBackendsOptions) {
    const { serviceSettings, logger } = options;
    this.#namespace = options.namespace;
    this.registryUse = RegistryUse.of(options.registry, serviceSettings, logger);
    this.registry = this.registryUse.registry;
    this.tracing = new TracingUse(resolveTracingSettings(options.name, serviceSettings, options.env), {}, logger);
    this.metricsOn = metricsListenAddress(serviceSettings) !== undefined;
    this.clients = new RegistryClients({
      registry: this.registry,
      ready: () => this.registryUse.ready(),
      settings: serviceSettings,
      breaker: options.breaker,
      breakerFlags: breakerSettingsFrom(options.args, options.env),
      logger,
      middleware: [],
      ...(this.metricsOn ? { metrics: metricsRegistry() } : {}),
      tracing: this.tracing,
    });
    this.transport = this.clients.transport();
    this.catalogue = createBackendCatalogue({
      registry: this.registry,
      transport: this.transport,
      logger,
      definitions: options.definitions ?? [],
      strictRoutes: options.strictRoutes ?? false,
      ignore: (service) => !inNamespace(service.name, options.namespace) || onlyBrokerSubscriptions(service),
    });
  }

  /** Whether the registered service `name` is one this process reaches (`--namespace`). */
  reaches(name: string): boolean {
    return inNamespace(name, this.#namespace);
  }

  /** The client of a registered service, made once. */
  caller(service: string): Caller {
    let caller = this.#callers.get(service);
    if (!caller) {
      caller = this.clients.caller(service);
      this.#callers.set(service, caller);
    }
    return caller;
  }

  /** Stops the catalogue, the clients, tracing, and the registry when it is its own. */
  async stop(): Promise<void> {
    await this.catalogue.stop();
    await this.clients.stop();
    await this.tracing.stop();
    await this.registryUse.release();
  }
}
