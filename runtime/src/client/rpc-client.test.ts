import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import { answerReserveMs, failedService, failedServiceKey } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Node } from "../registry/registry.js";
import type { Selector } from "../selector/selector.js";
import type { ClientCall, ClientTransport } from "../transport/transport.js";
import { silentLogger } from "../logging/logger.js";
import { checkAttemptTimeouts } from "./attempt-timeout.js";
import { checkHedging } from "./hedging.js";
import { createDirectCaller } from "./direct-caller.js";
import { createRpcCaller } from "./rpc-client.js";

const codec = {
  encode: () => ({ finish: () => new Uint8Array() }),
  decode: () => ({}),
  fromJSON: () => ({}),
  toJSON: () => ({}),
  fromPartial: () => ({}),
};
const method = (kind: MethodDefinition["kind"]): MethodDefinition => ({
  name: "Do",
  path: "/t.Svc/Do",
  kind,
  input: codec,
  output: codec,
  inputType: "t.Req",
  outputType: "t.Res",
  idempotency: "unknown",
  deprecated: false,
  http: [],
});

/** A service of one unary method, Do, with `idempotency`. */
const definition = (idempotency: MethodDefinition["idempotency"]) =>
  ({ typeName: "t.Svc", methods: { do: { ...method("unary"), idempotency } } }) as unknown as ServiceDefinition;

/** Nodes a, b, c; the selector hands out the first not excluded and records marks. */
function fixedSelector() {
  const nodes: Node[] = ["a", "b", "c"].map((id) => ({ id, address: id, metadata: {} }));
  const marks: [string, unknown][] = [];
  const selector: Selector = {
    select: async (_service, options) => () => nodes.find((n) => !options?.exclude?.has(n.id)) ?? nodes[0]!,
    mark: (_service, node, error) => marks.push([node.id, error]),
    start: async () => {},
    stop: async () => {},
  };
  return { selector, marks };
}

/** A transport whose per-address behaviour the test sets. */
function scriptedTransport(
  behaviour: (address: string, call: ClientCall) => Promise<unknown> | AsyncIterable<unknown>,
) {
  const calls: { address: string; call: ClientCall }[] = [];
  const transport: ClientTransport = {
    call: (address, call) => {
      calls.push({ address, call });
      return behaviour(address, call);
    },
    close: async () => {},
  };
  return { transport, calls };
}

