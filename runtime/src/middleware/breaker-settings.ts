import { closestName } from "../errors/closest-name.js";
import { SetupError } from "../errors/setup-error.js";
import {
  count,
  duration as durationIn,
  durationText,
  onOff,
  percent as percentOf,
  readFlags,
  type FlagParser,
  type FlagUsage,
} from "../service/flag-values.js";

/** How one circuit breaker trips and recovers. */
export interface BreakerSettings {
  /** False lets calls through with no breaker at all (say, for one method). Default true. */
  readonly enabled: boolean;
  /** Failed share of calls in the window, in percent, above which the breaker opens. Default 50. */
  readonly errorThresholdPercentage: number;
  /** Calls in the window before the breaker may open at all, so a few failures at low traffic cannot cut a service off. Default 20. */
  readonly volumeThreshold: number;
  /** How long an open breaker fails fast before it lets one probe call through (half-open). Default 5 s. */
  readonly resetTimeoutMs: number;
  /** The rolling window the failure share is measured over. Default 10 s. */
  readonly rollingCountTimeoutMs: number;
  /** Buckets the window is divided into; counts leave the window one bucket at a time. Default 10. */
  readonly rollingCountBuckets: number;
  /**
   * When above 0, a call's deadline is cut to this many milliseconds, so a slow
   * callee fails with DEADLINE_EXCEEDED (which counts). Default 0: off, because
   * every call already has a deadline (`--client_request_timeout`).
   */
  readonly timeoutMs: number;
  /**
   * When above 0, at most this many calls of the method are in flight at once
   * (hystrix's MaxConcurrentRequests); one more fails fast with
   * RESOURCE_EXHAUSTED, or gets the fallback. Default 0: no limit.
   */
  readonly maxConcurrent: number;
}

/**
 * Defaults, applied here and nowhere else: hystrix-go's (which go-micro's
 * breaker wrapper uses), that is 50 % of at least 20 calls in 10 s, then 5 s
 * of failing fast.
 */
export const defaultBreakerSettings: BreakerSettings = {
  enabled: true,
  errorThresholdPercentage: 50,
  volumeThreshold: 20,
  resetTimeoutMs: 5_000,
  rollingCountTimeoutMs: 10_000,
  rollingCountBuckets: 10,
  timeoutMs: 0,
  maxConcurrent: 0,
};

type Parser = FlagParser<Partial<BreakerSettings>>;

/** As go-micro's flags, a bare number is seconds. */
const duration = (value: string, source: string) => durationIn(value, source, 1000);
const percent = (value: string, source: string) => percentOf(value, source, 100, "a percentage");

/** The flags, each also read from `TSMICRO_<NAME>` and, as an alias, `MICRO_<NAME>`. */
const flags = {
  breaker: (v, s) => ({ enabled: onOff(v, s) }),
  breaker_error_threshold: (v, s) => ({ errorThresholdPercentage: percent(v, s) }),
  breaker_volume_threshold: (v, s) => ({ volumeThreshold: count(v, s, 0) }),
  breaker_reset_timeout: (v, s) => ({ resetTimeoutMs: duration(v, s) }),
  breaker_window: (v, s) => ({ rollingCountTimeoutMs: duration(v, s) }),
  breaker_buckets: (v, s) => ({ rollingCountBuckets: count(v, s, 1) }),
  breaker_timeout: (v, s) => ({ timeoutMs: duration(v, s) }),
  breaker_max_concurrent: (v, s) => ({ maxConcurrent: count(v, s, 0) }),
} satisfies Record<string, Parser>;

/** The breaker flag names, such as `breaker_error_threshold`. */
export const breakerFlagNames: readonly string[] = Object.keys(flags);

const defaults = defaultBreakerSettings;

