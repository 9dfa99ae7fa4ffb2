import { SetupError } from "../errors/setup-error.js";
import type { Logger } from "../logging/logger.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";
import type { Registry } from "../registry/registry.js";
import type { PauseLog } from "../service/lifecycle.js";
import type { Broker } from "./broker.js";
import { type BrokerSettings, checkBrokerSettings } from "./broker-settings.js";
import { createHttpBroker } from "./http-broker.js";
import { createMemoryBroker } from "./memory-broker.js";
import { createNatsBroker, type JetStreamOptions } from "./nats-broker.js";

/** What a broker needs besides its settings. */
export interface CreateBrokerOptions {
  /** Where the http broker registers and finds subscriptions; its owner starts and stops it. Unused by the others. */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** JetStream settings for `nats`; giving them turns JetStream on as `--broker_jetstream on` does. */
  readonly jetstream?: JetStreamOptions;
  /** The NATS connection's name, such as the service's. */
  readonly name?: string;
  /** Core `nats`: bytes of publishes held while disconnected and sent on reconnect. Default 8 MiB. */
  readonly reconnectBufferBytes?: number;
  /**
   * The service's server (`--server_address`, `--server_advertise`): without `--broker_address`,
   * the http broker's receiver binds on the server's host (a free port) and is advertised as the
   * node is, so a service other machines or containers reach gets their events too.
   */
  readonly server?: ServiceServer;
  /**
   * Where the broker records its event metrics (`tsmicro_events_published_total`, …): a service
   * passes its registry unless `--metrics_address=off`. None when unset.
   */
  readonly metrics?: MetricsRegistry;
  /**
   * How long the http broker's subscriptions stay registered unless refreshed, and how often they are:
   * a service gives its `--register_ttl` and `--register_interval`, so a killed service's subscriptions
   * leave the registry when its node does. The registry's defaults (30 s, 15 s) when unset.
   */
  readonly registration?: { readonly ttlMs: number; readonly intervalMs: number };
}

/** Where a service serves (`--server_address`) and whom it tells to reach it there (`--server_advertise`). */
export interface ServiceServer {
  readonly address: string;
  readonly advertise?: string | undefined;
}

/**
 * The broker `--broker`, `--broker_address` and `--broker_jetstream` name.
 * Nothing connects or listens until `start()`; the NATS client is loaded
 * only then, and only for `nats`.
 */
export function createBroker(settings: BrokerSettings, options: CreateBrokerOptions = {}): Broker {
  return createServiceBroker(settings, options, undefined);
}

/**
 * createBroker for a service's own broker: the http broker's subscriptions tell a pause of the process
 * in `pauses`, the PauseLog of the service's node, so a pause that lapsed the node and them is told once.
 * Not public: the PauseLog is the lifecycle's.
 */
export function createServiceBroker(
  settings: BrokerSettings,
  options: CreateBrokerOptions,
  pauses: PauseLog | undefined,
): Broker {
  const { logger, metrics } = options;
  // Settings code built itself have not been through brokerSettingsFrom.
  checkBrokerSettings(settings);
  switch (settings.broker) {
    case "memory":
      return createMemoryBroker({ ...(logger ? { logger } : {}), ...(metrics ? { metrics } : {}) });
    case "http": {
      // A wiring mistake in code, not a user's flag: no SetupError.
      if (!options.registry)
        throw new TypeError(
          "createBroker: the http broker finds subscribers through a registry; pass one as createBroker(settings, { registry })",
        );
      // checkBrokerSettings refused a --broker_address the http broker cannot listen on.
      const [given] = settings.brokerAddress;
      const address = given ?? (options.server && beside(options.server.address));
      return createHttpBroker({
        registry: options.registry,
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
        ...(address ? { address } : {}),
        ...(options.server?.advertise ? { serverAdvertise: options.server.advertise } : {}),
        ...(options.registration
          ? { registerTtlMs: options.registration.ttlMs, registerIntervalMs: options.registration.intervalMs }
          : {}),
        ...(pauses ? { pauses } : {}),
      });
    }
    case "nats": {
      const jetstream = options.jetstream ?? (settings.brokerJetstream ? {} : undefined);
      return createNatsBroker({
        servers: settings.brokerAddress,
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
        ...(options.name ? { name: options.name } : {}),
        ...(options.reconnectBufferBytes === undefined ? {} : { reconnectBufferBytes: options.reconnectBufferBytes }),
        ...(jetstream ? { jetstream } : {}),
      });
    }
    default:
      throw new SetupError(
        "TSM_ERR_FLAG",
        "--broker",
        JSON.stringify(settings.broker),
        "use one of http, nats, memory",
      );
  }
}

/** A free port on the host of `address` (`0.0.0.0:9000` -> `0.0.0.0:0`, `[::1]:9000` -> `[::1]:0`). */
function beside(address: string): string {
  return `${address.slice(0, address.lastIndexOf(":"))}:0`;
}
