import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import type { MethodDefinition, MethodKind, ServiceDefinition } from "../definition/definition.js";
import { errorReasonOf } from "../errors/error-details.js";
import { isSetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { RetryInfo } from "../gen/google/rpc/error_details.js";
import type { CallResult, ServerCall, ServerHandler } from "../transport/transport.js";
import { rateLimitMiddleware, type RateLimitOptions } from "./rate-limit.js";

const service = { typeName: "t.v1.Shop" } as ServiceDefinition;

function callOf(name: string, kind: MethodKind = "unary"): ServerCall {
  const method = { name, path: `/t.v1.Shop/${name}`, kind } as MethodDefinition;
  const context = { method, metadata: {}, deadline: undefined, signal: new AbortController().signal } as CallContext;
  return { service, method, request: {}, context };
}

/** A limiter over a handler that answers at once, on a clock the test moves. */
function limited(options: Omit<RateLimitOptions, "now">) {
  const clock = { t: 1_000_000 };
  const served: string[] = [];
  const handler: ServerHandler = (call): CallResult => {
    served.push(call.method.name);
    if (call.method.kind === "server_streaming") {
      return (async function* () {
        yield 1;
        yield 2;
        yield 3;
      })();
    }
    return Promise.resolve("ok");
  };
  const serve = rateLimitMiddleware({ ...options, now: () => clock.t })(handler);
  /** Calls `name` n times; returns how many succeeded before the first refusal, and that refusal. */
  const burst = async (name: string, n: number): Promise<{ passed: number; error?: TsmicroError }> => {
    let passed = 0;
    for (let i = 0; i < n; i++) {
      try {
        await serve(callOf(name));
        passed++;
      } catch (error) {
        return { passed, error: error as TsmicroError };
      }
    }
    return { passed };
  };
  return { clock, served, serve, burst };
}

describe("rateLimitMiddleware", () => {
  it("lets a burst through, refuses the next call with a retryable RESOURCE_EXHAUSTED, and refills at the rate", async () => {
    const { clock, served, burst } = limited({ rate: 2, burst: 5 });
    const first = await burst("Buy", 6);
    expect(first.passed).toBe(5);
    expect(first.error).toBeInstanceOf(TsmicroError);
    expect(first.error).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      message: "rate limit exceeded for /t.v1.Shop/Buy: 2/s",
      retryable: true,
    });
    expect(errorReasonOf(first.error)).toMatchObject({ domain: "tsmicro.runtime", reason: "RATE_LIMITED" });
    expect(served).toHaveLength(5);

    clock.t += 499;
    expect((await burst("Buy", 1)).passed).toBe(0);
    clock.t += 1; // half a second at 2/s: one token
    expect(await burst("Buy", 2)).toMatchObject({ passed: 1 });
    clock.t += 60_000; // a long quiet spell refills only up to the burst
    expect((await burst("Buy", 10)).passed).toBe(5);
  });

  it("tells the caller, as RetryInfo, when this node has a token again", async () => {
    const { burst } = limited({ rate: 4, burst: 1 });
    const { error } = await burst("Buy", 2);
    const detail = error?.details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.RetryInfo");
    expect(detail).toBeDefined();
    const delay = RetryInfo.decode(detail!.value).retryDelay;
    expect(delay).toEqual({ seconds: 0n, nanos: 250_000_000 });
  });

  it("gives methods listed per method a bucket of their own, merged over the server's settings", async () => {
    const { burst } = limited({
      rate: 1,
      burst: 2,
      perMethod: {
        "/t.v1.Shop/Browse": { burst: 4 }, // keeps the server's rate
        "/t.v1.Shop/Export": { rate: 1 }, // its own rate, so its own burst of 1
        "/t.v1.Shop/Health": { rate: Infinity },
      },
    });
    expect((await burst("Browse", 10)).passed).toBe(4);
    expect((await burst("Export", 10)).passed).toBe(1);
    expect((await burst("Health", 100)).passed).toBe(100);
    // Buy and Sell share the server's bucket of 2, untouched by the methods above.
    expect((await burst("Buy", 1)).passed).toBe(1);
    expect((await burst("Sell", 10)).passed).toBe(1);
  });

  it("limits nothing without a rate", async () => {
    const { burst } = limited({});
    expect((await burst("Buy", 1000)).passed).toBe(1000);
  });

  it("takes one token when a stream starts, however many messages it carries, and refuses a stream without running it", async () => {
    const { served, serve } = limited({ rate: 1, burst: 1 });
    const received: unknown[] = [];
    for await (const message of serve(callOf("Watch", "server_streaming")) as AsyncIterable<unknown>)
      received.push(message);
    expect(received).toEqual([1, 2, 3]);
    const refused = (serve(callOf("Watch", "server_streaming")) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await expect(refused.next()).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(served).toEqual(["Watch"]);
  });

  it("refuses, when made, a key that is not a gRPC path and a rate that is not positive", () => {
    const made = (options: RateLimitOptions) => {
      try {
        rateLimitMiddleware(options);
        return undefined;
      } catch (error) {
        return error;
      }
    };
    const badKey = made({ rate: 1, perMethod: { "Shop.Buy": { rate: 2 } } });
    expect(isSetupError(badKey) && badKey.message).toContain('"Shop.Buy"');
    expect(isSetupError(made({ rate: 0 }))).toBe(true);
    expect(isSetupError(made({ rate: 5, burst: 0.5 }))).toBe(true);
    expect(made({ rate: 0.5 })).toBeUndefined();
  });
});
