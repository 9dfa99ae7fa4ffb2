/** A token bucket: `rate` tokens a second flow in, up to `burst`; each call takes one. */
export interface TokenBucket {
  /** Tokens added per second (fractions allowed: 0.5 is one every 2 s). */
  readonly rate: number;
  /** The bucket's size: how many calls may pass at once after a quiet spell. */
  readonly burst: number;
  /** Tokens in the bucket when it was last brought up to date, fractions included. */
  tokens: number;
  /** When `tokens` was last brought up to date, in milliseconds. */
  at: number;
}

/** The burst of a rate that sets none: the rate rounded up, at least 1, so a second's budget may be spent at once. */
export function defaultBurst(rate: number): number {
  return Math.max(1, Math.ceil(rate));
}

/** A full bucket at time `at` (milliseconds); `burst` defaults to defaultBurst(rate). */
export function fullBucket(rate: number, burst: number | undefined, at: number): TokenBucket {
  const size = burst ?? defaultBurst(rate);
  return { rate, burst: size, tokens: size, at };
}

/**
 * Refills the bucket up to `now` (milliseconds) and takes one token if there is one. Returns 0
 * when it took a token, otherwise the milliseconds (> 0, rounded up) until one will be there.
 * A clock that steps back refills nothing rather than draining the bucket.
 */
export function takeToken(bucket: TokenBucket, now: number): number {
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + (Math.max(0, now - bucket.at) * bucket.rate) / 1000);
  bucket.at = Math.max(bucket.at, now);
  // Refilling in steps adds up rounding errors (0.5005 + 0.499 + 0.0005 < 1); a caller exactly on time passes.
  if (bucket.tokens >= 1 - 1e-9) {
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    return 0;
  }
  return Math.ceil(((1 - bucket.tokens) * 1000) / bucket.rate);
}
