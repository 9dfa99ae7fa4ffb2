import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Code,
  createMemoryRegistry,
  createService,
  isBreakerOpen,
  silentLogger,
  TsmicroError,
  type MicroService,
} from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("server protection from flags, in a service process", () => {
  let dir = "";
  let caller: MicroService | undefined;

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("--rate_limit and --rate_limit_burst answer RESOURCE_EXHAUSTED beyond the budget", async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-protection-"));
    const registry = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/echo-node.ts", [...registry, "--rate_limit=0.1", "--rate_limit_burst=3"]);
    caller = createService({
      name: "caller",
      args: [...registry, "--client_retries=0"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    const client = caller.client(AlphaDefinition, "echo");
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.unary({ id: "x" })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    for (const rejected of results.filter((r) => r.status === "rejected")) {
      expect((rejected as PromiseRejectedResult).reason).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    }
  });
});

describe("the default circuit breaker of every client, set by flags", () => {
  const services: MicroService[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("--breaker_volume_threshold opens it against a failing callee, which then stops being called", async () => {
    const registry = createMemoryRegistry();
    let calls = 0;
    const failing = () => {
      calls++;
      throw new TsmicroError(Code.INTERNAL, "broken");
    };
    const callee = createService({ name: "broken", args: [], env: suiteEnv(), registry, logger: silentLogger() });
    callee.handle(AlphaDefinition, {
      unary: failing,
      serverStream: failing,
      clientStream: failing,
      bidiStream: failing,
    });
    services.push(callee);
    await callee.start();
    const caller = createService({
      name: "caller",
      args: ["--client_retries=0", "--breaker_volume_threshold=4", "--breaker_reset_timeout=30s"],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
    });
    services.push(caller);
    const client = caller.client(AlphaDefinition, "broken");
    const errors: unknown[] = [];
    for (let i = 0; i < 10; i++) errors.push(await client.unary({ id: "x" }).catch((error: unknown) => error));
    expect(calls).toBe(4);
    expect(errors.slice(0, 4).every((e) => !isBreakerOpen(e))).toBe(true);
    expect(errors.slice(4).every(isBreakerOpen)).toBe(true);
    expect(errors[9]).toMatchObject({ code: Code.UNAVAILABLE, retryable: false });
  });
});
