import type { Service } from "@tsmicro/runtime";
import type { BreakerView, MethodStats, RecentStats, StatsPoint } from "./dashboard-api.js";

/** A sample of the Prometheus text format: metric name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const sampleLine = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const labelPair = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a `/metrics` page (text format 0.0.4) whose names `wanted` accepts. */
export function parseMetrics(text: string, wanted: (name: string) => boolean): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = sampleLine.exec(line);
    if (!match || !wanted(match[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(labelPair))
      labels[key!] = value!.replace(/\\(.)/g, (_m, c: string) => (c === "n" ? "\n" : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Per node and method: the counters as last read. */
interface Counters {
  handled: number;
  failed: number;
  seconds: number;
  count: number;
}

const wantedMetrics = new Set([
  "grpc_server_handled_total",
  "grpc_server_handling_seconds_sum",
  "grpc_server_handling_seconds_count",
  "tsmicro_breaker_state",
]);

const breakerStates = ["closed", "half-open", "open"] as const;

/** How many points a chart keeps: two minutes at the default tick. */
const keptPoints = 120;

/** What a chart's captions average over, as Prometheus's `rate(…[1m])` would. */
const recentMs = 60_000;

/** What one point drew from: the counts behind its rates, and the seconds they were counted over. */
interface Tally {
  readonly t: number;
  readonly seconds: number;
  readonly handled: number;
  readonly failed: number;
  readonly handlingSeconds: number;
  readonly count: number;
}

/** One method's chart: the points the page draws and the tallies its captions are summed from. */
interface Series {
  readonly service: string;
  readonly method: string;
  readonly points: StatsPoint[];
  readonly tallies: Tally[];
}

/**
 * Charts from the services' own `/metrics` (the address each node registers as metadata
 * `metrics`): each read turns the go-grpc-middleware counters into per-method rates since the
 * read before, summed over the service's nodes. A node restarted (its counters lower than last
 * time) counts from zero, and so does a method a node read before shows for the first time (its
 * first call: prom-client writes a counter's labels only once they count something); what a node
 * seen for the first time has counted is from before the charts, and is not drawn.
 */
export class MethodStatsBook {
  readonly #last = new Map<string, Counters>();
  /** The nodes whose pages the last read got. */
  #nodesRead = new Set<string>();
  readonly #series = new Map<string, Series>();
  #lastAt = 0;
  #breakers: BreakerView[] = [];
  readonly #clock: () => number;

  /** `clock` gives each read its time (epoch milliseconds); tests pass their own to step a minute at once. */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** Reads every node's `/metrics` and adds a point to each method's chart. */
  async read(services: readonly Service[], own: () => Promise<string | undefined>): Promise<void> {
    const now = this.#clock();
    const seconds = this.#lastAt === 0 ? 0 : (now - this.#lastAt) / 1000;
    this.#lastAt = now;
    const pages = await Promise.all(
      services.flatMap((service) =>
        service.nodes.map(async (node) => ({
          service: service.name,
          node: node.id,
          text: await scrape(node.metadata.metrics),
        })),
      ),
    );
    const ownText = await own().catch(() => undefined);
    if (ownText) pages.push({ service: "", node: "dashboard", text: ownText });
    const sums = new Map<string, { service: string; method: string; delta: Counters }>();
    const breakers: BreakerView[] = [];
    const nodesRead = new Set<string>();
    for (const page of pages) {
      if (page.text === undefined) continue;
      nodesRead.add(page.node);
      const known = this.#nodesRead.has(page.node);
      const byMethod = new Map<string, Counters>();
      for (const sample of parseMetrics(page.text, (name) => wantedMetrics.has(name))) {
        if (sample.name === "tsmicro_breaker_state") {
          const { service = "", method = "" } = sample.labels;
          breakers.push({
            at: page.node,
            service,
            method: chartName(method),
            state: breakerStates[sample.value] ?? "open",
          });
          continue;
        }
        const method = `${sample.labels.grpc_service}/${sample.labels.grpc_method}`;
        const counters = byMethod.get(method) ?? { handled: 0, failed: 0, seconds: 0, count: 0 };
        if (sample.name === "grpc_server_handled_total") {
          counters.handled += sample.value;
          if (sample.labels.grpc_code !== "OK") counters.failed += sample.value;
        } else if (sample.name.endsWith("_sum")) counters.seconds += sample.value;
        else counters.count += sample.value;
        byMethod.set(method, counters);
      }
      for (const [method, counters] of byMethod) {
        const key = `${page.node} ${method}`;
        const before = this.#last.get(key);
        this.#last.set(key, counters);
        const delta =
          before && counters.handled >= before.handled
            ? {
                handled: counters.handled - before.handled,
                failed: counters.failed - before.failed,
                seconds: counters.seconds - before.seconds,
                count: counters.count - before.count,
              }
            : before || known
              ? counters
              : { handled: 0, failed: 0, seconds: 0, count: 0 };
        const sumKey = `${page.service} ${method}`;
        const sum = sums.get(sumKey)?.delta;
        if (sum) {
          sum.handled += delta.handled;
          sum.failed += delta.failed;
          sum.seconds += delta.seconds;
          sum.count += delta.count;
        } else sums.set(sumKey, { service: page.service, method, delta: { ...delta } });
      }
    }
    this.#breakers = breakers;
    this.#nodesRead = nodesRead;
    if (seconds === 0) return;
    for (const [key, { service, method, delta }] of sums) {
      if (service === "") continue;
      let series = this.#series.get(key);
      if (!series) {
        series = { service, method, points: [], tallies: [] };
        this.#series.set(key, series);
      }
      const { handled, failed, count } = delta;
      addTally(series, { t: now, seconds, handled, failed, handlingSeconds: delta.seconds, count });
    }
    // A method no node could be read for (its only node killed, or gone) handled nothing the charts
    // saw: it gets a zero, not its last rate drawn on as if the calls went on.
    for (const [key, series] of this.#series)
      if (!sums.has(key)) addTally(series, { t: now, seconds, handled: 0, failed: 0, handlingSeconds: 0, count: 0 });
  }

  /** Every method's chart, with its last minute's figures. */
  methods(): MethodStats[] {
    return [...this.#series.values()].map(({ service, method, points, tallies }) => ({
      service,
      method,
      points: [...points],
      recent: recentOf(tallies),
    }));
  }

  /** The breakers the last read found. */
  breakers(): readonly BreakerView[] {
    return this.#breakers;
  }
}

/**
 * A breaker's method (the gRPC path its metric labels it with, `/pkg.Service/Method`) spelt as the
 * charts spell theirs, `pkg.Service/Method`: one name for one method across the page.
 */
function chartName(path: string): string {
  return path.replace(/^\//, "");
}

/** Adds a read's tally and its point to a chart, dropping the oldest beyond what a chart keeps. */
function addTally(series: Series, tally: Tally): void {
  series.tallies.push(tally);
  series.points.push({
    t: tally.t,
    rate: tally.handled / tally.seconds,
    errors: tally.failed / tally.seconds,
    latencyMs: tally.count > 0 ? (tally.handlingSeconds / tally.count) * 1000 : 0,
  });
  if (series.points.length > keptPoints) {
    series.points.shift();
    series.tallies.shift();
  }
}

/**
 * The calls, failures and mean latency of the tallies read in the minute up to the newest,
 * summed and divided by the seconds they count over: a rate over a minute, not the last second's,
 * which is zero between calls that come less often than every second.
 */
function recentOf(tallies: readonly Tally[]): RecentStats {
  const newest = tallies.at(-1)?.t ?? 0;
  const sum = { seconds: 0, handled: 0, failed: 0, handlingSeconds: 0, count: 0 };
  for (const tally of tallies) {
    // The minute's oldest tally may reach a little before it: the figures say the seconds they cover.
    if (newest - tally.t >= recentMs) continue;
    sum.seconds += tally.seconds;
    sum.handled += tally.handled;
    sum.failed += tally.failed;
    sum.handlingSeconds += tally.handlingSeconds;
    sum.count += tally.count;
  }
  if (sum.seconds === 0) return { seconds: 0, rate: 0, errors: 0, latencyMs: null };
  return {
    seconds: sum.seconds,
    rate: sum.handled / sum.seconds,
    errors: sum.failed / sum.seconds,
    latencyMs: sum.count > 0 ? (sum.handlingSeconds / sum.count) * 1000 : null,
  };
}

/** A node's `/metrics` page, or undefined when it has none or does not answer within a second. */
async function scrape(address: string | undefined): Promise<string | undefined> {
  if (!address) return undefined;
  try {
    const response = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(1_000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}
