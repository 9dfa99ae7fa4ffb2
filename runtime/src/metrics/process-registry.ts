import type { Registry } from "prom-client";
import { lazyModule } from "../platform/lazy-module.js";

/** prom-client, loaded by the first metric made: importing the runtime, or a service with `--metrics_address=off`, does not load it. */
export const promClient = lazyModule<typeof import("prom-client")>("prom-client");

/** A prom-client registry: what `/metrics` serves, and where a service author adds their own metrics. */
export type MetricsRegistry = Registry;

// On globalThis under a registered symbol, so two copies of the runtime in one process (a
// service and a gateway built against different installs) still serve one `/metrics`.
const processKey = Symbol.for("tsmicro.metrics.processRegistry");

/**
 * The process's metrics registry: one per process, as `/metrics` is per
 * process, with Node.js and process default metrics collected once. Every
 * service, client and gateway in the process records into it; their labels
 * (`grpc_service`, `service`, `route`) keep them apart. Register your own
 * metric with `registers: [metricsRegistry()]`.
 */
export function metricsRegistry(): MetricsRegistry {
  const holder = globalThis as { [processKey]?: MetricsRegistry };
  let registry = holder[processKey];
  if (registry === undefined) {
    registry = createMetricsRegistry();
    holder[processKey] = registry;
  }
  return registry;
}

/** A new registry with the Node.js and process default metrics: for tests and for processes that keep several apart. */
export function createMetricsRegistry(): MetricsRegistry {
  const { collectDefaultMetrics, Registry } = promClient();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
