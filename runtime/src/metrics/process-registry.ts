import type { Registry } from "prom-client";
import { loadModule } from "../platform/lazy-module.js";

type PromClient = typeof import("prom-client");

/** The prom-client classes the runtime makes metrics with. */
interface PromClientCore {
  readonly Registry: PromClient["Registry"];
  readonly Counter: PromClient["Counter"];
  readonly Gauge: PromClient["Gauge"];
}

let core: PromClientCore | undefined;

/**
 * prom-client's registry, counter and gauge, loaded by the first metric
 * made: importing the runtime, or a service with `--metrics_address=off`,
 * does not load them. They are read from prom-client's own modules rather
 * than its index, which also loads summaries, the push gateway and cluster
 * aggregation (about 12 ms of a service's start) that the runtime does not
 * use; they are the very classes `import { Counter } from "prom-client"` gives.
 */
export function promClient(): PromClientCore {
  core ??= {
    Registry: loadModule<PromClient["Registry"]>("prom-client/lib/registry.js"),
    Counter: loadModule<PromClient["Counter"]>("prom-client/lib/counter.js"),
    Gauge: loadModule<PromClient["Gauge"]>("prom-client/lib/gauge.js"),
  };
  return core;
}

let histogram: PromClient["Histogram"] | undefined;

/** prom-client's histogram class, loaded by the first histogram made (event handling times), not with the others. */
export function promHistogram(): PromClient["Histogram"] {
  histogram ??= loadModule<PromClient["Histogram"]>("prom-client/lib/histogram.js");
  return histogram;
}

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

/** prom-client's default gauges whose names end in _total, as only counters' should. */
const gaugesNamedTotal = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** Registries whose default metrics are not collected yet: how to collect them, and the turn they otherwise load on. */
const pendingDefaults = new WeakMap<Registry, { readonly collect: () => void; readonly soon: NodeJS.Immediate }>();

/**
 * A new registry with the Node.js and process default metrics: for tests and
 * for processes that keep several apart. The defaults (about 18 ms to load)
 * are collected on the next turn of the event loop, unless a service defers
 * them until it has registered (deferDefaultMetrics).
 */
export function createMetricsRegistry(): MetricsRegistry {
  const registry = new (promClient().Registry)();
  const collect = () => {
    if (!pendingDefaults.delete(registry)) return;
    loadModule<PromClient["collectDefaultMetrics"]>("prom-client/lib/defaultMetrics.js")({ register: registry });
    // Gauges named like counters, which `promtool check metrics` flags; the same counts are
    // in nodejs_active_handles, _requests and _resources by type.
    for (const name of gaugesNamedTotal) registry.removeSingleMetric(name);
  };
  pendingDefaults.set(registry, { collect, soon: setImmediate(collect).unref() });
  return registry;
}

/**
 * Keeps `registry`'s default metrics from loading on their own and returns
 * what collects them: a service calls it once registered, so it is found
 * before it loads them. A scrape collects them at once (collectDefaultMetricsNow).
 */
export function deferDefaultMetrics(registry: MetricsRegistry): () => void {
  const pending = pendingDefaults.get(registry);
  if (!pending) return () => undefined;
  clearImmediate(pending.soon);
  return pending.collect;
}

/** Collects `registry`'s default metrics now if they are still waiting. */
export function collectDefaultMetricsNow(registry: MetricsRegistry): void {
  pendingDefaults.get(registry)?.collect();
}
