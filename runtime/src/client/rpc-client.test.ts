import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Node } from "../registry/registry.js";
import type { Selector } from "../selector/selector.js";
import type { ClientCall, ClientTransport } from "../transport/transport.js";
import { silentLogger } from "../logging/logger.js";
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
      if (address === "a") throw new TsmicroError(Code.UNAVAILABLE, "connection refused");
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
    await expect(caller.unary(method("unary"), {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(calls.map((c) => c.address)).toEqual(["a", "b", "c"]);
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

  it("retries a server stream only while nothing was received", async () => {
    const { selector } = fixedSelector();
    const { transport, calls } = scriptedTransport((address) =>
      (async function* () {
        if (address === "a") throw new TsmicroError(Code.UNAVAILABLE, "down");
        yield 1;
        yield 2;
        if (address === "b") throw new TsmicroError(Code.UNAVAILABLE, "died mid-stream");
      })(),
    );
    const caller = createRpcCaller("svc", { selector, transport, retries: 3 });
    const received: unknown[] = [];
    await expect(
      (async () => {
        for await (const message of caller.serverStreaming(method("server_streaming"), {})) received.push(message);
      })(),
    ).rejects.toMatchObject({ message: "died mid-stream" });
    expect(received).toEqual([1, 2]);
    expect(calls.map((c) => c.address)).toEqual(["a", "b"]);
  });
});
