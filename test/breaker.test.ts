import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, TsmicroError } from "../runtime/src/errors/tsmicro-error.js";
import { silentLogger } from "../runtime/src/logging/logger.js";
import { breakerMiddleware, isBreakerOpen, type BreakerOptions } from "../runtime/src/middleware/breaker.js";
import { createMemoryRegistry } from "../runtime/src/registry/memory-registry.js";
import { createService, type MicroService } from "../runtime/src/service/service.js";
import type { Request, Response } from "./golden/10-services/services.js";
import {
  AlphaDefinition,
  BetaDefinition,
  type AlphaHandler,
  type BetaHandler,
} from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

/**
 * A real callee on a real gRPC server, found through the registry: `flaky`
 * answers as `mode` says and counts the calls that reach it, per method.
 */
describe("circuit breaker, caller and callee over gRPC", () => {
  const registry = createMemoryRegistry();
  const services: MicroService[] = [];
  let mode: "internal" | "notFound" | "ok" = "internal";
  const reached = { Unary: 0, Get: 0, Put: 0 };

  function answer(method: keyof typeof reached, request: Request): Response {
    reached[method]++;
    if (mode === "internal") throw new TsmicroError(Code.INTERNAL, "database on fire");
    if (mode === "notFound") throw new TsmicroError(Code.NOT_FOUND, `no item ${request.id}`);
    return { id: request.id, payload: request.payload, sequence: reached[method] };
  }

  beforeAll(async () => {
    const unsupported = () => {
      throw new TsmicroError(Code.UNIMPLEMENTED, "not used");
    };
    const alpha: AlphaHandler = {
      unary: async (request) => answer("Unary", request),
      serverStream: unsupported,
      clientStream: unsupported,
      bidiStream: unsupported,
    };
    const beta: BetaHandler = {
      get: async (request) => answer("Get", request),
      put: async (request) => answer("Put", request),
      oldGet: unsupported,
      download: unsupported,
    };
    const callee = createService({ name: "flaky", args: [], env: suiteEnv(), registry, logger: silentLogger() });
    callee.handle(AlphaDefinition, alpha);
    callee.handle(BetaDefinition, beta);
    services.push(callee);
    await callee.start();
  });
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  /** A caller with the breaker as its client middleware, as createService would be given it. */
  function caller(options: BreakerOptions) {
    const breaker = breakerMiddleware(options);
    const service = createService({
      name: "caller",
      args: [],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
      clientMiddleware: [breaker],
      // The test holds its own breaker to read its stats, so the default one is off.
      breaker: false,
    });
    services.push(service);
    return { breaker, alpha: service.client(AlphaDefinition, "flaky"), beta: service.client(BetaDefinition, "flaky") };
  }

  async function outcomes(send: () => Promise<unknown>, times: number): Promise<unknown[]> {
    const results: unknown[] = [];
    for (let i = 0; i < times; i++) results.push(await send().catch((error: unknown) => error));
    return results;
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("fails fast once a failing callee passes the volume threshold, probes once after the reset timeout, and closes when it heals", async () => {
    mode = "internal";
    reached.Unary = 0;
    const { breaker, alpha } = caller({ volumeThreshold: 5, resetTimeoutMs: 400 });
    const unary = () => alpha.unary({ id: "x" });

    const first = await outcomes(unary, 5);
    expect(first.every((e) => e instanceof TsmicroError && e.code === Code.INTERNAL)).toBe(true);
    expect(reached.Unary).toBe(5);

    const fast = await outcomes(unary, 20);
    expect(fast.every(isBreakerOpen)).toBe(true);
    expect(fast[0]).toMatchObject({ code: Code.UNAVAILABLE, retryable: false });
    expect(reached.Unary).toBe(5);

    await sleep(500);
    const probes = await Promise.allSettled([unary(), unary(), unary()]);
    expect(reached.Unary).toBe(6);
    expect(probes.filter((p) => p.status === "rejected" && isBreakerOpen(p.reason))).toHaveLength(2);
    expect(probes.filter((p) => p.status === "rejected" && p.reason.code === Code.INTERNAL)).toHaveLength(1);
    expect(isBreakerOpen(await unary().catch((error: unknown) => error))).toBe(true);
    expect(reached.Unary).toBe(6);

    mode = "ok";
    await sleep(500);
    const healed = await outcomes(unary, 5);
    expect(healed).toEqual([7, 8, 9, 10, 11].map((sequence) => expect.objectContaining({ id: "x", sequence })));
    expect(breaker.stats("flaky", AlphaDefinition.methods.unary.path)?.state).toBe("closed");
  });

  it("never opens on business errors, however many", async () => {
    mode = "notFound";
    reached.Unary = 0;
    const { breaker, alpha } = caller({ volumeThreshold: 5, resetTimeoutMs: 400 });
    const results = await outcomes(() => alpha.unary({ id: "missing" }), 40);
    expect(reached.Unary).toBe(40);
    expect(results.every((e) => e instanceof TsmicroError && e.code === Code.NOT_FOUND)).toBe(true);
    expect((results[39] as Error).message).toContain("no item missing");
    expect(breaker.stats("flaky", AlphaDefinition.methods.unary.path)?.state).toBe("closed");
  });

  it("answers with the fallback while the breaker is open", async () => {
    mode = "internal";
    reached.Unary = 0;
    const { alpha } = caller({
      volumeThreshold: 5,
      resetTimeoutMs: 60_000,
      perMethod: {
        "flaky/Unary": {
          fallback: (_call, error) => ({
            id: isBreakerOpen(error) ? "from fallback, open" : "from fallback, failed",
            payload: new Uint8Array(),
            sequence: 0,
          }),
        },
      },
    });
    const results = await outcomes(() => alpha.unary({ id: "x" }), 12);
    expect(reached.Unary).toBe(5);
    expect(results.map((r) => (r as Response).id)).toEqual([
      ...Array<string>(5).fill("from fallback, failed"),
      ...Array<string>(7).fill("from fallback, open"),
    ]);
  });

  it("applies per-method settings: one method opens while the other stays closed", async () => {
    mode = "internal";
    reached.Get = 0;
    reached.Put = 0;
    const { breaker, beta } = caller({
      volumeThreshold: 50,
      resetTimeoutMs: 60_000,
      perMethod: { "flaky/Get": { volumeThreshold: 3 }, "/fixtures.services.v1.Beta/Put": { volumeThreshold: 20 } },
    });
    const gets = await outcomes(() => beta.get({ id: "g" }), 10);
    const puts = await outcomes(() => beta.put({ id: "p" }), 10);
    expect(reached).toMatchObject({ Get: 3, Put: 10 });
    expect(gets.filter(isBreakerOpen)).toHaveLength(7);
    expect(puts.filter(isBreakerOpen)).toHaveLength(0);
    expect(breaker.stats("flaky", BetaDefinition.methods.get.path)?.state).toBe("open");
    expect(breaker.stats("flaky", BetaDefinition.methods.put.path)?.state).toBe("closed");
  });
});
