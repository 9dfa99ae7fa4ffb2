import {
  Code,
  createMemoryRegistry,
  createService,
  errorReasonOf,
  silentLogger,
  type MicroService,
  type Registry,
  type ServerMiddleware,
} from "@tsmicro/runtime";
import { afterAll, describe, expect, it, vi } from "vitest";
import { bulkheadMiddleware } from "../runtime/src/middleware/bulkhead.js";
import { rateLimitMiddleware } from "../runtime/src/middleware/rate-limit.js";
import { AlphaDefinition, type AlphaClient, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

/**
 * An Alpha handler whose unary calls, by request id, wait until the test
 * opens their gate; it records which calls started.
 */
function gatedAlpha() {
  const started: string[] = [];
  const gates = new Map<string, { opened: Promise<void>; open: () => void }>();
  const gate = (id: string) => {
    let entry = gates.get(id);
    if (!entry) {
      let open = () => {};
      const opened = new Promise<void>((resolve) => (open = resolve));
      entry = { opened, open };
      gates.set(id, entry);
    }
    return entry;
  };
  const unsupported = () => {
    throw new Error("not used");
  };
  const handler: AlphaHandler = {
    unary: async (request) => {
      started.push(request.id);
      await gate(request.id).opened;
      return { id: request.id, payload: new Uint8Array(), sequence: 0 };
    },
    async *serverStream(request) {
      started.push(request.id);
      yield { id: request.id, payload: new Uint8Array(), sequence: 1 };
    },
    clientStream: unsupported,
    bidiStream: unsupported,
  };
  const openAll = () => {
    for (const { open } of gates.values()) open();
  };
  return { handler, started, open: (id: string) => gate(id).open(), openAll };
}

describe("server protection through real gRPC, in one process on the memory registry", () => {
  const services: MicroService[] = [];
  const cleanups: (() => void)[] = [];
  let registry: Registry;
  let client: (name: string) => AlphaClient;

  afterAll(async () => {
    for (const cleanup of cleanups) cleanup();
    for (const service of services.reverse()) await service.stop();
  });

  async function serve(name: string, middleware: ServerMiddleware[]): Promise<ReturnType<typeof gatedAlpha>> {
    if (!registry) {
      registry = createMemoryRegistry();
      // No retries, so a refusal reaches the test instead of being retried on the same (only) node.
      const caller = createService({
        name: "caller",
        args: ["--client_retries=0"],
        env: suiteEnv(),
        registry,
        logger: silentLogger(),
      });
      services.push(caller);
      client = (target) => caller.client(AlphaDefinition, target);
    }
    const alpha = gatedAlpha();
    const service = createService({
      name,
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      serverMiddleware: middleware,
    });
    service.handle(AlphaDefinition, alpha.handler);
    services.push(service);
    cleanups.push(alpha.openAll);
    await service.start();
    return alpha;
  }

  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error,
    );

  it("refuses calls beyond the rate limit with RESOURCE_EXHAUSTED, with a per-method budget of its own", async () => {
    const streamPath = AlphaDefinition.methods.serverStream.path;
    const alpha = await serve("limited", [
      rateLimitMiddleware({ rate: 1, burst: 5, perMethod: { [streamPath]: { burst: 2 } }, now: () => 0 }),
    ]);
    const unary = client("limited");
    for (let i = 0; i < 5; i++) {
      alpha.open(`u${i}`);
      await expect(unary.unary({ id: `u${i}` })).resolves.toMatchObject({ id: `u${i}` });
    }
    const refused = await failure(unary.unary({ id: "u5" }));
    expect(refused).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      message: `rate limit exceeded for ${AlphaDefinition.methods.unary.path}: 1/s`,
    });
    expect(errorReasonOf(refused)).toMatchObject({ domain: "tsmicro.runtime", reason: "RATE_LIMITED" });
    expect(alpha.started).not.toContain("u5");

    // The stream method has its own bucket of 2, untouched by the unary calls that emptied the shared one.
    const streamed = async (id: string) => {
      const ids: string[] = [];
      for await (const reply of unary.serverStream({ id })) ids.push(reply.id);
      return ids;
    };
    expect(await streamed("s0")).toEqual(["s0"]);
    expect(await streamed("s1")).toEqual(["s1"]);
    expect(await failure(streamed("s2"))).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(alpha.started).not.toContain("s2");
  });

  it("runs two calls, queues one, refuses the fourth at once, and runs the queued call when a slot frees", async () => {
    const bulkhead = bulkheadMiddleware({ maxConcurrent: 2, maxQueue: 1 });
    const path = AlphaDefinition.methods.unary.path;
    const alpha = await serve("bulkhead", [bulkhead]);
    const alphaClient = client("bulkhead");
    const one = alphaClient.unary({ id: "1" });
    const two = alphaClient.unary({ id: "2" });
    await vi.waitFor(() => expect(alpha.started).toEqual(expect.arrayContaining(["1", "2"])));
    const three = alphaClient.unary({ id: "3" });
    await vi.waitFor(() => expect(bulkhead.stats(path).queued).toBe(1));

    // Nothing has been released, so the refusal cannot have waited for a slot.
    const four = await failure(alphaClient.unary({ id: "4" }));
    expect(four).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(errorReasonOf(four)).toMatchObject({ reason: "BULKHEAD_FULL" });
    expect(alpha.started).toHaveLength(2);

    alpha.open("1");
    await expect(one).resolves.toMatchObject({ id: "1" });
    await vi.waitFor(() => expect(alpha.started).toContain("3"));
    alpha.open("2");
    alpha.open("3");
    await expect(two).resolves.toMatchObject({ id: "2" });
    await expect(three).resolves.toMatchObject({ id: "3" });
    expect(alpha.started).not.toContain("4");
    expect(bulkhead.stats(path)).toMatchObject({ running: 0, queued: 0 });
  });

  it("takes a queued call whose deadline passes out of the queue, so it neither runs nor holds a place", async () => {
    const bulkhead = bulkheadMiddleware({ maxConcurrent: 1, maxQueue: 1 });
    const path = AlphaDefinition.methods.unary.path;
    const alpha = await serve("deadline", [bulkhead]);
    const alphaClient = client("deadline");
    const busy = alphaClient.unary({ id: "busy" });
    await vi.waitFor(() => expect(alpha.started).toEqual(["busy"]));

    const late = failure(alphaClient.unary({ id: "late" }, { timeoutMs: 200 }));
    await vi.waitFor(() => expect(bulkhead.stats(path).queued).toBe(1));
    expect(await late).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    await vi.waitFor(() => expect(bulkhead.stats(path).queued).toBe(0));

    // The place it held is free: the next call queues instead of being refused.
    const next = alphaClient.unary({ id: "next" });
    await vi.waitFor(() => expect(bulkhead.stats(path).queued).toBe(1));
    alpha.open("busy");
    alpha.open("next");
    await expect(busy).resolves.toMatchObject({ id: "busy" });
    await expect(next).resolves.toMatchObject({ id: "next" });
    expect(alpha.started).toEqual(["busy", "next"]);
  });
});
