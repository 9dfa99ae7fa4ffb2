import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { MethodDefinition } from "../definition/definition.js";
import { retryDelayOf } from "../errors/error-details.js";
import { failedServiceKey } from "../errors/failed-service.js";
import { isSetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { activeTraceFields } from "../tracing/active-trace-fields.js";
import { tracingServerMiddleware } from "../tracing/server-middleware.js";
import { startUnitTracing } from "../tracing/testdata/unit-tracing.js";
import type { Tracing } from "../tracing/tracing.js";
import { deadlinePassedBeforeSending } from "../transport/call-errors.js";
import type { ClientCall, ClientHandler, ServerCall } from "../transport/transport.js";
import { breakerMiddleware, isBreakerOpen, type BreakerMiddleware, type BreakerOptions } from "./breaker.js";
import { breakerSettingsFrom } from "./breaker-settings.js";

const codec = {
  encode: () => ({ finish: () => new Uint8Array() }),
  decode: () => ({}),
  fromJSON: () => ({}),
  toJSON: () => ({}),
  fromPartial: () => ({}),
};
const method = (name: string, kind: MethodDefinition["kind"] = "unary"): MethodDefinition => ({
  name,
  path: `/user.v1.Users/${name}`,
  kind,
  input: codec,
  output: codec,
  inputType: "t.Req",
  outputType: "t.Res",
  idempotency: "unknown",
  deprecated: false,
  http: [],
});
const login = method("Login");
const profile = method("Profile");
const watch = method("Watch", "server_streaming");

const call = (m: MethodDefinition, extra: Partial<ClientCall> = {}): ClientCall => ({
  service: "user",
  method: m,
  request: {},
  metadata: {},
  deadline: new Date(Date.now() + 5_000),
  signal: undefined,
  ...extra,
});

/** A fake callee: counts the calls that reach it and answers as `answer` says. */
function callee(answer: (call: ClientCall) => unknown = () => ({ ok: true })) {
  const seen: ClientCall[] = [];
  const next: ClientHandler = async (c) => {
    seen.push(c);
    return answer(c);
  };
  return { next, seen };
}

const internal = () => {
  throw new TsmicroError(Code.INTERNAL, "boom");
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Settings small enough for tests: opens once 4 calls in the window mostly failed, probes after 100 ms. */
const quick: BreakerOptions = { volumeThreshold: 4, resetTimeoutMs: 100 };

const made: BreakerMiddleware[] = [];
function breaker(options: BreakerOptions): BreakerMiddleware {
  const middleware = breakerMiddleware(options);
  made.push(middleware);
  return middleware;
}
afterEach(() => {
  for (const middleware of made.splice(0)) middleware.stop();
});

async function failures(send: ClientHandler, c: ClientCall, times: number): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (let i = 0; i < times; i++) await (send(c) as Promise<unknown>).catch((error: unknown) => errors.push(error));
  return errors;
}

describe("breakerMiddleware", () => {
  it("opens after the volume threshold of failures and then fails fast without calling the callee", async () => {
    const middleware = breaker(quick);
    const { next, seen } = callee(internal);
    const send = middleware(next);

    const first = await failures(send, call(login), 4);
    expect(seen).toHaveLength(4);
    expect(first.every((e) => e instanceof TsmicroError && e.code === Code.INTERNAL && !isBreakerOpen(e))).toBe(true);
    expect(middleware.stats("user", login.path)?.state).toBe("open");

    const [error] = await failures(send, call(login), 1);
    expect(seen).toHaveLength(4);
    expect(isBreakerOpen(error)).toBe(true);
    expect(error).toMatchObject({ code: Code.UNAVAILABLE, retryable: false });
    expect((error as Error).message).toContain("circuit breaker open for user /user.v1.Users/Login");
    expect(middleware.stats("user", login.path)).toMatchObject({ failures: 4, rejects: 1 });
  });

  it("says in its refusals when the next probe goes through: what is left of the reset timeout", async () => {
    const middleware = breaker({ volumeThreshold: 4, resetTimeoutMs: 10_000 });
    const send = middleware(callee(internal).next);
    await failures(send, call(login), 4);
    const delayOf = async () => {
      const [error] = await failures(send, call(login), 1);
      expect(isBreakerOpen(error)).toBe(true);
      return retryDelayOf(error as TsmicroError)!;
    };
    const first = await delayOf();
    expect(first).toBeGreaterThan(9_000);
    expect(first).toBeLessThanOrEqual(10_000);
    await sleep(1_200);
    expect(await delayOf()).toBeLessThanOrEqual(first - 1_000);
  });

  it("passes calls and answers through unchanged while closed", async () => {
    const send = breaker(quick)(callee((c) => ({ echo: c.request })).next);
    expect(await send(call(login, { request: { name: "ada" } }))).toEqual({ echo: { name: "ada" } });
  });

  it("never opens on business errors, and throws them to the caller unchanged", async () => {
    const middleware = breaker(quick);
    const notFound = new TsmicroError(Code.NOT_FOUND, "no such user");
    const codes = [Code.NOT_FOUND, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION, Code.PERMISSION_DENIED];
    let i = 0;
    const { next, seen } = callee(() => {
      throw i++ === 0 ? notFound : new TsmicroError(codes[i % codes.length]!, "no");
    });
    const errors = await failures(middleware(next), call(login), 40);
    expect(seen).toHaveLength(40);
    expect(errors[0]).toBe(notFound);
    expect(errors.some(isBreakerOpen)).toBe(false);
    expect(middleware.stats("user", login.path)).toMatchObject({ state: "closed", failures: 0, successes: 40 });
  });

  it("never opens on messages over a size limit: the caller's size, not the callee in trouble", async () => {
    const middleware = breaker(quick);
    const { next } = callee(() => {
      throw new TsmicroError(
        Code.RESOURCE_EXHAUSTED,
        "the client received a message of 2000076 bytes, over its limit of 1048576 (--client_max_recv_msg_size)",
        { retryable: false },
      );
    });
    const errors = await failures(middleware(next), call(login), 40);
    expect(errors.some(isBreakerOpen)).toBe(false);
    expect(middleware.stats("user", login.path)).toMatchObject({ state: "closed", failures: 0 });
  });

  it("does not count calls the caller cancelled", async () => {
    const middleware = breaker(quick);
    const controller = new AbortController();
    controller.abort();
    const { next, seen } = callee(() => {
      throw new TsmicroError(Code.UNAVAILABLE, "call cancelled by the caller");
    });
    await failures(middleware(next), call(login, { signal: controller.signal }), 10);
    expect(seen).toHaveLength(10);
    expect(middleware.stats("user", login.path)?.state).toBe("closed");
  });

  it("does not count calls not sent because their deadline had passed (a handler's, past its served call's)", async () => {
    const middleware = breaker(quick);
    const { next, seen } = callee((c) => {
      throw deadlinePassedBeforeSending({ ...c, deadline: new Date(Date.now() - 1) });
    });
    const errors = await failures(middleware(next), call(login), 10);
    expect(seen).toHaveLength(10);
    expect(errors.some(isBreakerOpen)).toBe(false);
    expect(middleware.stats("user", login.path)?.state).toBe("closed");
  });

  it("does not count a callee's answer passing on another service's failure: that service's callers' breakers do", async () => {
    const middleware = breaker(quick);
    const { next, seen } = callee(() => {
      throw new TsmicroError(Code.UNAVAILABLE, "no nodes of service stock are registered", {
        metadata: { [failedServiceKey]: "stock" },
      });
    });
    const errors = await failures(middleware(next), call(login), 10);
    expect(seen).toHaveLength(10);
    expect(errors.some(isBreakerOpen)).toBe(false);
    expect(middleware.stats("user", login.path)?.state).toBe("closed");
  });

  it("lets exactly one probe through after the reset timeout; a failed probe reopens it, a good one closes it", async () => {
    const logged: string[] = [];
    const lines: object[] = [];
    const record = (fields: object) => {
      lines.push(fields);
      logged.push((fields as { state?: string }).state ?? "?");
    };
    const logger = { warn: record, info: record } as unknown as Logger;
    const middleware = breaker({ ...quick, logger });
    let healthy = false;
    const { next, seen } = callee((c) => (healthy ? { ok: c.method.name } : internal()));
    const send = middleware(next);
    await failures(send, call(login), 4);
    expect(logged).toEqual(["open"]);
    // The service called is `target`: the caller's logger has a `service` of its own.
    expect(lines[0]).toMatchObject({ target: "user", method: login.path, state: "open" });
    expect(lines[0]).not.toHaveProperty("service");

    await sleep(150);
    expect(middleware.stats("user", login.path)?.state).toBe("halfOpen");
    const burst = await Promise.allSettled([1, 2, 3].map(() => send(call(login)) as Promise<unknown>));
    expect(seen).toHaveLength(5);
    expect(burst.filter((r) => r.status === "rejected" && isBreakerOpen(r.reason))).toHaveLength(2);
    expect(middleware.stats("user", login.path)?.state).toBe("open");

    healthy = true;
    await sleep(150);
    expect(await send(call(login))).toEqual({ ok: "Login" });
    expect(middleware.stats("user", login.path)?.state).toBe("closed");
    expect(await send(call(login))).toEqual({ ok: "Login" });
    expect(seen).toHaveLength(7);
    expect(logged).toEqual(["open", "halfOpen", "open", "halfOpen", "closed"]);
  });

  it("answers with the method's fallback while open and on counted failures, never on business errors", async () => {
    const reasons: string[] = [];
    const middleware = breaker({
      ...quick,
      perMethod: {
        "user/Login": {
          fallback: (c, error) => {
            reasons.push(isBreakerOpen(error) ? "open" : (error as TsmicroError).message);
            return { degraded: c.method.name };
          },
        },
      },
    });
    let answer: () => unknown = internal;
    const { next, seen } = callee(() => answer());
    const send = middleware(next);
    for (let i = 0; i < 6; i++) expect(await send(call(login))).toEqual({ degraded: "Login" });
    expect(seen).toHaveLength(4);
    expect(reasons).toEqual(["boom", "boom", "boom", "boom", "open", "open"]);

    const notFound = new TsmicroError(Code.NOT_FOUND, "no such user");
    answer = () => {
      throw notFound;
    };
    const fresh = breaker({ perMethod: { "user/Login": { fallback: () => "degraded" } } });
    await expect(fresh(next)(call(login))).rejects.toBe(notFound);
  });

  it("lets at most maxConcurrent calls of a method through at once: one more fails fast, or gets the fallback", async () => {
    const releases: (() => void)[] = [];
    const { next, seen } = callee(() => new Promise((resolve) => releases.push(() => resolve({ ok: true }))));
    const handler = breaker({ maxConcurrent: 2 })(next);
    const send = (c: ClientCall) => handler(c) as Promise<unknown>;
    const inFlight = [send(call(login)), send(call(login))];
    const beyond = await send(call(login)).catch((error: unknown) => error);
    expect(beyond).toBeInstanceOf(TsmicroError);
    expect((beyond as TsmicroError).code).toBe(Code.RESOURCE_EXHAUSTED);
    expect((beyond as TsmicroError).retryable).toBe(false);
    expect((beyond as TsmicroError).message).toContain("2 calls of user /user.v1.Users/Login are in flight");
    // Another method has its own breaker and its own count.
    const other = send(call(profile));
    expect(seen).toHaveLength(3);
    for (const release of releases) release();
    await Promise.all([...inFlight, other]);
    // Once they are answered, calls go through again.
    const again = send(call(login));
    await vi.waitFor(() => expect(seen).toHaveLength(4));
    releases.at(-1)!();
    await expect(again).resolves.toEqual({ ok: true });

    const full = breaker({ perMethod: { "user/Login": { maxConcurrent: 1, fallback: () => "degraded" } } })(
      callee(() => new Promise(() => undefined)).next,
    );
    const withFallback = (c: ClientCall) => full(c) as Promise<unknown>;
    void withFallback(call(login));
    expect(await withFallback(call(login))).toBe("degraded");
  });

  it("merges per-method over per-service over global settings", async () => {
    const middleware = breaker({
      volumeThreshold: 100,
      resetTimeoutMs: 1_000,
      perService: { user: { volumeThreshold: 8 } },
      perMethod: {
        "/user.v1.Users/Login": { volumeThreshold: 2, errorThresholdPercentage: 90 },
        "user/Login": { volumeThreshold: 3 },
      },
    });
    const { next, seen } = callee(internal);
    const send = middleware(next);
    await failures(send, call(login), 6);
    await failures(send, call(profile), 6);
    expect(seen.filter((c) => c.method === login)).toHaveLength(3);
    expect(seen.filter((c) => c.method === profile)).toHaveLength(6);
    expect(middleware.stats("user", login.path)).toMatchObject({
      state: "open",
      settings: { volumeThreshold: 3, errorThresholdPercentage: 90, resetTimeoutMs: 1_000 },
    });
    expect(middleware.stats("user", profile.path)?.state).toBe("closed");
    expect(middleware.list().map((s) => s.method)).toEqual([login.path, profile.path]);
  });

  it("lets calls through unguarded where it is disabled", async () => {
    const middleware = breaker({ ...quick, perMethod: { "user/Login": { enabled: false } } });
    const { next, seen } = callee(internal);
    await failures(middleware(next), call(login), 20);
    expect(seen).toHaveLength(20);
    expect(middleware.stats("user", login.path)).toBeUndefined();
  });

  it("cuts the call's deadline to timeoutMs when set, and leaves it alone by default", async () => {
    const { next, seen } = callee();
    const far = new Date(Date.now() + 60_000);
    await breaker({ perMethod: { "user/Login": { timeoutMs: 200 } } })(next)(call(login, { deadline: far }));
    await breaker({})(next)(call(login, { deadline: far }));
    expect(seen[0]!.deadline!.getTime()).toBeLessThanOrEqual(Date.now() + 200);
    expect(seen[1]!.deadline).toBe(far);
  });

  it("rejects settings and method keys it cannot use, naming them", () => {
    const attempt = (options: BreakerOptions) => {
      try {
        breakerMiddleware(options);
      } catch (error) {
        return isSetupError(error) ? error.message : "not a SetupError";
      }
      return "accepted";
    };
    expect(attempt({ perMethod: { "Users.Login": {} } })).toContain('"<service>/<Method>"');
    expect(attempt({ perService: { user: { errorThresholdPercentage: 0 } } })).toContain(
      "perService[user].errorThresholdPercentage",
    );
    expect(attempt({ volumeThreshold: -1 })).toContain("volumeThreshold");
    // A key it does not know would be ignored: a typo, or a method's settings at the top level.
    expect(attempt({ volumeTreshold: 5 } as BreakerOptions)).toContain("did you mean volumeThreshold?");
    expect(attempt({ "user/GetUser": { volumeThreshold: 5 } } as BreakerOptions)).toContain(
      "breakerMiddleware options.user/GetUser",
    );
    expect(attempt({ perMethod: { "user/Login": { fallback: () => "x", volumeThreshold: 2 } } })).toBe("accepted");
  });
});

describe("breakerMiddleware on server streams", () => {
  function streamCallee(script: () => AsyncIterable<unknown>) {
    let opened = 0;
    let closed = 0;
    const next: ClientHandler = () => {
      opened++;
      return (async function* () {
        try {
          yield* script();
        } finally {
          closed++;
        }
      })();
    };
    return { next, opened: () => opened, closed: () => closed };
  }
  const collect = async (stream: AsyncIterable<unknown>) => {
    const got: unknown[] = [];
    try {
      for await (const message of stream) got.push(message);
    } catch (error) {
      got.push(error);
    }
    return got;
  };

  it("counts an error before the first message, not one after it", async () => {
    const middleware = breaker(quick);
    let failFirst = false;
    const source = streamCallee(async function* () {
      if (failFirst) internal();
      yield 1;
      yield 2;
      internal();
    });
    const send = middleware(source.next);
    for (let i = 0; i < 6; i++) {
      const got = await collect(send(call(watch)) as AsyncIterable<unknown>);
      expect(got.slice(0, 2)).toEqual([1, 2]);
      expect(got[2]).toMatchObject({ code: Code.INTERNAL });
    }
    expect(middleware.stats("user", watch.path)?.state).toBe("closed");

    // 6 answered streams in the window, so it takes 7 failures to pass 50 %.
    failFirst = true;
    for (let i = 0; i < 7; i++) await collect(send(call(watch)) as AsyncIterable<unknown>);
    const [error] = await collect(send(call(watch)) as AsyncIterable<unknown>);
    expect(isBreakerOpen(error)).toBe(true);
    expect(source.opened()).toBe(13);
  });

  it("closes the callee's stream when the caller stops early", async () => {
    const source = streamCallee(async function* () {
      yield 1;
      yield 2;
      yield 3;
    });
    const send = breaker(quick)(source.next);
    const got: unknown[] = [];
    for await (const message of send(call(watch)) as AsyncIterable<unknown>) {
      got.push(message);
      break;
    }
    expect(got).toEqual([1]);
    expect(source.closed()).toBe(1);
  });

  it("streams the fallback on counted failures and while open", async () => {
    const middleware = breaker({
      ...quick,
      perMethod: {
        "/user.v1.Users/Watch": {
          fallback: async function* () {
            yield "cached";
          },
        },
      },
    });
    // biome-ignore lint/correctness/useYield: a stream that fails before its first message yields nothing.
    const failing = streamCallee(async function* () {
      internal();
    });
    const send = middleware(failing.next);
    for (let i = 0; i < 6; i++) expect(await collect(send(call(watch)) as AsyncIterable<unknown>)).toEqual(["cached"]);
    expect(failing.opened()).toBe(4);
    expect(middleware.stats("user", watch.path)?.state).toBe("open");
  });
});

describe("breakerSettingsFrom", () => {
  it("reads TSMICRO_BREAKER_* (MICRO_* as alias) and --breaker_* flags, flags last", () => {
    expect(
      breakerSettingsFrom(["--breaker_reset_timeout=250ms", "--other=1"], {
        MICRO_BREAKER_ERROR_THRESHOLD: "20",
        TSMICRO_BREAKER_ERROR_THRESHOLD: "75%",
        TSMICRO_BREAKER_VOLUME_THRESHOLD: "5",
        TSMICRO_BREAKER_RESET_TIMEOUT: "2",
        TSMICRO_BREAKER_WINDOW: "30s",
        TSMICRO_BREAKER: "off",
      }),
    ).toEqual({
      enabled: false,
      errorThresholdPercentage: 75,
      volumeThreshold: 5,
      resetTimeoutMs: 250,
      rollingCountTimeoutMs: 30_000,
    });
  });

  it("names the variable holding a bad value", () => {
    expect(() => breakerSettingsFrom([], { TSMICRO_BREAKER_VOLUME_THRESHOLD: "many" })).toThrow(
      /TSMICRO_BREAKER_VOLUME_THRESHOLD has an invalid value "many"/,
    );
  });
});

describe("breaker lines and traces", () => {
  let tracing: Tracing;
  beforeAll(async () => {
    tracing = await startUnitTracing();
  });
  afterAll(async () => {
    await tracing.shutdown();
  });

  it("logs opening with the trace of the call that opened it, and half-opening (a timer) with none", async () => {
    const lines: { state?: string; trace: string | undefined }[] = [];
    const record = (fields: { state?: string }) =>
      lines.push({ state: fields.state, trace: activeTraceFields()?.trace_id });
    const middleware = breaker({ ...quick, logger: { warn: record, info: record } as unknown as Logger });
    const send = middleware(callee(internal).next);
    const opener = tracingServerMiddleware(() => tracing)(async () => {
      await failures(send, call(login), 4);
      return activeTraceFields()?.trace_id;
    });
    const traceId = await (opener({
      method: { path: "/pkg.v1.Things/Open", kind: "unary" },
      request: {},
      context: { metadata: {}, peer: "ipv4:127.0.0.1:50123" },
    } as unknown as ServerCall) as Promise<string | undefined>);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    await sleep(150);
    expect(lines).toEqual([
      { state: "open", trace: traceId },
      { state: "halfOpen", trace: undefined },
    ]);
  });
});
