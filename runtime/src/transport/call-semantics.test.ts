import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { startFaultProxy } from "../../../test/support/fault-proxy.js";
import type { Request, Response } from "../../../test/golden/10-services/services.js";
import { createDirectCaller } from "../client/direct-caller.js";
import { createRpcCaller } from "../client/rpc-client.js";
import type { CallContext, Caller } from "../definition/call.js";
import { createClient } from "../definition/client.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { silentLogger } from "../logging/logger.js";
import { testCallContext } from "../service/test-call-context.js";
import type { Selector } from "../selector/selector.js";
import { pairs, transports, use } from "./testdata/transport-pairs.js";
import type { ServerCall } from "./transport.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the server saw of each call. */
const seen: { deadline: Date | undefined; path: string }[] = [];

/**
 * Alpha steered by the request id: unary `wait` waits for its signal,
 * `sleep:N` sleeps; server streams send `id` messages 200 ms apart; bidi
 * answers the first request and ends.
 */
function handle(call: ServerCall): Promise<unknown> | AsyncIterable<unknown> {
  const context: CallContext = call.context;
  seen.push({ deadline: context.deadline, path: call.method.path });
  switch (call.method.name) {
    case "Unary":
      return (async (): Promise<Response> => {
        const request = call.request as Request;
        if (request.id === "wait") await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
        if (request.id.startsWith("sleep:")) await sleep(Number(request.id.slice(6)));
        return { id: request.id, payload: new Uint8Array(), sequence: 0 };
      })();
    case "ServerStream":
      return (async function* (): AsyncIterable<Response> {
        const count = Number((call.request as Request).id);
        for (let sequence = 1; sequence <= count; sequence++) {
          await sleep(200);
          yield { id: "s", payload: new Uint8Array(), sequence };
        }
      })();
    case "BidiStream":
      return (async function* (): AsyncIterable<Response> {
        for await (const request of call.request as AsyncIterable<Request>) {
          yield { id: request.id, payload: new Uint8Array(), sequence: 1 };
          return;
        }
      })();
    case "ClientStream":
      // A message with spaces at its ends, as `no user has id ${id}` is for an empty id.
      throw new TsmicroError(Code.NOT_FOUND, " no user has id ");
    default:
      throw new TsmicroError(Code.UNIMPLEMENTED, "not here");
  }
}

async function startServer(address = "127.0.0.1:0"): Promise<string> {
  const server = transports.server({ logger: silentLogger() });
  server.add(AlphaDefinition, handle);
  const bound = await server.listen(address);
  cleanups.push(() => server.stop(0));
  return bound;
}

/** A caller through the registry client's code path, over the nodes at `addresses` (the first not tried yet). */
function rpcCaller(
  address: string | readonly string[],
  options: { requestTimeoutMs?: number; streamTimeoutMs?: number; retries?: number; backoff?: () => number } = {},
): Caller {
  const transport = transports.client();
  cleanups.push(() => transport.close());
  const nodes = (typeof address === "string" ? [address] : address).map((at, i) => ({
    id: `n${i + 1}`,
    address: at,
    metadata: {},
  }));
  const selector: Selector = {
    select: async (_service, selectOptions) => () =>
      nodes.find((node) => !selectOptions?.exclude?.has(node.id)) ?? nodes[0]!,
    mark: () => {},
    start: async () => {},
    stop: async () => {},
  };
  return createRpcCaller("alpha", { selector, transport, retries: 0, ...options });
}

