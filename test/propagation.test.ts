import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createService, silentLogger, type MicroService } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaClient } from "./golden/10-services/services.micro.js";
import { waitFor } from "./support/load.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("deadlines and cancellation across two hops (caller -> echo-a -> echo-b)", () => {
  let dir = "";
  let caller: MicroService;
  let a: AlphaClient;
  let b: AlphaClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-propagation-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: "echo-b" });
    await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: "echo-a", ECHO_DOWNSTREAM: "echo-b" });
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
    a = caller.client(AlphaDefinition, "echo-a");
    b = caller.client(AlphaDefinition, "echo-b");
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("the caller's remaining deadline reaches the second hop", async () => {
    const { sequence: left } = await a.unary({ id: "relay:deadline" }, { timeoutMs: 800 });
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(800);
  });

  it("without a timeout the default --client_request_timeout applies, still passed on", async () => {
    const { sequence: left } = await a.unary({ id: "relay:deadline" });
    expect(left).toBeGreaterThan(3_000);
    expect(left).toBeLessThanOrEqual(5_000);
  });

  it("a deadline that passes at the second hop fails the call with DEADLINE_EXCEEDED", async () => {
    await expect(a.unary({ id: "relay:sleep:2000" }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
  });

  it("cancelling at the caller aborts the handler's signal on the second hop", async () => {
    const before = (await b.unary({ id: "cancelled" })).sequence;
    const controller = new AbortController();
    const call = a.unary({ id: "relay:sleep:5000" }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(call).rejects.toMatchObject({ code: Code.CANCELLED });
    await waitFor(
      "echo-b to see the cancellation",
      async () => (await b.unary({ id: "cancelled" })).sequence > before,
      5_000,
    );
  });
});
