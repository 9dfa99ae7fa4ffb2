import { describe, expect, it } from "vitest";
import { isSetupError } from "@tsmicro/runtime";
import { createClientLimiter, type ClientLimiterOptions } from "./client-limits.js";

/** A limiter on a clock the test moves. */
function limiter(options: Omit<ClientLimiterOptions, "now">) {
  const clock = { t: 5_000_000 };
  const limits = createClientLimiter({ ...options, now: () => clock.t });
  /** How many of n takes pass before the first refusal. */
  const passes = (route: string, client: string, n: number): number => {
    for (let i = 0; i < n; i++) if (!limits.take(route, client).ok) return i;
    return n;
  };
  return { clock, limits, passes };
}

function setupErrorOf(make: () => unknown): string | undefined {
  try {
    make();
    return undefined;
  } catch (error) {
    return isSetupError(error) ? `${error.code}: ${error.message}` : String(error);
  }
}

describe("createClientLimiter", () => {
  it("lets a burst through, then refuses with the whole seconds until a token is back", () => {
    const { clock, limits, passes } = limiter({ rate: 0.5, burst: 3 });
    expect(passes("r", "alice", 10)).toBe(3);
    // One token every 2 s: Retry-After counts down in whole seconds, never 0.
    expect(limits.take("r", "alice")).toEqual({ ok: false, retryAfterSeconds: 2 });
    clock.t += 1_001;
    expect(limits.take("r", "alice")).toEqual({ ok: false, retryAfterSeconds: 1 });
    clock.t += 998;
    expect(limits.take("r", "alice")).toEqual({ ok: false, retryAfterSeconds: 1 });
    clock.t += 1;
    expect(limits.take("r", "alice")).toEqual({ ok: true });
  });

  it("answers Retry-After 1 when a token is less than a second away", () => {
    const { limits, passes } = limiter({ rate: 10, burst: 1 });
    expect(passes("r", "c", 5)).toBe(1);
    expect(limits.take("r", "c")).toEqual({ ok: false, retryAfterSeconds: 1 });
  });

  it("refills at the rate, up to the burst only", () => {
    const { clock, passes } = limiter({ rate: 2, burst: 4 });
    expect(passes("r", "c", 10)).toBe(4);
    clock.t += 1_000;
    expect(passes("r", "c", 10)).toBe(2);
    clock.t += 3_600_000;
    expect(passes("r", "c", 10)).toBe(4);
  });

  it("gives the burst of the rate rounded up when none is set", () => {
    const { passes } = limiter({ rate: 2.5 });
    expect(passes("r", "c", 10)).toBe(3);
  });

  it("keeps each client's budget apart, and each route's", () => {
    const { passes } = limiter({ rate: 1, burst: 2 });
    expect(passes("books.List", "alice", 5)).toBe(2);
    expect(passes("books.List", "bob", 5)).toBe(2);
    expect(passes("books.Get", "alice", 5)).toBe(2);
    expect(passes("books.List", "alice", 5)).toBe(0);
  });

  it("does not confuse a route and client pair with another that concatenates the same", () => {
    const { passes } = limiter({ rate: 1, burst: 1 });
    expect(passes("ab", "c", 2)).toBe(1);
    expect(passes("a", "bc", 2)).toBe(1);
  });

  it("tracks at most maxClients buckets, forgetting the least recently used one", () => {
    const { limits, passes } = limiter({ rate: 1, burst: 1, maxClients: 3 });
    for (const client of ["a", "b", "c"]) expect(passes("r", client, 2)).toBe(1);
    expect(passes("r", "a", 1)).toBe(0); // a is now the most recently used; b the least
    expect(passes("r", "d", 1)).toBe(1); // evicts b
    expect(limits.size).toBe(3);
    expect(passes("r", "a", 1)).toBe(0); // a is remembered, still empty
    expect(passes("r", "b", 1)).toBe(1); // b was forgotten, so it comes back full
    for (let i = 0; i < 10_000; i++) limits.take("r", `random-${i}`);
    expect(limits.size).toBe(3);
  });

  it("limits nothing at rate Infinity", () => {
    const { limits, passes } = limiter({ rate: Infinity });
    expect(passes("r", "c", 1000)).toBe(1000);
    expect(limits.size).toBe(0);
  });

  it("refuses, when made, a rate, burst or maxClients it cannot use, naming the setting", () => {
    expect(setupErrorOf(() => createClientLimiter({ rate: 0 }))).toBe(
      "TSM_ERR_GATEWAY_OPTION: clientLimiter.rate has an invalid value 0: expected calls per second > 0 (0.5 is one call every 2 s), or Infinity for no limit",
    );
    expect(setupErrorOf(() => createClientLimiter({ rate: NaN, where: "routes[1].rateLimit" }))).toContain(
      "routes[1].rateLimit.rate has an invalid value NaN",
    );
    expect(setupErrorOf(() => createClientLimiter({ rate: 1, burst: 1.5 }))).toContain(
      "clientLimiter.burst has an invalid value 1.5: expected a whole number >= 1",
    );
    expect(setupErrorOf(() => createClientLimiter({ rate: 1, maxClients: 0 }))).toContain(
      "clientLimiter.maxClients has an invalid value 0",
    );
    expect(setupErrorOf(() => createClientLimiter({ rate: 0.1 }))).toBeUndefined();
  });
});
