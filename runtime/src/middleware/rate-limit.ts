import { errorReasonDetail, type ErrorDetail, retryDelayDetail } from "../errors/error-details.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { ServerMiddleware } from "../transport/transport.js";
import { failedCall } from "../transport/call-result.js";
import { checkMethodKey, defined } from "./bulkhead.js";
import { fullBucket, takeToken, type TokenBucket } from "./token-bucket.js";

/** One token bucket: how many calls per second it sustains and how many it lets through at once. */
export interface RateLimitSettings {
  /** Calls per second, sustained (fractions allowed: 0.5 is one call every 2 s). Infinity, the default, is no limit. */
  readonly rate: number;
  /**
   * Calls let through at once after a quiet spell: the bucket's size, and
   * how full it starts. Default: the rate rounded up (at least 1), so a
   * second's budget may be spent in one go.
   */
  readonly burst: number | undefined;
}

/**
 * Options of rateLimitMiddleware: a budget for the whole server, then per
 * method, each method's entry overriding the server's setting by setting.
 */
export interface RateLimitOptions extends Partial<RateLimitSettings> {
  /**
   * By gRPC path (`"/greeter.v1.Greeter/SayHello"`, `MethodDefinition.path`).
   * A method listed here has a bucket of its own and does not draw on the
   * shared one; `{ rate: Infinity }` leaves it unlimited.
   */
  readonly perMethod?: Readonly<Record<string, Partial<RateLimitSettings>>>;
  /** The clock, in milliseconds; default `Date.now`. Tests pass a fake one. */
  readonly now?: () => number;
}

/** The `google.rpc.ErrorInfo` domain and reason of a call refused by a rate limit. */
export const rateLimitedReason = { domain: "tsmicro.runtime", reason: "RATE_LIMITED" } as const;

/** Defaults, applied here and nowhere else: no limit. */
export const defaultRateLimitSettings: RateLimitSettings = { rate: Infinity, burst: undefined };

/**
 * Limits calls per second with token buckets: one shared by every method
 * without an entry of its own in `perMethod`, and one per listed method. A
 * stream takes one token when it starts. A call over budget fails at once
 * with RESOURCE_EXHAUSTED, which is retryable: the budget is this node's, so
 * another node may have room (the client's `--client_retries` and deadline
 * bound the retries). Its details name the reason (RATE_LIMITED) and, as
 * `google.rpc.RetryInfo`, when this node will have a token again.
 */
export function rateLimitMiddleware(options: RateLimitOptions = {}): ServerMiddleware {
  const now = options.now ?? Date.now;
  const base: RateLimitSettings = { ...defaultRateLimitSettings, ...defined(pick(options)) };
  checkRateLimitSettings(base, "rateLimit");
  const start = now();
  const shared = bucket(base, start);
  const own = new Map<string, TokenBucket | undefined>();
  for (const [path, entry] of Object.entries(options.perMethod ?? {})) {
    checkMethodKey(path, "rateLimit.perMethod");
    // A method that sets its rate but not its burst gets the burst of its own rate, not the server's.
    const merged = { ...base, ...(entry.rate !== undefined ? { burst: undefined } : {}), ...defined(entry) };
    own.set(path, bucket(checkRateLimitSettings(merged, `rateLimit.perMethod["${path}"]`), start));
  }

  return (next) => (call) => {
    const path = call.method.path;
    const b = own.has(path) ? own.get(path) : shared;
    if (!b) return next(call);
    const waitMs = takeToken(b, now());
    if (waitMs === 0) return next(call);
    return failedCall(
      call.method.kind,
      new TsmicroError(Code.RESOURCE_EXHAUSTED, `rate limit exceeded for ${path}: ${b.rate}/s`, {
        details: refusalDetails(path, b, waitMs),
      }),
    );
  };
}

/** Checks settings given in code, so a mistake is reported when the middleware is made, naming where. */
export function checkRateLimitSettings(settings: RateLimitSettings, where: string): RateLimitSettings {
  const { rate, burst } = settings;
  if (!(rate > 0))
    throw new SetupError(
      "TSM_ERR_FLAG",
      `${where}.rate`,
      JSON.stringify(rate),
      "expected calls per second > 0, or Infinity for no limit",
    );
  if (burst !== undefined && !(Number.isInteger(burst) && burst >= 1))
    throw new SetupError("TSM_ERR_FLAG", `${where}.burst`, JSON.stringify(burst), "expected a whole number >= 1");
  return settings;
}

function pick(options: RateLimitOptions): Partial<RateLimitSettings> {
  return { rate: options.rate, burst: options.burst };
}

/** A full bucket, or none for an unlimited rate. */
function bucket(settings: RateLimitSettings, at: number): TokenBucket | undefined {
  return settings.rate === Infinity ? undefined : fullBucket(settings.rate, settings.burst, at);
}

function refusalDetails(path: string, b: TokenBucket, waitMs: number): ErrorDetail[] {
  return [
    errorReasonDetail(rateLimitedReason.reason, rateLimitedReason.domain, {
      method: path,
      rate: String(b.rate),
      burst: String(b.burst),
    }),
    retryDelayDetail(waitMs),
  ];
}
