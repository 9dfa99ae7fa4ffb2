import type { Metric } from "prom-client";
import { metricsRegistry, type MetricsRegistry } from "./process-registry.js";
import { CollectedMetric, defaultBuckets, type Sample } from "./rpc-stats.js";

/** Records HTTP requests served: by method, route template (never the raw path) and status code. */
export type HttpRequestObserver = (method: string, route: string, code: number, seconds: number) => void;

/** One label set's requests and latency histogram, as plain numbers the registry reads when scraped. */
class HttpSeries {
  count = 0;
  sum = 0;
  /** Observations per bucket, not cumulative; the last is +Inf. */
  readonly buckets: number[];

  constructor(readonly labels: { readonly method: string; readonly route: string; readonly code: string }) {
    this.buckets = new Array<number>(defaultBuckets.length + 1).fill(0);
  }
}

/** Every label set's series in one registry: recording adds to numbers, with no label hashing per request. */
class HttpStats {
  readonly #byKey = new Map<string, HttpSeries>();

  record(method: string, route: string, code: number, seconds: number): void {
    const key = `${method} ${code} ${route}`;
    let series = this.#byKey.get(key);
    if (series === undefined) {
      series = new HttpSeries({ method, route, code: String(code) });
      this.#byKey.set(key, series);
    }
    let i = 0;
    while (i < defaultBuckets.length && seconds > defaultBuckets[i]!) i++;
    series.buckets[i]!++;
    series.sum += seconds;
    series.count++;
  }

  all(): IterableIterator<HttpSeries> {
    return this.#byKey.values();
  }

  /** Forgets every count (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.#byKey.clear();
  }
}

function totalSamples(stats: HttpStats): Sample[] {
  return [...stats.all()].map((s) => ({ labels: s.labels, value: s.count }));
}

function durationSamples(stats: HttpStats, name: string): Sample[] {
  const samples: Sample[] = [];
  for (const s of stats.all()) {
    let cumulative = 0;
    defaultBuckets.forEach((bound, i) => {
      cumulative += s.buckets[i]!;
      samples.push({ labels: { ...s.labels, le: bound }, value: cumulative, metricName: `${name}_bucket` });
    });
    samples.push({ labels: { ...s.labels, le: "+Inf" }, value: s.count, metricName: `${name}_bucket` });
    samples.push({ labels: s.labels, value: s.sum, metricName: `${name}_sum` });
    samples.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
  }
  return samples;
}

// Keyed by registry, not a global: every gateway of the process shares the process registry's
// series, as that registry refuses a metric name twice, while a test's own registry gets its own.
const byRegistry = new WeakMap<MetricsRegistry, HttpStats>();

/**
 * `http_requests_total{method,route,code}` and the
 * `http_request_duration_seconds{method,route,code}` histogram in
 * `registry`, as the gateway records them. `route` must be a template
 * (`/v1/users/{id}`), so the number of series stays bounded.
 */
export function httpRequestMetrics(registry: MetricsRegistry = metricsRegistry()): HttpRequestObserver {
  let stats = byRegistry.get(registry);
  if (stats === undefined) {
    stats = new HttpStats();
    const metrics = [
      new CollectedMetric(
        "http_requests_total",
        "HTTP requests served, by method, route template and status code.",
        "counter",
        stats,
        totalSamples,
      ),
      new CollectedMetric(
        "http_request_duration_seconds",
        "HTTP request latency in seconds, by method, route template and status code.",
        "histogram",
        stats,
        durationSamples,
      ),
    ];
    // prom-client types registerMetric with its own classes; the registry itself needs only this shape.
    for (const metric of metrics) registry.registerMetric(metric as unknown as Metric);
    byRegistry.set(registry, stats);
  }
  const recording = stats;
  return (method, route, code, seconds) => recording.record(method, route, code, seconds);
}
