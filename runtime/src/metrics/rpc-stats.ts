import type { Metric } from "prom-client";
import type { MethodDefinition } from "../definition/definition.js";
import { goCodeName, methodLabels, type MethodLabels } from "./grpc-labels.js";
import type { MetricsRegistry } from "./process-registry.js";

/** Prometheus's default histogram buckets in seconds, as go-grpc-middleware's handling-time histograms use. */
export const defaultBuckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * One method's counts on one side (server or client), as plain numbers:
 * recording a call adds to fields, with no label lookup or hashing, and
 * the registry reads them only when scraped.
 */
export class MethodStats {
  started = 0;
  received = 0;
  sent = 0;
  /** Finished calls by status code (index = code). */
  readonly handled: number[] = [];
  /** Observations per bucket, not cumulative: index i counts values in (bounds[i-1], bounds[i]]; the last is +Inf. */
  readonly buckets: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: MethodLabels,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records a finished call: its status code and how long it took. */
  finish(code: number, seconds: number): void {
    this.handled[code] = (this.handled[code] ?? 0) + 1;
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** Which end of a call the stats describe; it is the `grpc_<side>_` in the metric names. */
export type RpcSide = "server" | "client";

/** Every method's stats of one side in one registry, exposed as go-grpc-middleware's ten metric names. */
export class RpcStats {
  readonly #byPath = new Map<string, MethodStats>();

  constructor(readonly buckets: readonly number[] = defaultBuckets) {}

  /** The stats of `method`, made on its first call and kept: callers hold on to them per method. */
  of(method: MethodDefinition): MethodStats {
    let stats = this.#byPath.get(method.path);
    if (stats === undefined) {
      stats = new MethodStats(methodLabels(method), this.buckets);
      this.#byPath.set(method.path, stats);
    }
    return stats;
  }

  /** Every method seen so far. */
  all(): IterableIterator<MethodStats> {
    return this.#byPath.values();
  }

  /** Forgets every count (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.#byPath.clear();
  }
}

const helps = {
  server: {
    started: "Total number of RPCs started on the server.",
    handled: "Total number of RPCs completed on the server, regardless of success or failure.",
    received: "Total number of RPC stream messages received on the server.",
    sent: "Total number of gRPC stream messages sent by the server.",
    seconds: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
  },
  client: {
    started: "Total number of RPCs started on the client.",
    handled: "Total number of RPCs completed by the client, regardless of success or failure.",
    received: "Total number of RPC stream messages received by the client.",
    sent: "Total number of gRPC stream messages sent by the client.",
    seconds: "Histogram of response latency (seconds) of the gRPC until it is finished by the application.",
  },
} as const;

/** One sample of a collected metric, as prom-client's registry prints it. */
export interface Sample {
  readonly labels: object;
  readonly value: number;
  readonly metricName?: string;
}

/**
 * A metric the registry reads from plain counts (RpcStats, the gateway's
 * HTTP stats) at scrape time: the shape prom-client's registry asks of a
 * metric (`name`, `help`, `type`, `aggregator`, `get()`, `reset()`), so it
 * serves it as its own.
 */
export class CollectedMetric<S extends { reset(): void } = RpcStats> {
  readonly aggregator = "sum";

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "histogram",
    private readonly stats: S,
    private readonly samples: (stats: S, name: string) => Sample[],
  ) {}

  async get() {
    const { name, help, type, aggregator } = this;
    return { name, help, type, aggregator, values: this.samples(this.stats, name) };
  }

  reset(): void {
    this.stats.reset();
  }
}

function counterSamples(field: "started" | "received" | "sent") {
  return (stats: RpcStats): Sample[] => [...stats.all()].map((m) => ({ labels: m.labels, value: m[field] }));
}

function handledSamples(stats: RpcStats): Sample[] {
  const samples: Sample[] = [];
  for (const m of stats.all()) {
    m.handled.forEach((value, code) => {
      if (value !== undefined) samples.push({ labels: { ...m.labels, grpc_code: goCodeName(code) }, value });
    });
  }
  return samples;
}

function histogramSamples(stats: RpcStats, name: string): Sample[] {
  const samples: Sample[] = [];
  for (const m of stats.all()) {
    let cumulative = 0;
    stats.buckets.forEach((bound, i) => {
      cumulative += m.buckets[i]!;
      samples.push({ labels: { ...m.labels, le: bound }, value: cumulative, metricName: `${name}_bucket` });
    });
    samples.push({ labels: { ...m.labels, le: "+Inf" }, value: m.count, metricName: `${name}_bucket` });
    samples.push({ labels: m.labels, value: m.sum, metricName: `${name}_sum` });
    samples.push({ labels: m.labels, value: m.count, metricName: `${name}_count` });
  }
  return samples;
}

/** Registers the five metrics of one side over `stats`. */
function register(registry: MetricsRegistry, side: RpcSide, stats: RpcStats): void {
  const help = helps[side];
  const prefix = `grpc_${side}`;
  const metrics = [
    new CollectedMetric(`${prefix}_started_total`, help.started, "counter", stats, counterSamples("started")),
    new CollectedMetric(`${prefix}_handled_total`, help.handled, "counter", stats, handledSamples),
    new CollectedMetric(`${prefix}_msg_received_total`, help.received, "counter", stats, counterSamples("received")),
    new CollectedMetric(`${prefix}_msg_sent_total`, help.sent, "counter", stats, counterSamples("sent")),
    new CollectedMetric(`${prefix}_handling_seconds`, help.seconds, "histogram", stats, histogramSamples),
  ];
  // prom-client types registerMetric with its own classes; the registry itself needs only this shape.
  for (const metric of metrics) registry.registerMetric(metric as unknown as Metric);
}

// Keyed by registry, not a global: every service of the process shares the process registry's stats, as that
// registry refuses a metric name twice, while a test's own registry gets stats of its own.
const bySide = new WeakMap<MetricsRegistry, Partial<Record<RpcSide, RpcStats>>>();

/**
 * The RPC stats of one side in `registry`, registered as metrics on first
 * use: every service (or client) of the process shares them, as the
 * registry rejects a metric name registered twice.
 */
export function rpcStats(registry: MetricsRegistry, side: RpcSide): RpcStats {
  let sides = bySide.get(registry);
  if (sides === undefined) {
    sides = {};
    bySide.set(registry, sides);
  }
  let stats = sides[side];
  if (stats === undefined) {
    stats = new RpcStats();
    register(registry, side, stats);
    sides[side] = stats;
  }
  return stats;
}
