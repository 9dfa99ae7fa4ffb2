import { startTracing } from "../start-tracing.js";
import type { Tracing } from "../tracing.js";

/** Tracing as a service without a collector runs it: every call sampled, spans carrying ids, nothing exported. */
export function startUnitTracing(): Promise<Tracing> {
  return startTracing({
    enabled: true,
    serviceName: "unit",
    resourceAttributes: {},
    exporter: undefined,
    sampler: "parentbased_always_on",
    samplerRatio: 1,
  });
}
