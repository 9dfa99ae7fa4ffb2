import type { Gauge } from "prom-client";
import { metricsRegistry, promClient, type MetricsRegistry } from "./process-registry.js";

/**
 * `tsmicro_registry_nodes{service}`: the nodes of each called service this
 * process's selector knows (fed by the registry's watch), as a function to
 * call whenever that list changes.
 */
export function registryNodesGauge(
  registry: MetricsRegistry = metricsRegistry(),
): (service: string, nodes: number) => void {
  const name = "tsmicro_registry_nodes";
  const gauge =
    (registry.getSingleMetric(name) as Gauge<"service"> | undefined) ??
    new (promClient().Gauge)({
      name,
      help: "Nodes of each called service known to this process's selector, as the registry's watch reports them.",
      labelNames: ["service"],
      registers: [registry],
    });
  return (service, nodes) => gauge.set({ service }, nodes);
}
