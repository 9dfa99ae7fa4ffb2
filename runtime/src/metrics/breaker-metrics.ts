import type { EventEmitter } from "node:events";
import type { Counter, Gauge } from "prom-client";
import { metricsRegistry, promClient, type MetricsRegistry } from "./process-registry.js";

type BreakerLabels = "service" | "method";

/** The breaker metrics of one registry: state now, and transitions so far. */
export interface BreakerMetrics {
  readonly state: Gauge<BreakerLabels>;
  readonly transitions: Counter<BreakerLabels | "state">;
}

/** The value `tsmicro_breaker_state` takes in each state: ordered so a dashboard's max shows the worst. */
export const breakerStateValues = { closed: 0, halfOpen: 1, open: 2 } as const;

/**
 * `tsmicro_breaker_state{service,method}` (0 closed, 1 half-open, 2 open)
 * and `tsmicro_breaker_transitions_total{service,method,state}` in
 * `registry`, registered once however many services share it.
 */
export function breakerMetrics(registry: MetricsRegistry = metricsRegistry()): BreakerMetrics {
  const stateName = "tsmicro_breaker_state";
  const transitionsName = "tsmicro_breaker_transitions_total";
  const state =
    (registry.getSingleMetric(stateName) as Gauge<BreakerLabels> | undefined) ??
    new (promClient().Gauge)({
      name: stateName,
      help: "Circuit breaker state per called service and method: 0 closed, 1 half-open, 2 open.",
      labelNames: ["service", "method"],
      registers: [registry],
    });
  const transitions =
    (registry.getSingleMetric(transitionsName) as Counter<BreakerLabels | "state"> | undefined) ??
    new (promClient().Counter)({
      name: transitionsName,
      help: "Circuit breaker transitions per called service and method, by the state entered (open, half_open, closed).",
      labelNames: ["service", "method", "state"],
      registers: [registry],
    });
  return { state, transitions };
}

/**
 * Follows one opossum breaker (of calls to registry service `service`,
 * method path `method`): its state gauge starts closed and each open,
 * half-open and close event sets it and counts the transition.
 */
export function observeBreaker(metrics: BreakerMetrics, breaker: EventEmitter, service: string, method: string): void {
  const labels = { service, method };
  metrics.state.set(labels, breakerStateValues.closed);
  const on = (event: string, state: keyof typeof breakerStateValues, label: string) =>
    breaker.on(event, () => {
      metrics.state.set(labels, breakerStateValues[state]);
      metrics.transitions.inc({ ...labels, state: label });
    });
  on("open", "open", "open");
  on("halfOpen", "halfOpen", "half_open");
  on("close", "closed", "closed");
}