describe.each(pairs)("call semantics, %s client, %s server", (client, server) => {
  beforeAll(() => {
    use(client, server);
  });

  it("timeoutMs: Infinity sends no deadline, through the registry client and the direct caller", async () => {
    const address = await startServer();
    const rpc = createClient(AlphaDefinition, rpcCaller(address));
    seen.length = 0;
    await expect(rpc.unary({ id: "sleep:10" }, { timeoutMs: Infinity })).resolves.toMatchObject({ id: "sleep:10" });
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const direct = createClient(AlphaDefinition, createDirectCaller({ transport, address }));
    await expect(direct.unary({ id: "sleep:10" }, { timeoutMs: Infinity })).resolves.toMatchObject({
      id: "sleep:10",
    });
    expect(seen.map((s) => s.deadline)).toEqual([undefined, undefined]);
  });

  it("streams get no default deadline: a stream outlives the unary timeout unless a stream timeout is set", async () => {
    const address = await startServer();
    const client = createClient(AlphaDefinition, rpcCaller(address, { requestTimeoutMs: 300 }));
    seen.length = 0;
    const sequences: number[] = [];
    for await (const message of client.serverStream({ id: "4" })) sequences.push(message.sequence);
    expect(sequences).toEqual([1, 2, 3, 4]); // about 800 ms, past the 300 ms unary timeout
    expect(seen[0]?.deadline).toBeUndefined();

    const limited = createClient(AlphaDefinition, rpcCaller(address, { requestTimeoutMs: 300, streamTimeoutMs: 300 }));
    const error = await (async () => {
      for await (const _ of limited.serverStream({ id: "4" }));
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
  });

  it("an error message with spaces at its ends arrives whole", async () => {
    const address = await startServer();
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const client = createClient(AlphaDefinition, createDirectCaller({ transport, address }));
    const failure = await client.clientStream((async function* () {})()).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: Code.NOT_FOUND, message: " no user has id " });
  });

  it("a request that fails to encode fails the call with the encoder's error, and nothing reaches the server", async () => {
    const address = await startServer();
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const refused = new TsmicroError(Code.INVALID_ARGUMENT, "scope.level is required");
    const unary = AlphaDefinition.methods.unary;
    const method = {
      ...unary,
      input: {
        ...unary.input,
        encode: () => {
          throw refused;
        },
      },
    };
    const call = { service: "alpha", request: { id: "x" }, metadata: {}, deadline: undefined, signal: undefined };
    seen.length = 0;
    await expect(transport.call(address, { ...call, method })).rejects.toBe(refused);
    const buggy = {
      ...unary,
      input: {
        ...unary.input,
        encode: () => {
          throw new Error("encoder bug");
        },
      },
    };
    await expect(transport.call(address, { ...call, method: buggy })).rejects.toMatchObject({
      code: Code.INTERNAL,
      message: "encoder bug",
    });
    expect(seen).toEqual([]);
  });

  it("an AbortSignal's reason reaches the error", async () => {
    const address = await startServer();
    const client = createClient(AlphaDefinition, rpcCaller(address));
    const controller = new AbortController();
    const pending = client.unary({ id: "wait" }, { signal: controller.signal });
    await sleep(50);
    controller.abort(new Error("the user closed the page"));
    const cancelled = await pending.catch((e: unknown) => e);
    expect(cancelled).toBeInstanceOf(TsmicroError);
    expect(cancelled).toMatchObject({ code: Code.CANCELLED });
    expect((cancelled as Error).message).toContain("the user closed the page");

    const timedOut = await client.unary({ id: "wait" }, { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ code: Code.DEADLINE_EXCEEDED });

    const already = await client
      .unary({ id: "wait" }, { signal: AbortSignal.abort(new TsmicroError(Code.UNAVAILABLE, "shutting down")) })
      .catch((e: unknown) => e);
    expect(already).toMatchObject({ code: Code.UNAVAILABLE, retryable: false });
    expect((already as Error).message).toContain("shutting down");
  });

  it("a call cancelled right after it is made, while its stream opens, fails CANCELLED at once", async () => {
    const address = await startServer();
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const callers = { registry: rpcCaller(address), direct: createDirectCaller({ transport, address }) };
    for (const [name, caller] of Object.entries(callers)) {
      const client = createClient(AlphaDefinition, caller);
      // A connection made already: the call reaches its transport's open without waiting for one.
      await client.unary({ id: "warm" });
      // Cancelled after each number of microtasks up to the call's stream being open (a few), so one lands in between.
      for (let ticks = 0; ticks < 12; ticks++) {
        const controller = new AbortController();
        const pending = client.unary({ id: "wait" }, { signal: controller.signal, timeoutMs: 600_000 });
        for (let tick = 0; tick < ticks; tick++) await Promise.resolve();
        controller.abort(new Error("the user closed the page"));
        const cancelled = await pending.catch((e: unknown) => e);
        expect({ name, ticks, cancelled }).toMatchObject({ name, ticks, cancelled: { code: Code.CANCELLED } });
        expect((cancelled as Error).message).toContain("the user closed the page");
      }
    }
  });

  it("when the server ends a bidi call, the client's request iterator is closed (its finally runs)", async () => {
    const address = await startServer();
    const client = createClient(AlphaDefinition, rpcCaller(address));
    let closed = false;
    let release: () => void = () => {};
    const requests = async function* () {
      try {
        yield { id: "first" };
        // Waits for more to send, as a chat client waiting for its user would.
        await new Promise<void>((resolve) => (release = resolve));
        yield { id: "never sent" };
      } finally {
        closed = true;
      }
    };
    const responses: string[] = [];
    for await (const response of client.bidiStream(requests())) responses.push(response.id);
    expect(responses).toEqual(["first"]);
    // A generator busy in an await closes right after its next yield.
    release();
    await sleep(20);
    expect(closed).toBe(true);

    // A generator paused at its yield closes at once.
    let closedAtYield = false;
    const eager = async function* () {
      try {
        yield { id: "a" };
        yield { id: "b" };
        yield { id: "c" };
      } finally {
        closedAtYield = true;
      }
    };
    for await (const _ of client.bidiStream(eager()));
    await sleep(20);
    expect(closedAtYield).toBe(true);

    // A queue-backed iterator (as events.on or a channel) waiting for its next request closes at once.
    let returned = false;
    let sent = false;
    const queue: AsyncIterableIterator<Request> = {
      next: async () => {
        if (!sent) {
          sent = true;
          return { done: false, value: { id: "only", payload: new Uint8Array() } };
        }
        return new Promise<IteratorResult<Request>>(() => {});
      },
      return: async () => {
        returned = true;
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => queue,
    };
    for await (const _ of client.bidiStream(queue));
    await sleep(20);
    expect(returned).toBe(true);
  });

  it("waitForReady waits for a server that is not up yet; without it the call fails UNAVAILABLE", async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const client = createClient(AlphaDefinition, rpcCaller(address));
    await expect(client.unary({ id: "x" }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    const waiting = client.unary({ id: "x" }, { timeoutMs: 5_000, waitForReady: true });
    await sleep(300);
    await startServer(address);
    await expect(waiting).resolves.toMatchObject({ id: "x" });
  });

  it("a call whose deadline has passed is not sent: DEADLINE_EXCEEDED saying so and what set the deadline", async () => {
    const address = await startServer();
    const rpc = createClient(AlphaDefinition, rpcCaller(address));
    seen.length = 0;
    const notSent = { code: Code.DEADLINE_EXCEEDED, unprocessed: true, mayHaveBeenApplied: false, retryable: false };
    expect(await rpc.unary({ id: "x" }, { timeoutMs: 0 }).catch((error: unknown) => error)).toMatchObject({
      ...notSent,
      message:
        "no time left to call alpha within 0 ms (the call's timeoutMs): /fixtures.services.v1.Alpha/Unary was not sent",
    });
    // A handler's call made with its served call, past that call's deadline, as its parent.
    const parent = testCallContext({ deadline: new Date(Date.now() - 1) });
    expect(await rpc.unary({ id: "x" }, { parent }).catch((error: unknown) => error)).toMatchObject({
      ...notSent,
      message: expect.stringMatching(/^no time left to call alpha before the deadline of the call being served \(/),
    });
    const stream = (async () => {
      for await (const _ of rpc.serverStream({ id: "1" }, { parent }));
    })();
    expect(await stream.catch((error: unknown) => error)).toMatchObject({
      ...notSent,
      message: expect.stringContaining("/fixtures.services.v1.Alpha/ServerStream was not sent"),
    });
    // A direct caller (tsmicro call, health checks) sends it no more than the registry client does.
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const direct = createClient(AlphaDefinition, createDirectCaller({ transport, address }));
    expect(await direct.unary({ id: "x" }, { timeoutMs: 0 }).catch((error: unknown) => error)).toMatchObject({
      ...notSent,
      message: "Deadline exceeded: /fixtures.services.v1.Alpha/Unary was not sent, its deadline had passed",
    });
    expect(seen).toEqual([]);
  });

  it("a streaming call not sent for its deadline, or cancelled before start, closes its request stream (its finally runs)", async () => {
    const address = await startServer();
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const callers = { registry: rpcCaller(address), direct: createDirectCaller({ transport, address }) };
    const cancelled = new AbortController();
    cancelled.abort();
    for (const [by, caller] of Object.entries(callers)) {
      const client = createClient(AlphaDefinition, caller);
      for (const options of [{ timeoutMs: 0 }, { signal: cancelled.signal }]) {
        const closed = { client: false, bidi: false };
        const requests = async function* (kind: keyof typeof closed) {
          try {
            yield {};
            await new Promise(() => {});
          } finally {
            closed[kind] = true;
          }
        };
        // Started, as a caller's generator often is (it waits for the call to take its next request).
        const started = (kind: keyof typeof closed) => {
          const iterator = requests(kind);
          void iterator.next();
          return iterator;
        };
        await expect(client.clientStream(started("client"), options)).rejects.toBeDefined();
        const bidi = (async () => {
          for await (const _ of client.bidiStream(started("bidi"), options));
        })();
        await expect(bidi).rejects.toBeDefined();
        await sleep(10);
        expect({ by, options: Object.keys(options), closed }).toEqual({
          by,
          options: Object.keys(options),
          closed: { client: true, bidi: true },
        });
      }
    }
  });

  it("a retry whose backoff would outlast the deadline is not sent: the call fails at once with the last attempt's failure", async () => {
    const live = await startServer();
    const refused = `127.0.0.1:${await freePort()}`;
    // Nothing listens on the first node; the retry would go to the live one after a backoff past the deadline.
    const rpc = createClient(AlphaDefinition, rpcCaller([refused, live], { retries: 1, backoff: () => 3_000 }));
    seen.length = 0;
    expect(await rpc.unary({ id: "x" }, { timeoutMs: 1_000 }).catch((error: unknown) => error)).toMatchObject({
      code: Code.UNAVAILABLE,
      unprocessed: true,
    });
    expect(seen).toEqual([]);
  });

  it("a call lost after it reached the server may have been applied, and says so; one never sent says that", async () => {
    const proxy = await startFaultProxy(await startServer());
    cleanups.push(() => proxy.close());
    // Alpha.Unary is not marked idempotent: the registry client does not send it again, and its error says why.
    const client = createClient(AlphaDefinition, rpcCaller(proxy.address));
    const lost = client.unary({ id: "sleep:3000" }, { timeoutMs: 5_000 }).catch((error: unknown) => error);
    await sleep(300);
    proxy.reset();
    expect(await lost).toMatchObject({
      code: Code.UNAVAILABLE,
      mayHaveBeenApplied: true,
      unprocessed: false,
      message: expect.stringContaining("/fixtures.services.v1.Alpha/Unary may have been applied on"),
    });
    const nowhere = createClient(AlphaDefinition, rpcCaller(`127.0.0.1:${await freePort()}`));
    expect(await nowhere.unary({ id: "x" }, { timeoutMs: 2_000 }).catch((error: unknown) => error)).toMatchObject({
      code: Code.UNAVAILABLE,
      unprocessed: true,
      mayHaveBeenApplied: false,
    });
  });
});

/** A port nothing listens on (bound once and released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