/** What `--help` says of each flag above; typed by their table, so a flag without one does not compile. */
export const breakerFlagUsage: Readonly<Record<keyof typeof flags, FlagUsage>> = {
  breaker: { usage: "off turns the circuit breakers off", default: defaults.enabled ? "on" : "off" },
  breaker_error_threshold: {
    usage: "percent of failed calls in the window that opens a breaker",
    default: String(defaults.errorThresholdPercentage),
  },
  breaker_volume_threshold: {
    usage: "calls in the window before a breaker may open",
    default: String(defaults.volumeThreshold),
  },
  breaker_reset_timeout: {
    usage: "how long an open breaker fails fast before it lets one probe call through",
    default: durationText(defaults.resetTimeoutMs),
  },
  breaker_window: {
    usage: "the rolling window failures are counted over",
    default: durationText(defaults.rollingCountTimeoutMs),
  },
  breaker_buckets: { usage: "the buckets the window is counted in", default: String(defaults.rollingCountBuckets) },
  breaker_timeout: {
    usage: "a shorter deadline for breaker-guarded calls, whose DEADLINE_EXCEEDED counts as a failure; 0 for off",
    default: defaults.timeoutMs === 0 ? "off" : durationText(defaults.timeoutMs),
  },
  breaker_max_concurrent: {
    usage:
      "at most this many calls of a method in flight; one more fails fast with RESOURCE_EXHAUSTED, or gets the fallback",
    default: defaults.maxConcurrent === 0 ? "0, no limit" : String(defaults.maxConcurrent),
  },
};

/**
 * Breaker settings given by `MICRO_BREAKER_*`, then `TSMICRO_BREAKER_*`
 * variables, then `--breaker_*` flags (later wins); only those given, to
 * spread over code's options. Durations read `500ms`, `5s`, `1m` (a bare
 * number is seconds, as go-micro's flags). A bad value is a SetupError
 * naming the variable or flag.
 */
export function breakerSettingsFrom(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Partial<BreakerSettings> {
  return readFlags<Partial<BreakerSettings>>(flags, args, env, {}, (base, over) => ({ ...base, ...over }));
}

/**
 * Checks settings given in code, so a mistake is reported when the
 * middleware is made rather than when the first call trips on it. `where`
 * names them in the error, such as `perMethod["user/Login"]`.
 */
export function checkBreakerSettings<T extends Partial<BreakerSettings>>(
  settings: T,
  where: string,
  otherKeys: readonly string[] = [],
): T {
  const fail = (key: string, value: unknown, expected: string): never => {
    throw new SetupError("TSM_ERR_FLAG", `${where}.${key}`, JSON.stringify(value), expected);
  };
  // A key it does not know would be ignored, and the breaker run on defaults: a typo or a level misplaced.
  const known = [...Object.keys(defaultBreakerSettings), ...otherKeys];
  for (const key of Object.keys(settings)) {
    if (known.includes(key)) continue;
    const meant = closestName(key, known);
    fail(
      key,
      (settings as Record<string, unknown>)[key],
      meant ? `not a breaker setting: did you mean ${meant}?` : `not a breaker setting; they are ${known.join(", ")}`,
    );
  }
  const { errorThresholdPercentage: p, volumeThreshold: v, rollingCountBuckets: b } = settings;
  if (p !== undefined && !(p > 0 && p <= 100)) fail("errorThresholdPercentage", p, "expected a percentage in (0, 100]");
  if (v !== undefined && !(Number.isInteger(v) && v >= 0)) fail("volumeThreshold", v, "expected a whole number >= 0");
  if (b !== undefined && !(Number.isInteger(b) && b >= 1))
    fail("rollingCountBuckets", b, "expected a whole number >= 1");
  for (const key of ["resetTimeoutMs", "rollingCountTimeoutMs"] as const) {
    const ms = settings[key];
    if (ms !== undefined && !(Number.isFinite(ms) && ms > 0)) fail(key, ms, "expected milliseconds > 0");
  }
  const t = settings.timeoutMs;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) fail("timeoutMs", t, "expected milliseconds >= 0 (0 is off)");
  return settings;
}
