import { SetupError } from "../errors/setup-error.js";
import {
  count,
  duration,
  durationText,
  onOff,
  percent as percentOf,
  readFlags,
  type FlagParser,
  type FlagUsage,
} from "../service/flag-values.js";
import type { ServerMiddleware } from "../transport/transport.js";
import { bulkheadMiddleware, defaultBulkheadSettings, type BulkheadOptions } from "./bulkhead.js";
import { defaultLoadThresholds, loadShedderMiddleware, type LoadShedderOptions } from "./load-shedder.js";
import { defaultRateLimitSettings, rateLimitMiddleware, type RateLimitOptions } from "./rate-limit.js";

/** The server's protection: a rate limit, a bulkhead and adaptive load shedding, each off unless given. */
export interface ProtectionOptions {
  readonly rateLimit?: RateLimitOptions;
  readonly bulkhead?: BulkheadOptions;
  /** Off when absent, as shedding on a busy CPU may surprise; on when given, unless `enabled` is false. */
  readonly loadShedder?: LoadShedderOptions & { readonly enabled?: boolean };
}

/** The protection middleware, in the order they run, and `stop` to release what they hold. */
export interface Protection {
  /** Rate limit, then load shedder, then bulkhead: the cheapest refusal first, and no call queues only to be shed. */
  readonly middleware: readonly ServerMiddleware[];
  readonly stop: () => void;
}

type Parser = FlagParser<ProtectionOptions>;

const percent = (value: string, source: string) => percentOf(value, source, 400, "a percentage of one core");

/** The flags, each also read from `TSMICRO_<NAME>` and, as an alias, `MICRO_<NAME>`. */
const flags = {
  rate_limit: (v, s) => ({ rateLimit: { rate: limit(v, s, false) } }),
  rate_limit_burst: (v, s) => ({ rateLimit: { burst: count(v, s, 1) } }),
  max_concurrent: (v, s) => ({ bulkhead: { maxConcurrent: limit(v, s, true) } }),
  max_queue: (v, s) => ({ bulkhead: { maxQueue: count(v, s, 0) } }),
  load_shedding: (v, s) => ({ loadShedder: { enabled: onOff(v, s) } }),
  load_shedding_cpu: (v, s) => ({ loadShedder: { cpuThreshold: percent(v, s) / 100 } }),
  load_shedding_delay: (v, s) => ({ loadShedder: { eventLoopDelayMs: duration(v, s) } }),
} satisfies Record<string, Parser>;

/** The protection flag names, such as `rate_limit`. */
export const protectionFlagNames: readonly string[] = Object.keys(flags);

/** A limit's default as `--help` writes it: Infinity is none. */
const limitText = (n: number) => (n === Infinity ? "off" : String(n));

/** What `--help` says of each flag above; typed by their table, so a flag without one does not compile. */
export const protectionFlagUsage: Readonly<Record<keyof typeof flags, FlagUsage>> = {
  rate_limit: {
    usage: "calls per second this server accepts (0.5: one every 2s); 0 or off for no limit",
    default: limitText(defaultRateLimitSettings.rate),
  },
  rate_limit_burst: {
    usage: "calls let through at once after a quiet spell: the rate limit's bucket size",
    default: "the rate rounded up, at least 1",
  },
  max_concurrent: {
    usage: "calls this server runs at once (the bulkhead); 0 or off for no limit",
    default: limitText(defaultBulkheadSettings.maxConcurrent),
  },
  max_queue: {
    usage: "calls that may wait for a --max_concurrent slot, first in first out; one more is refused at once",
    default: String(defaultBulkheadSettings.maxQueue),
  },
  load_shedding: {
    usage:
      "on sheds calls while the process is overloaded (CPU or event-loop delay); --load_shedding_cpu or --load_shedding_delay turns it on too",
    default: "off",
  },
  load_shedding_cpu: {
    usage: "CPU time, in percent of one core (up to 400), at or above which the process counts as overloaded",
    default: `${defaultLoadThresholds.cpuThreshold * 100}%`,
  },
  load_shedding_delay: {
    usage: "event-loop delay (p99) at or above which the process counts as overloaded; with a unit, such as 100ms",
    default: durationText(defaultLoadThresholds.eventLoopDelayMs),
  },
};

/**
 * Protection given by `MICRO_*`, then `TSMICRO_*` variables, then flags
 * (later wins); only what is given. `--rate_limit=100` is 100 calls per
 * second for the server, `--max_concurrent=0` (or `off`) is no limit. A bad
 * value is a SetupError naming the variable or flag.
 */
export function protectionSettingsFrom(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ProtectionOptions {
  return readFlags(flags, args, env, {} as ProtectionOptions, mergeProtection);
}

/** `over` laid over `base` setting by setting (per-method entries kept from `base` unless `over` has some), as flags over code. */
export function mergeProtection(base: ProtectionOptions, over: ProtectionOptions): ProtectionOptions {
  const merged: { -readonly [K in keyof ProtectionOptions]: ProtectionOptions[K] } = {};
  if (base.rateLimit || over.rateLimit) merged.rateLimit = { ...base.rateLimit, ...over.rateLimit };
  if (base.bulkhead || over.bulkhead) merged.bulkhead = { ...base.bulkhead, ...over.bulkhead };
  if (base.loadShedder || over.loadShedder) merged.loadShedder = { ...base.loadShedder, ...over.loadShedder };
  return merged;
}

/**
 * The middleware `options` ask for, leaving out what limits nothing, so an
 * unconfigured server pays for none of it. Put them first in a service's
 * `serverMiddleware`, so a refused call costs no other middleware's work.
 */
export function protectionMiddleware(options: ProtectionOptions): Protection {
  const middleware: ServerMiddleware[] = [];
  const { rateLimit, bulkhead, loadShedder } = options;
  const limited = (perMethod: Readonly<Record<string, object>> | undefined) => Object.keys(perMethod ?? {}).length > 0;
  if (rateLimit && ((rateLimit.rate ?? Infinity) !== Infinity || limited(rateLimit.perMethod)))
    middleware.push(rateLimitMiddleware(rateLimit));
  const shedder = loadShedder && loadShedder.enabled !== false ? loadShedderMiddleware(loadShedder) : undefined;
  if (shedder) middleware.push(shedder);
  if (bulkhead && ((bulkhead.maxConcurrent ?? Infinity) !== Infinity || limited(bulkhead.perMethod)))
    middleware.push(bulkheadMiddleware(bulkhead));
  return { middleware, stop: () => shedder?.stop() };
}

/** Calls per second or slots: a positive number (whole for slots), or 0 / `off` for no limit. */
function limit(value: string, source: string, whole: boolean): number {
  const v = value.trim().toLowerCase();
  if (v === "off" || v === "0") return Infinity;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0) || (whole && !Number.isInteger(n))) {
    const expected = whole ? "a whole number >= 1" : "calls per second > 0";
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      `expected ${expected}, or 0 or off for no limit`,
    );
  }
  return n;
}
