import { afterEach, describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import type { MethodDefinition, MethodKind, ServiceDefinition } from "../definition/definition.js";
import { errorReasonOf } from "../errors/error-details.js";
import { Code } from "../errors/tsmicro-error.js";
import type { CallResult, ServerCall, ServerHandler } from "../transport/transport.js";
import { loadShedderMiddleware, type LoadShedderMiddleware } from "./load-shedder.js";

const service = { typeName: "t.v1.Shop" } as ServiceDefinition;

function callOf(request: unknown, kind: MethodKind = "unary"): ServerCall {
  const method = { name: "Buy", path: "/t.v1.Shop/Buy", kind } as MethodDefinition;
  const context = { method, metadata: {}, deadline: undefined, signal: new AbortController().signal } as CallContext;
  return { service, method, request, context };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A shedder with a 1 s window of ten 100 ms buckets, a fake clock and a
 * switchable overload signal, over a handler whose calls the test settles.
 */
function shedding() {
  const clock = { t: 0 };
  const load = { overloaded: false };
  const running = new Map<unknown, { resolve: () => void; reject: () => void }>();
  let served = 0;
  const handler: ServerHandler = (call): CallResult => {
    served++;
    if (call.method.kind === "server_streaming") return (async function* () {})();
    return new Promise<void>((resolve, reject) =>
      running.set(call.request, { resolve, reject: () => reject(new Error("failed")) }),
    );
  };
  const shedder = loadShedderMiddleware({
    windowMs: 1_000,
    buckets: 10,
    coolOffMs: 1_000,
    now: () => clock.t,
    overloaded: () => load.overloaded,
  });
  const serve = shedder(handler);
  const call = (id: unknown) => {
    const result = serve(callOf(id)) as Promise<unknown>;
    result.catch(() => {});
    return result;
  };
  return { clock, load, running, shedder, serve, call, served: () => served };
}

/**
 * History: in bucket 0, two calls of 50 ms each, so the process holds
 * 2 × 50 / 100 = 1 call at once. Then, in bucket 1, eight calls pile up and
 * two of them fail, so the moving average of calls in flight passes 1.
 */
async function pileUp(s: ReturnType<typeof shedding>): Promise<void> {
  for (const id of ["h1", "h2"]) {
    s.clock.t = 0;
    const done = s.call(id);
    s.clock.t = 50;
    s.running.get(id)!.resolve();
    await done;
  }
  s.clock.t = 150;
  for (let i = 0; i < 10; i++) s.call(i);
  // Failures lower the count in flight (updating its average) without feeding latency.
  s.running.get(0)!.reject();
  s.running.get(1)!.reject();
  await tick();
}

describe("loadShedderMiddleware", () => {
  let made: LoadShedderMiddleware | undefined;
  afterEach(() => made?.stop());

  it("sheds with a retryable RESOURCE_EXHAUSTED only while overloaded and holding more calls than it can", async () => {
    const s = shedding();
    await pileUp(s);
    expect(s.shedder.stats()).toMatchObject({ inFlight: 8, maxInFlight: 1 });
    expect(s.shedder.stats().avgInFlight).toBeGreaterThan(1);

    // Calls piling up on a process that is not overloaded are only busy, not overload.
    const admitted = s.call("calm");
    expect(s.served()).toBe(13);

    s.load.overloaded = true;
    const before = s.served();
    const shed = s.call("hot");
    await expect(shed).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED, retryable: true });
    expect(errorReasonOf(await shed.catch((e: unknown) => e))).toMatchObject({ reason: "OVERLOADED" });
    expect(s.served()).toBe(before);
    expect(s.shedder.stats().shed).toBe(1);
    s.running.get("calm")!.resolve();
    await admitted;
  });

  it("keeps shedding through the cool-off after the signal clears, then admits again", async () => {
    const s = shedding();
    await pileUp(s);
    s.load.overloaded = true;
    await expect(s.call("hot")).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    s.load.overloaded = false;
    s.clock.t += 999;
    await expect(s.call("still hot")).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    s.clock.t += 1_001;
    const served = s.served();
    s.call("cool");
    expect(s.served()).toBe(served + 1);
  });

  it("admits calls on an overloaded process once the backlog has drained", async () => {
    const s = shedding();
    await pileUp(s);
    s.load.overloaded = true;
    await expect(s.call("hot")).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    for (let i = 2; i < 10; i++) s.running.get(i)!.reject();
    await tick();
    expect(s.shedder.stats().inFlight).toBe(0);
    const served = s.served();
    s.call("after");
    expect(s.served()).toBe(served + 1);
  });

  it("does not count open streams as calls in flight", async () => {
    const s = shedding();
    const stream = (s.serve(callOf("w", "server_streaming")) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    expect(s.shedder.stats().inFlight).toBe(0);
    await stream.next();
  });

  it("reads CPU and event-loop delay by default, and refuses bad options when made", () => {
    made = loadShedderMiddleware();
    expect(typeof made.stats().overloaded).toBe("boolean");
    expect(() => loadShedderMiddleware({ windowMs: 0 })).toThrow(/loadShedder\.windowMs/);
  });
});
