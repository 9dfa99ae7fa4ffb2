import { monitorEventLoopDelay } from "node:perf_hooks";
import { errorReasonDetail } from "../errors/error-details.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { ServerMiddleware } from "../transport/transport.js";
import { failedCall, streamsResponses } from "../transport/call-result.js";
import { afterCall, invoke } from "./bulkhead.js";

/** Options of loadShedderMiddleware; every one has a default. */
export interface LoadShedderOptions {
  /** CPU time of this process per wall-clock time (1 is one core busy) at or above which it counts as overloaded. Default 0.9. */
  readonly cpuThreshold?: number;
  /** Event-loop delay (p99 over the last sample) at or above which the process counts as overloaded. Default 100 ms. */
  readonly eventLoopDelayMs?: number;
  /** How long the overload signal is trusted before it is sampled again. Default 250 ms. */
  readonly sampleIntervalMs?: number;
  /** The window throughput and latency are measured over. Default 5 s. */
  readonly windowMs?: number;
  /** Buckets the window is divided into. Default 50. */
  readonly buckets?: number;
  /** After shedding, how long it keeps shedding while calls pile up, even if the signal has cleared. Default 1 s. */
  readonly coolOffMs?: number;
  /** The overload signal; default: CPU and event-loop delay against the thresholds above. Tests pass their own. */
  readonly overloaded?: () => boolean;
  /** The clock, in milliseconds; default `Date.now`. */
  readonly now?: () => number;
}

/** What the shedder sees, for tests and metrics. */
export interface LoadShedderStats {
  /** Unary and client-streaming calls running now. */
  readonly inFlight: number;
  /** A moving average of `inFlight`, so one spike does not trigger shedding. */
  readonly avgInFlight: number;
  /** Calls this process can hold at once at its best measured throughput and latency (Little's law). */
  readonly maxInFlight: number;
  readonly overloaded: boolean;
  /** Calls shed so far. */
  readonly shed: number;
}

/** The middleware, plus a look at its state, and `stop` to end event-loop monitoring. */
export interface LoadShedderMiddleware extends ServerMiddleware {
  stats(): LoadShedderStats;
  /** Stops the event-loop delay monitor; shedding then reads only CPU. It keeps no process alive either way. */
  stop(): void;
}

/** The `google.rpc.ErrorInfo` domain and reason of a call shed because the server is overloaded. */
export const overloadedReason = { domain: "tsmicro.runtime", reason: "OVERLOADED" } as const;

/** Weight of the past in the moving average of calls in flight (go-zero's). */
const flyingBeta = 0.9;

interface Bucket {
  /** Which bucket of time (`floor(t / bucketMs)`) the counts belong to, so stale ones are skipped. */
  id: number;
  passed: number;
  rtSumMs: number;
}

/**
 * Sheds calls adaptively, in the spirit of go-zero's adaptive shedder: a
 * call fails at once with RESOURCE_EXHAUSTED (retryable: another node may be
 * idle) only while the process is overloaded (CPU or event-loop delay over
 * threshold, or it shed within the cool-off) AND more calls are in flight
 * than it can hold: its best throughput per bucket times its best latency
 * over the window. So a busy CPU alone sheds nothing while calls keep
 * flowing, and shedding stops as soon as the backlog drains. Streams are
 * shed at start like other calls but, lasting as long as their callers
 * like, are not counted in flight and do not feed the latency.
 */
