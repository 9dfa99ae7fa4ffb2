import { SetupError } from "@tsmicro/runtime";
import { fullBucket, takeToken, type TokenBucket } from "@tsmicro/runtime/internal";

/** One budget: calls per second, sustained, and how many may pass at once. */
export interface ClientLimitSettings {
  /** Calls per second, sustained (fractions allowed: 0.5 is one call every 2 s); Infinity is no limit. */
  readonly rate: number;
  /** Calls let through at once after a quiet spell; default: the rate rounded up, at least 1. */
  readonly burst?: number;
}

/** Options of createClientLimiter. */
export interface ClientLimiterOptions extends ClientLimitSettings {
  /**
   * How many (route, client) buckets are kept, at most; past it the least recently used one is
   * forgotten, so clients with made-up keys cannot exhaust memory. Default 10 000.
   */
  readonly maxClients?: number;
  /** The clock, in milliseconds; default `Date.now`. Tests pass a fake one. */
  readonly now?: () => number;
  /** Names the limiter in setup errors, such as `routes[2].rateLimit`; default `clientLimiter`. */
  readonly where?: string;
}

/** What `take` answers: pass, or refuse with the whole seconds to wait (HTTP 429 `Retry-After`). */
export type ClientLimitResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

/** Token buckets keyed by (route, client). */
export interface ClientLimiter {
  /**
   * Takes a token from the bucket of `clientKey` on `routeKey` (made full on first use). When it
   * is empty, answers the seconds until it has a token, rounded up and at least 1.
   */
  take(routeKey: string, clientKey: string): ClientLimitResult;
  /** How many buckets are tracked now (at most `maxClients`). */
  readonly size: number;
}

/** Defaults, applied here and nowhere else. */
export const defaultMaxClients = 10_000;

const passed: ClientLimitResult = { ok: true };

/**
 * Rate limits per route and client with token buckets, all of the same rate and burst. A
 * forgotten (evicted) bucket comes back full: the bound trades a little budget for memory.
 */
export function createClientLimiter(options: ClientLimiterOptions): ClientLimiter {
  const where = options.where ?? "clientLimiter";
  const { rate, burst } = checkClientLimitSettings(options, where);
  const maxClients = options.maxClients ?? defaultMaxClients;
  if (!(Number.isInteger(maxClients) && maxClients >= 1))
    throw new SetupError(
      "TSM_ERR_GATEWAY_OPTION",
      `${where}.maxClients`,
      shown(maxClients),
      "expected a whole number >= 1",
    );
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order; re-inserting on each use keeps the least recently used first.
  const buckets = new Map<string, TokenBucket>();

  return {
    get size() {
      return buckets.size;
    },
    take(routeKey, clientKey) {
      if (rate === Infinity) return passed;
      // NUL cannot occur in an HTTP header or a route, so the pair cannot collide with another.
      const key = `${routeKey}\u0000${clientKey}`;
      const t = now();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = fullBucket(rate, burst, t);
        if (buckets.size >= maxClients) {
          const oldest = buckets.keys().next();
          if (oldest.done !== true) buckets.delete(oldest.value);
        }
      } else {
        buckets.delete(key);
      }
      buckets.set(key, bucket);
      const waitMs = takeToken(bucket, t);
      return waitMs === 0 ? passed : { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    },
  };
}

/** How settings given in code ask for no limit. */
export const noLimitInCode = ", or Infinity for no limit";

/**
 * Checks a rate and burst given in code or config, naming `where` (such as `routes[2].rateLimit`)
 * on a mistake; `noLimit` ends the hint for a bad rate, saying how no limit is written where the
 * settings come from (a JSON file cannot hold Infinity).
 */
export function checkClientLimitSettings(
  settings: ClientLimitSettings,
  where: string,
  noLimit = noLimitInCode,
): ClientLimitSettings {
  const { rate, burst } = settings;
  if (typeof rate !== "number" || !(rate > 0))
    throw new SetupError(
      "TSM_ERR_GATEWAY_OPTION",
      `${where}.rate`,
      shown(rate),
      `expected calls per second > 0 (0.5 is one call every 2 s)${noLimit}`,
    );
  if (burst !== undefined && !(Number.isInteger(burst) && burst >= 1))
    throw new SetupError(
      "TSM_ERR_GATEWAY_OPTION",
      `${where}.burst`,
      shown(burst),
      "expected a whole number >= 1: how many calls may pass at once",
    );
  return settings;
}

/** A value as a message shows it: numbers as written (NaN, Infinity), the rest as JSON. */
function shown(value: unknown): string {
  return typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value));
}
