import { parseArgs } from "node:util";
import { SetupError } from "../errors/setup-error.js";

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
};

type Parser = (value: string, source: string) => Partial<BreakerSettings>;

/** The flags, each also read from `TSMICRO_<NAME>` and, as an alias, `MICRO_<NAME>`. */
const flags: Record<string, Parser> = {
  breaker: (v, s) => ({ enabled: onOff(v, s) }),
  breaker_error_threshold: (v, s) => ({ errorThresholdPercentage: percent(v, s) }),
  breaker_volume_threshold: (v, s) => ({ volumeThreshold: count(v, s, 0) }),
  breaker_reset_timeout: (v, s) => ({ resetTimeoutMs: duration(v, s) }),
  breaker_window: (v, s) => ({ rollingCountTimeoutMs: duration(v, s) }),
  breaker_buckets: (v, s) => ({ rollingCountBuckets: count(v, s, 1) }),
  breaker_timeout: (v, s) => ({ timeoutMs: duration(v, s) }),
};

/** The breaker flag names, such as `breaker_error_threshold`. */
export const breakerFlagNames: readonly string[] = Object.keys(flags);

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
  const settings: Partial<BreakerSettings> = {};
  for (const prefix of ["MICRO_", "TSMICRO_"]) {
    for (const [name, parse] of Object.entries(flags)) {
      const variable = `${prefix}${name.toUpperCase()}`;
      const value = env[variable];
      if (value !== undefined && value !== "") Object.assign(settings, parse(value, variable));
    }
  }
  const { values } = parseArgs({
    args: [...args],
    options: Object.fromEntries(breakerFlagNames.map((name) => [name, { type: "string" as const }])),
    strict: false,
    allowPositionals: true,
  });
  for (const [name, parse] of Object.entries(flags)) {
    const value = values[name];
    if (value === true) throw new SetupError("TSM_ERR_FLAG", `--${name}`, "(none)", "give it a value, as --name=value");
    if (typeof value === "string") Object.assign(settings, parse(value, `--${name}`));
  }
  return settings;
}

/**
 * Checks settings given in code, so a mistake is reported when the
 * middleware is made rather than when the first call trips on it. `where`
 * names them in the error, such as `perMethod["user/Login"]`.
 */
export function checkBreakerSettings<T extends Partial<BreakerSettings>>(settings: T, where: string): T {
  const fail = (key: string, value: unknown, expected: string): never => {
    throw new SetupError("TSM_ERR_FLAG", `${where}.${key}`, JSON.stringify(value), expected);
  };
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

function onOff(value: string, source: string): boolean {
  const v = value.toLowerCase();
  if (["on", "true", "1"].includes(v)) return true;
  if (["off", "false", "0"].includes(v)) return false;
  throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "use on or off");
}

function percent(value: string, source: string): number {
  const n = Number(value.trim().replace(/%$/, ""));
  if (!(n > 0 && n <= 100))
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      "expected a percentage in (0, 100], such as 50",
    );
  return n;
}

function count(value: string, source: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `expected a whole number >= ${min}`);
  return n;
}

/** Milliseconds from `500ms`, `5s`, `1m`, or a bare number of seconds. */
function duration(value: string, source: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      "expected a duration such as 500ms, 5s or 1m (a bare number is seconds)",
    );
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
  return Number(match[1]) * units[match[2] ?? "s"]!;
}
