import { afterEach, describe, expect, it, vi } from "vitest";
import type { CallContext } from "../definition/call.js";
import type { MethodDefinition, MethodKind, ServiceDefinition } from "../definition/definition.js";
import { errorReasonOf } from "../errors/error-details.js";
import { isSetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { CallResult, ServerCall, ServerHandler } from "../transport/transport.js";
import { bulkheadMiddleware, type BulkheadOptions } from "./bulkhead.js";

const service = { typeName: "t.v1.Shop" } as ServiceDefinition;

function callOf(
  name: string,
  options: { kind?: MethodKind; deadline?: Date; signal?: AbortSignal; request?: unknown } = {},
): ServerCall {
  const method = { name, path: `/t.v1.Shop/${name}`, kind: options.kind ?? "unary" } as MethodDefinition;
  const context = {
    method,
    metadata: {},
    deadline: options.deadline,
    signal: options.signal ?? new AbortController().signal,
  } as CallContext;
  return { service, method, request: options.request, context };
}

interface Pending {
  readonly id: unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** A bulkhead over a handler whose calls stay running until the test settles them, by request id. */
function guarded(options: BulkheadOptions) {
  const running = new Map<unknown, Pending>();
  const started: unknown[] = [];
  const handler: ServerHandler = (call): CallResult => {
    started.push(call.request);
    return new Promise((resolve, reject) => running.set(call.request, { id: call.request, resolve, reject }));
  };
  const bulkhead = bulkheadMiddleware(options);
  const serve = bulkhead(handler);
  const call = (request: unknown, extra: Parameters<typeof callOf>[1] = {}) => {
    const result = serve(callOf("Buy", { ...extra, request })) as Promise<unknown>;
    // Keep an unhandled rejection from failing the run before the test looks at it.
    result.catch(() => {});
    return result;
  };
  return { bulkhead, running, started, call, serve };
}

/** Lets queued promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("bulkheadMiddleware", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs maxConcurrent calls, queues maxQueue, refuses the rest at once, and runs the queued call when a slot frees", async () => {
    const { bulkhead, running, started, call } = guarded({ maxConcurrent: 2, maxQueue: 1 });
    const one = call(1);
    const two = call(2);
    const three = call(3);
    const four = call(4);
    await expect(four).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED, retryable: true });
    await expect(four).rejects.toBeInstanceOf(TsmicroError);
    expect(errorReasonOf(await four.catch((e: unknown) => e))).toMatchObject({ reason: "BULKHEAD_FULL" });
    expect(started).toEqual([1, 2]);
    expect(bulkhead.stats("/t.v1.Shop/Buy")).toMatchObject({ running: 2, queued: 1 });

    running.get(1)!.resolve("first");
    expect(await one).toBe("first");
    await settle();
    expect(started).toEqual([1, 2, 3]);
    running.get(3)!.resolve("third");
    expect(await three).toBe("third");
    running.get(2)!.resolve("second");
    expect(await two).toBe("second");
    expect(bulkhead.stats("/t.v1.Shop/Buy")).toMatchObject({ running: 0, queued: 0 });
  });

  it("serves the queue first in, first out, a late call queuing behind those already waiting", async () => {
    const { running, started, call } = guarded({ maxConcurrent: 1, maxQueue: 3 });
    call("a");
    call("b");
    call("c");
    running.get("a")!.resolve(undefined);
    call("d");
    await settle();
    expect(started).toEqual(["a", "b"]);
    running.get("b")!.resolve(undefined);
    await settle();
    running.get("c")!.resolve(undefined);
    await settle();
    expect(started).toEqual(["a", "b", "c", "d"]);
  });

  it("frees the slot when a call fails, or its handler throws before returning", async () => {
    const bulkhead = bulkheadMiddleware({ maxConcurrent: 1 });
    let mode: "reject" | "throw" | "ok" = "reject";
    const serve = bulkhead(() => {
      if (mode === "throw") throw new Error("sync");
      return mode === "reject" ? Promise.reject(new Error("async")) : Promise.resolve("ok");
    });
    await expect(serve(callOf("Buy"))).rejects.toThrow("async");
    mode = "throw";
    await expect(serve(callOf("Buy"))).rejects.toThrow("sync");
    mode = "ok";
    await expect(serve(callOf("Buy"))).resolves.toBe("ok");
  });

  it("takes a queued call out of the queue with DEADLINE_EXCEEDED when its deadline passes", async () => {
    vi.useFakeTimers();
    const { bulkhead, running, started, call } = guarded({ maxConcurrent: 1, maxQueue: 2 });
    call(1);
    const late = call(2, { deadline: new Date(Date.now() + 100) });
    const patient = call(3);
    expect(bulkhead.stats("/t.v1.Shop/Buy").queued).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    await expect(late).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED, retryable: false });
    expect(bulkhead.stats("/t.v1.Shop/Buy").queued).toBe(1);
    running.get(1)!.resolve(undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([1, 3]); // the expired call never ran
    running.get(3)!.resolve("done");
    expect(await patient).toBe("done");
  });

  it("refuses at once a call that must queue but whose deadline has already passed", async () => {
    const { call } = guarded({ maxConcurrent: 1, maxQueue: 1 });
    call(1);
    await expect(call(2, { deadline: new Date(Date.now() - 1) })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
  });

  it("takes a queued call out of the queue when its caller cancels, keeping the transport's reason", async () => {
    const { bulkhead, call } = guarded({ maxConcurrent: 1, maxQueue: 2 });
    call(1);
    const plain = new AbortController();
    const withReason = new AbortController();
    const cancelled = call(2, { signal: plain.signal });
    const expired = call(3, { signal: withReason.signal });
    plain.abort();
    withReason.abort(new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline exceeded serving /t.v1.Shop/Buy"));
    await expect(cancelled).rejects.toMatchObject({ code: Code.CANCELLED });
    await expect(expired).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(bulkhead.stats("/t.v1.Shop/Buy")).toMatchObject({ running: 1, queued: 0 });
  });

  it("holds a stream's slot until it ends, fails or is abandoned, and queues streams like other calls", async () => {
    const bulkhead = bulkheadMiddleware({ maxConcurrent: 1, maxQueue: 1 });
    let fail = false;
    const serve = bulkhead(() =>
      (async function* () {
        yield "x";
        if (fail) throw new Error("broken");
        yield "y";
      })(),
    );
    const stream = (): AsyncIterator<unknown> =>
      (serve(callOf("Watch", { kind: "server_streaming" })) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const stats = () => bulkhead.stats("/t.v1.Shop/Watch");

    // Ends normally.
    const a = stream();
    expect(await a.next()).toEqual({ done: false, value: "x" });
    const queued = stream();
    const queuedFirst = queued.next();
    await settle();
    expect(stats()).toMatchObject({ running: 1, queued: 1 });
    expect(await a.next()).toEqual({ done: false, value: "y" });
    expect(await a.next()).toMatchObject({ done: true });
    expect(await queuedFirst).toEqual({ done: false, value: "x" });

    // Abandoned: the consumer stops reading.
    await queued.return!();
    expect(stats()).toMatchObject({ running: 0, queued: 0 });

    // Fails.
    fail = true;
    const b = stream();
    await b.next();
    await expect(b.next()).rejects.toThrow("broken");
    expect(stats().running).toBe(0);

    // Full: the third stream is refused on its first read.
    fail = false;
    const c = stream();
    await c.next();
    stream()
      .next()
      .catch(() => {});
    await expect(stream().next()).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    await c.return!();
  });

  it("gives a method listed per method its own compartment, so it cannot starve the others", async () => {
    const running: (() => void)[] = [];
    const bulkhead = bulkheadMiddleware({ maxConcurrent: 1, perMethod: { "/t.v1.Shop/Export": { maxQueue: 1 } } });
    const serve = bulkhead(() => new Promise<void>((resolve) => running.push(resolve)));
    void serve(callOf("Export"));
    const queuedExport = serve(callOf("Export")) as Promise<unknown>;
    await expect(serve(callOf("Export"))).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    // Buy shares the server's compartment (no queue), still empty.
    void serve(callOf("Buy"));
    await expect(serve(callOf("Sell"))).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(bulkhead.stats("/t.v1.Shop/Export")).toMatchObject({
      running: 1,
      queued: 1,
      settings: { maxConcurrent: 1, maxQueue: 1 },
    });
    queuedExport.catch(() => {});
    running[0]!();
    await settle();
    expect(running).toHaveLength(3); // the queued Export runs
    expect(bulkhead.stats("/t.v1.Shop/Export")).toMatchObject({ running: 1, queued: 0 });
  });

  it("passes calls straight through without a limit", () => {
    const result = Promise.resolve("same");
    const serve = bulkheadMiddleware()(() => result);
    expect(serve(callOf("Buy"))).toBe(result);
  });

  it("refuses bad settings when made, naming where", () => {
    expect(() => bulkheadMiddleware({ maxConcurrent: 0 })).toThrow(/bulkhead\.maxConcurrent/);
    expect(() => bulkheadMiddleware({ maxConcurrent: 2, perMethod: { "/t.v1.Shop/Buy": { maxQueue: -1 } } })).toThrow(
      /perMethod\["\/t\.v1\.Shop\/Buy"\]\.maxQueue/,
    );
    try {
      bulkheadMiddleware({ perMethod: { Buy: {} } });
    } catch (error) {
      expect(isSetupError(error)).toBe(true);
      return;
    }
    expect.unreachable("a key that is not a gRPC path is refused");
  });
});
