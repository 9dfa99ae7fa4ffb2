import {
  Code,
  createMemoryRegistry,
  createService,
  silentLogger,
  type ClientMiddleware,
  type MicroService,
  type ServerMiddleware,
  TsmicroError,
} from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

describe("middleware, in one process on the memory registry", () => {
  const services: MicroService[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("runs server and client middleware in order, [a, b] meaning a wraps b", async () => {
    const registry = createMemoryRegistry();
    const trace: string[] = [];
    const server =
      (name: string): ServerMiddleware =>
      (next) =>
      async (call) => {
        trace.push(`server ${name} in ${call.method.name}`);
        const result = await (next(call) as Promise<unknown>);
        trace.push(`server ${name} out`);
        return result;
      };
    const client =
      (name: string): ClientMiddleware =>
      (next) =>
      async (call) => {
        trace.push(`client ${name} in ${call.service}`);
        const result = await (next({
          ...call,
          metadata: { ...call.metadata, [`x-${name}`]: "1" },
        }) as Promise<unknown>);
        trace.push(`client ${name} out`);
        return result;
      };
    const unsupported = () => {
      throw new Error("not used");
    };
    const handler: AlphaHandler = {
      unary: async (request, context) => {
        trace.push(
          `handler sees ${Object.keys(context.metadata)
            .filter((k) => k.startsWith("x-"))
            .sort()
            .join(",")}`,
        );
        return { id: request.id, payload: request.payload, sequence: 0 };
      },
      serverStream: unsupported,
      clientStream: unsupported,
      bidiStream: unsupported,
    };
    const echo = createService({
      name: "echo",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      serverMiddleware: [server("a"), server("b")],
    });
    echo.handle(AlphaDefinition, handler);
    services.push(echo);
    await echo.start();
    const caller = createService({
      name: "caller",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      clientMiddleware: [client("a"), client("b")],
    });
    services.push(caller);
    expect(await caller.client(AlphaDefinition, "echo").unary({ id: "m" })).toMatchObject({ id: "m" });
    expect(trace).toEqual([
      "client a in echo",
      "client b in echo",
      "server a in Unary",
      "server b in Unary",
      "handler sees x-a,x-b",
      "server b out",
      "server a out",
      "client b out",
      "client a out",
    ]);
  });

  it("takes async middleware on a streaming method: its Promise is the stream it resolves to, its rejection the call's error", async () => {
    const registry = createMemoryRegistry();
    // Written as async functions, the usual shape of "look something up, then go on" middleware.
    const guard: ServerMiddleware = (next) => async (call) => {
      await Promise.resolve();
      if (call.context.metadata["x-key"] !== "open sesame")
        throw new TsmicroError(Code.UNAUTHENTICATED, "missing or wrong x-key");
      return next(call);
    };
    const addKey =
      (key: string): ClientMiddleware =>
      (next) =>
      async (call) => {
        await Promise.resolve();
        if (key === "") throw new TsmicroError(Code.FAILED_PRECONDITION, "no key to send");
        return next({ ...call, metadata: { ...call.metadata, "x-key": key } });
      };
    const unsupported = () => {
      throw new Error("not used");
    };
    const handler: AlphaHandler = {
      unary: unsupported,
      async *serverStream(request) {
        for (let sequence = 0; sequence < 3; sequence++) yield { id: request.id, payload: request.payload, sequence };
      },
      clientStream: unsupported,
      bidiStream: unsupported,
    };
    const echo = createService({
      name: "stream-echo",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      serverMiddleware: [guard],
    });
    echo.handle(AlphaDefinition, handler);
    services.push(echo);
    await echo.start();
    const callerWith = (key: string) => {
      const caller = createService({
        name: "stream-caller",
        args: [],
        env: suiteEnv(),
        registry,
        logger: silentLogger(),
        clientMiddleware: [addKey(key)],
      });
      services.push(caller);
      return caller.client(AlphaDefinition, "stream-echo");
    };
    const sequences = async (stream: AsyncIterable<{ sequence: number }>) => {
      const seen: number[] = [];
      for await (const response of stream) seen.push(response.sequence);
      return seen;
    };
    expect(await sequences(callerWith("open sesame").serverStream({ id: "s" }))).toEqual([0, 1, 2]);
    await expect(sequences(callerWith("wrong").serverStream({ id: "s" }))).rejects.toMatchObject({
      code: Code.UNAUTHENTICATED,
      message: expect.stringContaining("missing or wrong x-key"),
    });
    await expect(sequences(callerWith("").serverStream({ id: "s" }))).rejects.toMatchObject({
      code: Code.FAILED_PRECONDITION,
    });
    // A stream dropped before its first message leaves no unhandled rejection behind (vitest fails the run on one).
    callerWith("").serverStream({ id: "s" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The server is still there.
    expect(await sequences(callerWith("open sesame").serverStream({ id: "again" }))).toEqual([0, 1, 2]);
  });

  it("times a streaming call by its stream, as the README's timing middleware does, also behind async middleware", async () => {
    const registry = createMemoryRegistry();
    const timed: { method: string; ms: number }[] = [];
    const logger = { info: (fields: { method: string; ms: number }, _message: string) => void timed.push(fields) };
    // The README's example, as written there.
    const timing: ServerMiddleware = (next) => (call) => {
      const started = performance.now();
      const done = () => logger.info({ method: call.method.name, ms: performance.now() - started }, "served");
      const result = next(call);
      if (call.method.kind === "unary" || call.method.kind === "client_streaming")
        return (result as Promise<unknown>).finally(done);
      return (async function* () {
        try {
          yield* (await result) as AsyncIterable<unknown>;
        } finally {
          done();
        }
      })();
    };
    // An async middleware inside it: next(call) is then a Promise of the stream.
    const later: ServerMiddleware = (next) => async (call) => {
      await Promise.resolve();
      return next(call);
    };
    const unsupported = () => {
      throw new Error("not used");
    };
    const handler: AlphaHandler = {
      unary: async (request) => ({ id: request.id, payload: request.payload, sequence: 0 }),
      async *serverStream(request) {
        for (let sequence = 0; sequence < 3; sequence++) {
          await new Promise((resolve) => setTimeout(resolve, 30));
          yield { id: request.id, payload: request.payload, sequence };
        }
      },
      clientStream: unsupported,
      bidiStream: unsupported,
    };
    const echo = createService({
      name: "timed-echo",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      serverMiddleware: [timing, later],
    });
    echo.handle(AlphaDefinition, handler);
    services.push(echo);
    await echo.start();
    const caller = createService({ name: "timed-caller", args: [], env: suiteEnv(), registry, logger: silentLogger() });
    services.push(caller);
    const client = caller.client(AlphaDefinition, "timed-echo");
    const seen: number[] = [];
    for await (const response of client.serverStream({ id: "s" })) seen.push(response.sequence);
    await client.unary({ id: "u" });
    expect(seen).toEqual([0, 1, 2]);
    expect(timed.map((entry) => entry.method)).toEqual(["ServerStream", "Unary"]);
    // The stream's three 30 ms waits are in its time: it was timed to its end, not to its start.
    expect(timed[0]!.ms).toBeGreaterThanOrEqual(85);
  });
});
