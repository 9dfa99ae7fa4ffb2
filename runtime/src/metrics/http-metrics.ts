import { Counter, Histogram } from "prom-client";
import { metricsRegistry, type MetricsRegistry } from "./process-registry.js";
import { defaultBuckets } from "./rpc-stats.js";

type HttpLabels = "method" | "route" | "code";

/** Records HTTP requests served: by method, route template (never the raw path) and status code. */
export type HttpRequestObserver = (method: string, route: string, code: number, seconds: number) => void;

/**
 * `http_requests_total{method,route,code}` and the
 * `http_request_duration_seconds{method,route,code}` histogram in
 * `registry`, as the gateway records them. `route` must be a template
 * (`/v1/users/{id}`), so the number of series stays bounded.
 */
export function httpRequestMetrics(registry: MetricsRegistry = metricsRegistry()): HttpRequestObserver {
  const totalName = "http_requests_total";
  const durationName = "http_request_duration_seconds";
  const total =
    (registry.getSingleMetric(totalName) as Counter<HttpLabels> | undefined) ??
    new Counter({
      name: totalName,
      help: "HTTP requests served, by method, route template and status code.",
      labelNames: ["method", "route", "code"],
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric(durationName) as Histogram<HttpLabels> | undefined) ??
    new Histogram({
      name: durationName,
      help: "HTTP request latency in seconds, by method, route template and status code.",
      labelNames: ["method", "route", "code"],
      buckets: [...defaultBuckets],
      registers: [registry],
    });
  return (method, route, code, seconds) => {
    const labels = { method, route, code };
    total.inc(labels);
    duration.observe(labels, seconds);
  };
}