describe("rpc caller", () => {
  it("retries a retryable failure on another node and marks both outcomes", async () => {
    const { selector, marks } = fixedSelector();
    const { transport, calls } = scriptedTransport(async (address) => {
      if (address === "a") throw new TsmicroError(Code.UNAVAILABLE, "connection refused", { unprocessed: true });
      return { ok: address };
    });
    const caller = createRpcCaller("svc", { selector, transport, retries: 1 });
    expect(await caller.unary(method("unary"), {})).toEqual({ ok: "b" });
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
    expect(marks.map(([id, error]) => [id, error === undefined])).toEqual([
      ["a", false],
      ["b", true],
    ]);
  });

  it("names its service on every failure it hands on, keeping a name from further down", async () => {
    const { selector } = fixedSelector();
    const failure = (address: string) =>
      address === "a"
        ? new TsmicroError(Code.NOT_FOUND, "no such user")
        : new TsmicroError(Code.INTERNAL, "down there", { metadata: { [failedServiceKey]: "deeper" } });
    const { transport } = scriptedTransport((address, call) => {
      if (call.method.kind === "unary") return Promise.reject(failure(address));
      return (async function* () {
        yield* [];
        throw failure(address);
      })();
    });
    const caller = createRpcCaller("svc", { selector, transport, retries: 0 });
    const own = await caller.unary(method("unary"), {}).catch((error: unknown) => error);
    expect(failedService(own)).toBe("svc");
    const streamed = await (async () => {
      for await (const _ of caller.serverStreaming(method("server_streaming"), {}));
    })().catch((error: unknown) => error);
    expect(failedService(streamed)).toBe("svc");
    const { selector: second } = fixedSelector();
    const throughB = createRpcCaller("svc", {
      selector: { ...second, select: async () => () => ({ id: "b", address: "b", metadata: {} }) },
      transport,
      retries: 0,
    });
    expect(failedService(await throughB.unary(method("unary"), {}).catch((error: unknown) => error))).toBe("deeper");
  });

  it("sends no retry to another node for a node's answer that another service failed", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => {
      throw new TsmicroError(Code.UNAVAILABLE, "no nodes of service user are registered", {
        metadata: { [failedServiceKey]: "user" },
      });
    });
    const caller = createRpcCaller("svc", { selector, transport, retries: 2 });
    await expect(caller.unary(method("unary"), {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(calls.map((c) => c.address)).toEqual(["a"]);
  });

  it("does not retry business errors", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => {
      throw new TsmicroError(Code.NOT_FOUND, "no such user");
    });
    const caller = createRpcCaller("svc", { selector, transport, retries: 3 });
    await expect(caller.unary(method("unary"), {})).rejects.toMatchObject({ code: Code.NOT_FOUND });
    expect(calls).toHaveLength(1);
  });

  it("gives up after --client_retries extra attempts", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => {
      throw new TsmicroError(Code.UNAVAILABLE, "down");
    });
    const caller = createRpcCaller("svc", { selector, transport, retries: 2, backoff: () => 0 });
    const idempotent: MethodDefinition = { ...method("unary"), idempotency: "idempotent" };
    await expect(caller.unary(idempotent, {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(calls.map((c) => c.address)).toEqual(["a", "b", "c"]);
  });

  it("sends a call with side effects again only when it cannot have been applied, and says when it may have been", async () => {
    const { selector } = fixedSelector();
    let failure = new TsmicroError(Code.UNAVAILABLE, "the connection to a dropped", { mayHaveBeenApplied: true });
    const { transport, calls } = scriptedTransport(async (address) => {
      if (address === "a") throw failure;
      return { ok: address };
    });
    const caller = createRpcCaller("svc", { selector, transport, retries: 2, backoff: () => 0 });
    // The request may have reached node a: not sent again, and the error says the outcome is unknown.
    const error = await caller.unary(method("unary"), {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.UNAVAILABLE, mayHaveBeenApplied: true, retryable: false });
    expect((error as Error).message).toBe(
      "the connection to a dropped (/t.Svc/Do may have been applied on a: it has side effects, so it was not " +
        "retried; mark it idempotent in the proto to allow retries)",
    );
    expect(calls.map((c) => c.address)).toEqual(["a"]);
    // An idempotent method is sent again.
    expect(await caller.unary({ ...method("unary"), idempotency: "idempotent" }, {})).toEqual({ ok: "b" });
    // A failure that never reached a handler, or the server's own retryable answer, is sent again.
    for (const refusal of [
      new TsmicroError(Code.UNAVAILABLE, "a refused the stream", { unprocessed: true }),
      new TsmicroError(Code.UNAVAILABLE, "a is shutting down"),
      new TsmicroError(Code.RESOURCE_EXHAUSTED, "a is shedding load"),
    ]) {
      failure = refusal;
      expect(await caller.unary(method("unary"), {})).toEqual({ ok: "b" });
    }
    // A business error is the server's answer: as it came.
    failure = new TsmicroError(Code.ALREADY_EXISTS, "taken");
    await expect(caller.unary(method("unary"), {})).rejects.toMatchObject({
      message: "taken",
      mayHaveBeenApplied: false,
    });
  });

  it("sets the deadline from the timeout, never later than the parent call's, and links cancellation", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => ({}));
    const parentController = new AbortController();
    const parent: CallContext = {
      method: method("unary"),
      metadata: {},
      deadline: new Date(Date.now() + 1_000),
      signal: parentController.signal,
      peer: "test",
      logger: silentLogger(),
      responseHeader: {},
      responseTrailer: {},
      setHeader: () => {},
      sendHeader: () => {},
      setTrailer: () => {},
      setCompression: () => {},
    };
    const caller = createRpcCaller("svc", { selector, transport, requestTimeoutMs: 60_000, currentCall: () => parent });
    await caller.unary(method("unary"), {});
    expect(calls[0]!.call.deadline).toEqual(parent.deadline);
    await caller.unary(method("unary"), {}, { timeoutMs: 100 });
    expect(calls[1]!.call.deadline!.getTime()).toBeLessThan(parent.deadline!.getTime());
    parentController.abort();
    expect(calls[1]!.call.signal?.aborted).toBe(true);
  });

  it("once the served call is answered, passes on its metadata but not its deadline nor its cancel, unless it is the explicit parent", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => ({}));
    const parentController = new AbortController();
    const parent = {
      method: method("unary"),
      metadata: { "x-md-global-tenant": "acme" },
      deadline: new Date(Date.now() + 1_000),
      signal: parentController.signal,
    } as unknown as CallContext;
    const caller = createRpcCaller("svc", {
      selector,
      transport,
      requestTimeoutMs: 60_000,
      currentCall: () => parent,
      answered: (call) => call === parent,
    });
    await caller.unary(method("unary"), {});
    expect(calls[0]!.call.deadline!.getTime()).toBeGreaterThan(parent.deadline!.getTime());
    expect(calls[0]!.call.signal).toBeUndefined();
    expect(calls[0]!.call.metadata).toEqual({ "x-md-global-tenant": "acme" });
    await caller.unary(method("unary"), {}, { parent });
    expect(calls[1]!.call.deadline).toEqual(parent.deadline);
    expect(calls[1]!.call.signal).toBe(parentController.signal);
  });

  it("passes the served call's request id and x-md-global- keys on, not its other keys nor over the call's own", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => ({}));
    const parent = {
      metadata: {
        "x-request-id": "req-1",
        "x-md-global-tenant": "acme",
        "x-md-global-caller": "gateway",
        authorization: "Bearer secret",
      },
    } as unknown as CallContext;
    const caller = createRpcCaller("svc", { selector, transport, currentCall: () => parent });
    await caller.unary(method("unary"), {}, { metadata: { "x-md-global-caller": "order", "x-own": "1" } });
    expect(calls[0]!.call.metadata).toEqual({
      "x-request-id": "req-1",
      "x-md-global-tenant": "acme",
      "x-md-global-caller": "order",
      "x-own": "1",
    });
    const outside = createRpcCaller("svc", { selector, transport, currentCall: () => undefined });
    await outside.unary(method("unary"), {}, { parent });
    expect(calls[1]!.call.metadata).toEqual({
      "x-request-id": "req-1",
      "x-md-global-tenant": "acme",
      "x-md-global-caller": "gateway",
    });
  });

  it("words a passed deadline with the service and what set it: the flag, the call's timeoutMs or the served call", async () => {
    const { selector } = fixedSelector();
    const { transport } = scriptedTransport(async (_address, call) => {
      if (call.request === "further") {
        throw new TsmicroError(Code.DEADLINE_EXCEEDED, "Deadline exceeded: /u.Users/Get got no answer in time", {
          metadata: { [failedServiceKey]: "user" },
        });
      }
      throw new TsmicroError(Code.DEADLINE_EXCEEDED, "Deadline exceeded: /t.Svc/Do got no answer in time");
    });
    const parent = { method: method("unary"), metadata: {}, deadline: new Date(Date.now() + 1_000) } as CallContext;
    const caller = createRpcCaller("svc", { selector, transport, retries: 0, requestTimeoutMs: 60_000 });
    const served = createRpcCaller("svc", { selector, transport, retries: 0, currentCall: () => parent });
    const failure = (result: Promise<unknown>) => result.catch((error: TsmicroError) => error.message);
    expect(await failure(caller.unary(method("unary"), {}))).toBe(
      "no answer from svc within 60000 ms (--client_request_timeout)",
    );
    expect(await failure(caller.unary(method("unary"), {}, { timeoutMs: 300 }))).toBe(
      "no answer from svc within 300 ms (the call's timeoutMs)",
    );
    expect(await failure(served.unary(method("unary"), {}))).toBe(
      "no answer from svc before the deadline of the call being served (/t.Svc/Do)",
    );
    // Passed on from further down: it keeps the words of the service that failed.
    expect(await failure(caller.unary(method("unary"), "further"))).toBe(
      "Deadline exceeded: /u.Users/Get got no answer in time",
    );
  });

  it("refuses a timeoutMs that is no number of milliseconds, which would send the call with no deadline", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async () => ({}));
    const callers = {
      registry: createRpcCaller("svc", { selector, transport }),
      direct: createDirectCaller({ transport, address: "a" }),
    };
    const refusal = (given: string) => ({
      code: Code.INVALID_ARGUMENT,
      unprocessed: true,
      retryable: false,
      message: `/t.Svc/Do was not sent: its timeoutMs is ${given}, which is no number of milliseconds; give one (5000 for 5 s), or Infinity for no deadline of its own`,
    });
    async function* requests() {
      yield {};
    }
    const drained = async (stream: AsyncIterable<unknown>) => {
      for await (const _ of stream);
    };
    for (const caller of Object.values(callers)) {
      for (const [timeoutMs, given] of [
        [Number.NaN, "NaN"],
        [-Infinity, "-Infinity"],
        ["5000", '"5000" (a string)'],
      ] as const) {
        const options = { timeoutMs: timeoutMs as number };
        await expect(caller.unary(method("unary"), {}, options)).rejects.toMatchObject(refusal(given));
        await expect(drained(caller.serverStreaming(method("server_streaming"), {}, options))).rejects.toMatchObject(
          refusal(given),
        );
        await expect(caller.clientStreaming(method("client_streaming"), requests(), options)).rejects.toMatchObject(
          refusal(given),
        );
        await expect(
          drained(caller.bidiStreaming(method("bidi_streaming"), requests(), options)),
        ).rejects.toMatchObject(refusal(given));
      }
    }
    expect(calls).toEqual([]);
    // Infinity (no deadline of its own) and any number go out as they did.
    await callers.registry.unary(method("unary"), {}, { timeoutMs: Infinity });
    await callers.direct.unary(method("unary"), {}, { timeoutMs: 1_000 });
    expect(calls.length).toBe(2);
  });

  it("retries a server stream only while nothing was received", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport((address) =>
      (async function* () {
        if (address === "a") throw new TsmicroError(Code.UNAVAILABLE, "down", { unprocessed: true });
        yield 1;
        yield 2;
        if (address === "b") throw new TsmicroError(Code.UNAVAILABLE, "died mid-stream", { mayHaveBeenApplied: true });
      })(),
    );
    const caller = createRpcCaller("svc", { selector, transport, retries: 3 });
    const received: unknown[] = [];
    await expect(
      (async () => {
        for await (const message of caller.serverStreaming(method("server_streaming"), {})) received.push(message);
      })(),
    ).rejects.toMatchObject({
      // Not "mark it idempotent to allow retries": no stream is sent again once it delivered messages.
      message:
        "died mid-stream (/t.Svc/Do broke off on b after its first messages: " +
        "a stream is not sent again once it has delivered some)",
      mayHaveBeenApplied: true,
      retryable: false,
    });
    expect(received).toEqual([1, 2]);
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
    // The same for a method marked idempotent.
    calls.length = 0;
    const idempotent = { ...method("server_streaming"), idempotency: "no_side_effects" as const };
    await expect(
      (async () => {
        for await (const _ of caller.serverStreaming(idempotent, {}));
      })(),
    ).rejects.toMatchObject({ message: expect.stringContaining("broke off on b after its first messages") });
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
  });

  it("hands on a server's own error after the first messages as it came", async () => {
    const { selector } = fixedSelector();
    const moved = new TsmicroError(Code.FAILED_PRECONDITION, "the shelf moved");
    const { transport } = scriptedTransport(() =>
      (async function* () {
        yield 1;
        throw moved;
      })(),
    );
    const caller = createRpcCaller("svc", { selector, transport, retries: 3 });
    await expect(
      (async () => {
        for await (const _ of caller.serverStreaming(method("server_streaming"), {}));
      })(),
    ).rejects.toMatchObject({ message: "the shelf moved", code: Code.FAILED_PRECONDITION });
  });
});