export function loadShedderMiddleware(options: LoadShedderOptions = {}): LoadShedderMiddleware {
  const now = options.now ?? Date.now;
  const windowMs = positive(options.windowMs ?? 5_000, "loadShedder.windowMs");
  const bucketCount = positive(options.buckets ?? 50, "loadShedder.buckets");
  if (!Number.isInteger(bucketCount))
    throw new SetupError(
      "TSM_ERR_FLAG",
      "loadShedder.buckets",
      JSON.stringify(bucketCount),
      "expected a whole number >= 1",
    );
  const coolOffMs = positive(options.coolOffMs ?? 1_000, "loadShedder.coolOffMs");
  const bucketMs = windowMs / bucketCount;
  const system = options.overloaded ? undefined : createSystemLoad(options, now);
  const overloaded = options.overloaded ?? (() => system!.overloaded());
  const buckets: Bucket[] = Array.from({ length: bucketCount }, () => ({ id: -1, passed: 0, rtSumMs: 0 }));
  let flying = 0;
  let avgFlying = 0;
  let dropTime: number | undefined;
  let shed = 0;

  function record(t: number, rtMs: number): void {
    const id = Math.floor(t / bucketMs);
    const bucket = buckets[id % bucketCount]!;
    if (bucket.id !== id) Object.assign(bucket, { id, passed: 0, rtSumMs: 0 });
    bucket.passed++;
    bucket.rtSumMs += rtMs;
  }

  /** Little's law over the window's complete buckets: the most calls passed in a bucket, times the least mean latency. */
  function maxFlight(t: number): number {
    const current = Math.floor(t / bucketMs);
    let maxPass = 0;
    let minRt = Infinity;
    for (const b of buckets) {
      if (b.id >= current || b.id <= current - bucketCount || b.passed === 0) continue;
      maxPass = Math.max(maxPass, b.passed);
      minRt = Math.min(minRt, b.rtSumMs / b.passed);
    }
    // With no history yet, go-zero's default of 1 s keeps a cold start from shedding everything.
    if (minRt === Infinity) minRt = 1_000;
    return Math.max(1, (maxPass * minRt) / bucketMs);
  }

  function shouldShed(t: number): boolean {
    const hot = dropTime !== undefined && t - dropTime < coolOffMs;
    if (!hot && !overloaded()) return false;
    const limit = maxFlight(t);
    return avgFlying > limit && flying > limit;
  }

  const middleware: ServerMiddleware = (next) => (call) => {
    const start = now();
    if (shouldShed(start)) {
      dropTime = start;
      shed++;
      const path = call.method.path;
      return failedCall(
        call.method.kind,
        new TsmicroError(Code.RESOURCE_EXHAUSTED, `server overloaded: shed ${path} with ${flying} calls in flight`, {
          details: [errorReasonDetail(overloadedReason.reason, overloadedReason.domain, { method: path })],
        }),
      );
    }
    if (streamsResponses(call.method.kind)) return next(call);
    flying++;
    return afterCall(invoke(next, call), (error) => {
      flying--;
      avgFlying = avgFlying * flyingBeta + flying * (1 - flyingBeta);
      // Only calls that succeeded measure what the process can do; failures may be fast for the wrong reasons.
      if (error === undefined) {
        const end = now();
        record(end, end - start);
      }
    });
  };
  return Object.assign(middleware, {
    stats: (): LoadShedderStats => ({
      inFlight: flying,
      avgInFlight: avgFlying,
      maxInFlight: maxFlight(now()),
      overloaded: overloaded(),
      shed,
    }),
    stop: () => system?.stop(),
  });
}

/** The overload thresholds when none are given: 0.9 of one core, a 100 ms event-loop delay. */
export const defaultLoadThresholds = { cpuThreshold: 0.9, eventLoopDelayMs: 100 } as const;

/** The default overload signal: CPU share and event-loop delay, sampled at most once per interval as calls arrive. */
function createSystemLoad(options: LoadShedderOptions, now: () => number): { overloaded(): boolean; stop(): void } {
  const cpuThreshold = positive(options.cpuThreshold ?? defaultLoadThresholds.cpuThreshold, "loadShedder.cpuThreshold");
  const delayThresholdMs = positive(
    options.eventLoopDelayMs ?? defaultLoadThresholds.eventLoopDelayMs,
    "loadShedder.eventLoopDelayMs",
  );
  const intervalMs = positive(options.sampleIntervalMs ?? 250, "loadShedder.sampleIntervalMs");
  // The monitor's timer is unref'd inside Node, so it never holds a process open.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let lastAt = now();
  let lastCpu = process.cpuUsage();
  let hot = false;
  return {
    overloaded() {
      const t = now();
      if (t - lastAt < intervalMs) return hot;
      const cpu = process.cpuUsage(lastCpu);
      const share = (cpu.user + cpu.system) / 1000 / (t - lastAt);
      const p99Ms = delay.count > 0 ? delay.percentile(99) / 1e6 : 0;
      hot = share >= cpuThreshold || p99Ms >= delayThresholdMs;
      delay.reset();
      lastAt = t;
      lastCpu = process.cpuUsage();
      return hot;
    },
    stop: () => delay.disable(),
  };
}

function positive(value: number, where: string): number {
  if (!(Number.isFinite(value) && value > 0))
    throw new SetupError("TSM_ERR_FLAG", where, JSON.stringify(value), "expected a number > 0");
  return value;
}