describe("hedged calls", () => {
  const idempotent: MethodDefinition = { ...method("unary"), idempotency: "no_side_effects" };
  /** Node a never answers (until cancelled, or the deadline passes, as a real transport keeps it); the others answer. */
  const aHangs = (address: string, call: ClientCall) =>
    address === "a"
      ? new Promise((_, reject) => {
          call.signal?.addEventListener("abort", () => reject(call.signal?.reason));
          const left = call.deadline ? call.deadline.getTime() - Date.now() : 60_000;
          setTimeout(() => reject(new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline")), left);
        })
      : Promise.resolve({ from: address });

  it("sends the call to another node after the delay, takes the first answer and cancels the other attempt", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(aHangs);
    const caller = createRpcCaller("svc", { selector, transport, hedging: { "svc/Do": { delayMs: 30 } } });
    const started = performance.now();
    await expect(caller.unary(idempotent, {})).resolves.toEqual({ from: "b" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
    expect(calls[0]!.call.signal?.aborted).toBe(true);
  });

  it("sends no second attempt when the first answers within the delay", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(async (address) => ({ from: address }));
    const caller = createRpcCaller("svc", { selector, transport, hedging: { "/t.Svc/Do": { delayMs: 50 } } });
    for (let i = 0; i < 5; i++) await caller.unary(idempotent, {});
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(calls).toHaveLength(5);
  });

  it("keeps extra attempts under a tenth of the calls, plus ten, however many go unanswered", async () => {
    const { selector } = fixedSelector();
    // Every call's first node hangs until the second attempt (if any) answers or the call times out.
    const { transport, calls } = scriptedTransport(aHangs);
    const caller = createRpcCaller("svc", { selector, transport, retries: 0, hedging: { "svc/Do": { delayMs: 0 } } });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 400 }, () => caller.unary(idempotent, {}, { timeoutMs: 200 })),
    );
    const extra = calls.length - 400;
    expect(extra).toBeGreaterThan(0);
    expect(extra).toBeLessThanOrEqual(400 / 10 + 10);
    // Calls without a second attempt wait on the hung node until their deadline.
    expect(outcomes.filter((o) => o.status === "rejected").length).toBe(400 - extra);
  });

  it("ends the call at once on a failure no other node would fix", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport(() =>
      Promise.reject(new TsmicroError(Code.INVALID_ARGUMENT, "bad request")),
    );
    const caller = createRpcCaller("svc", { selector, transport, hedging: { "svc/Do": { delayMs: 1_000 } } });
    await expect(caller.unary(idempotent, {})).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
    expect(calls).toHaveLength(1);
  });

  it("tries the next node at once after a failure another node could fix", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport((address) =>
      address === "a" ? Promise.reject(new TsmicroError(Code.UNAVAILABLE, "gone")) : Promise.resolve({ from: address }),
    );
    const caller = createRpcCaller("svc", { selector, transport, hedging: { "svc/Do": { delayMs: 5_000 } } });
    await expect(caller.unary(idempotent, {})).resolves.toEqual({ from: "b" });
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
  });
});

describe("hedging policies", () => {
  it("refuses to hedge a method the proto does not mark idempotent, saying how to fix it", () => {
    expect(() => checkHedging({ "svc/Do": { delayMs: 10 } }, definition("unknown"), "svc")).toThrow(
      /hedging\["svc\/Do"\].*\/t\.Svc\/Do is not marked idempotent.*idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT/,
    );
    expect(() => checkHedging({ "svc/Do": { delayMs: 10 } }, definition("idempotent"), "svc")).not.toThrow();
  });

  it("refuses a negative delay and more than three attempts", () => {
    expect(() => checkHedging({ "/t.Svc/Do": { delayMs: -1 } }, definition("idempotent"), "svc")).toThrow(
      /hedging\["\/t\.Svc\/Do"\]\.delayMs has an invalid value -1/,
    );
    expect(() => checkHedging({ "svc/Do": { delayMs: 1, maxAttempts: 5 } }, definition("idempotent"), "svc")).toThrow(
      /maxAttempts has an invalid value 5: expected 2 or 3/,
    );
  });
});

describe("attempt timeouts per method", () => {
  const idempotent: MethodDefinition = { ...method("unary"), idempotency: "idempotent" };

  it("gives up a method's attempt after its own timeout, over the service-wide setting", async () => {
    const { selector } = fixedSelector();
    // Node a answers only after 2 s; the others at once.
    const { transport, calls } = scriptedTransport((address, call) =>
      address === "a"
        ? new Promise((resolve, reject) => {
            const timer = setTimeout(() => resolve({ from: "a" }), 2_000);
            const left = call.deadline ? call.deadline.getTime() - Date.now() : 60_000;
            setTimeout(() => {
              clearTimeout(timer);
              reject(new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline"));
            }, left);
          })
        : Promise.resolve({ from: address }),
    );
    const caller = createRpcCaller("svc", {
      selector,
      transport,
      attemptTimeout: "none",
      attemptTimeouts: { "svc/Do": 100 },
    });
    const started = performance.now();
    await expect(caller.unary(idempotent, {})).resolves.toEqual({ from: "b" });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
  });

  /**
   * A transport on which node a fails naming postgres `after(leftMs)` into its attempt, DEADLINE_EXCEEDED
   * (a query not answered) unless `code` says UNAVAILABLE (no pooled connection came free); b answers.
   */
  function postgresGivesUp(after: (leftMs: number) => number, code: Code = Code.DEADLINE_EXCEEDED) {
    const message =
      code === Code.UNAVAILABLE
        ? "no connection to the PostgreSQL server came free: all 10 of the pool's connections are in use"
        : "the PostgreSQL server did not answer a query";
    return scriptedTransport((address, call) =>
      address === "a"
        ? new Promise((_, reject) => {
            const left = call.deadline ? call.deadline.getTime() - Date.now() : 60_000;
            setTimeout(() => {
              const error = new TsmicroError(code, message, { metadata: { [failedServiceKey]: "postgres" } });
              reject(error);
            }, after(left));
          })
        : Promise.resolve({ from: address }),
    );
  }

  it("tries another node when the node gave up a query of its own at the attempt's deadline, naming what it waited for", async () => {
    const { selector } = fixedSelector();
    // Node a's database does not answer: its query gives up before the attempt's deadline, keeping the reserve a served call's query keeps.
    const { transport, calls } = postgresGivesUp((left) => left - answerReserveMs(left));
    const caller = createRpcCaller("svc", {
      selector,
      transport,
      attemptTimeout: "none",
      attemptTimeouts: { "svc/Do": 1_000 },
    });
    await expect(caller.unary(idempotent, {})).resolves.toEqual({ from: "b" });
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
  });

  it("sends no other node a call whose node failed at once naming a service further down, which the next would meet too", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = postgresGivesUp(() => 0);
    const caller = createRpcCaller("svc", {
      selector,
      transport,
      attemptTimeout: "none",
      attemptTimeouts: { "svc/Do": 1_000 },
    });
    await expect(caller.unary(idempotent, {})).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(calls.map((c) => c.address)).toEqual(["a"]);
  });

  it("tries another node when the node's full pool gave no connection by the attempt's deadline, UNAVAILABLE naming postgres", async () => {
    const { selector } = fixedSelector();
    // Node a's pool is full: the query's wait for a connection ends at the attempt's deadline less the reserve, not sent.
    const { transport, calls } = postgresGivesUp((left) => left - answerReserveMs(left), Code.UNAVAILABLE);
    const caller = createRpcCaller("svc", {
      selector,
      transport,
      attemptTimeout: "none",
      attemptTimeouts: { "svc/Do": 1_000 },
    });
    await expect(caller.unary(idempotent, {})).resolves.toEqual({ from: "b" });
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
  });

  it("sends no other node a call whose node failed UNAVAILABLE naming postgres at once (it cannot be reached), which the next would meet too", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = postgresGivesUp(() => 0, Code.UNAVAILABLE);
    const caller = createRpcCaller("svc", {
      selector,
      transport,
      attemptTimeout: "none",
      attemptTimeouts: { "svc/Do": 1_000 },
    });
    await expect(caller.unary(idempotent, {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(calls.map((c) => c.address)).toEqual(["a"]);
  });

  it("is refused for a method not marked idempotent, and for a value that is not a timeout", () => {
    expect(() => checkAttemptTimeouts({ "svc/Do": 100 }, definition("unknown"), "svc")).toThrow(
      /attemptTimeouts\["svc\/Do"\].*\/t\.Svc\/Do is not marked idempotent.*idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT/,
    );
    expect(() => checkAttemptTimeouts({ "/t.Svc/Do": 0 }, definition("idempotent"), "svc")).toThrow(
      /attemptTimeouts\["\/t\.Svc\/Do"\] has an invalid value 0: expected milliseconds above 0, "auto" or "none"/,
    );
    expect(() => checkAttemptTimeouts({ "svc/Do": "none" }, definition("no_side_effects"), "svc")).not.toThrow();
  });
});

describe("wait for ready", () => {
  /** A selector with no node until `registered` is set, failing as the registry selector does. */
  function emptySelector() {
    const state = { registered: undefined as Node | undefined, selects: 0 };
    const selector: Selector = {
      select: async () => {
        state.selects++;
        return () => {
          if (state.registered) return state.registered;
          throw new TsmicroError(Code.UNAVAILABLE, "no nodes of service svc are registered", { unprocessed: true });
        };
      },
      mark: () => {},
      start: async () => {},
      stop: async () => {},
    };
    return { selector, state };
  }

  it("waits for the service to get a node, then calls it; without it the call fails at once", async () => {
    const { selector, state } = emptySelector();
    const { transport, calls } = scriptedTransport(async (address) => ({ ok: address }));
    const caller = createRpcCaller("svc", { selector, transport, retries: 0 });
    await expect(caller.unary(method("unary"), {})).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      message: "no nodes of service svc are registered",
    });
    setTimeout(() => {
      state.registered = { id: "late", address: "late:1", metadata: {} };
    }, 300);
    const selectsBefore = state.selects;
    expect(await caller.unary(method("unary"), {}, { waitForReady: true })).toEqual({ ok: "late:1" });
    expect(calls.map((c) => c.address)).toEqual(["late:1"]);
    // It asked again a few times in those 300 ms, not in a busy loop.
    expect(state.selects - selectsBefore).toBeGreaterThan(1);
    expect(state.selects - selectsBefore).toBeLessThan(10);
  });

  it("waits in a hedged call too", async () => {
    const { selector, state } = emptySelector();
    const { transport, calls } = scriptedTransport(async (address) => ({ ok: address }));
    const caller = createRpcCaller("svc", { selector, transport, hedging: { "svc/Do": { delayMs: 1_000 } } });
    setTimeout(() => {
      state.registered = { id: "late", address: "late:1", metadata: {} };
    }, 200);
    const idempotent: MethodDefinition = { ...method("unary"), idempotency: "idempotent" };
    expect(await caller.unary(idempotent, {}, { waitForReady: true })).toEqual({ ok: "late:1" });
    expect(calls.map((c) => c.address)).toEqual(["late:1"]);
  });

  it("gives up at the deadline, saying what it waited for, or when cancelled", async () => {
    const { selector } = emptySelector();
    const { transport, calls } = scriptedTransport(async () => ({}));
    const caller = createRpcCaller("svc", { selector, transport, retries: 0 });
    const started = Date.now();
    await expect(caller.unary(method("unary"), {}, { waitForReady: true, timeoutMs: 200 })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
      message: "/t.Svc/Do waited for a node until its deadline: no nodes of service svc are registered",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error("caller left")), 100);
    await expect(caller.unary(method("unary"), {}, { waitForReady: true, signal: abort.signal })).rejects.toMatchObject(
      {
        code: Code.CANCELLED,
        message: "/t.Svc/Do was cancelled while it waited for a node: caller left",
      },
    );
    expect(calls).toEqual([]);
  });
});
