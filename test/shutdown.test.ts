import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRegistry, createService, silentLogger, type MicroService } from "@tsmicro/runtime";
import { resolveServiceSettings } from "@tsmicro/runtime/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("graceful shutdown on SIGTERM", () => {
  let dir = "";
  let caller: MicroService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-shutdown-"));
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("finishes the call in flight, deregisters and exits 0", async () => {
    const flags = ["--registry=local", `--registry_address=${dir}`];
    const node = await startNode("test/fixtures/echo-node.ts", flags);
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
    const client = caller.client(AlphaDefinition, "echo");
    const inFlight = client.unary({ id: "sleep:1500" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    node.kill("SIGTERM");
    await expect(inFlight).resolves.toMatchObject({ id: node.id });
    expect(await node.exited).toBe(0);
    const registry = createRegistry(resolveServiceSettings({}, flags, {}));
    await registry.start();
    expect(await registry.getService("echo")).toEqual([]);
    await registry.stop();
    expect(node.output()).toContain('"msg":"echo stopped"');
  });

  // Ctrl-C on `npm run dev` reaches the service twice: from the terminal, to the whole process
  // group, and again from tsx watch passing it on.
  it("takes one Ctrl-C delivered twice as one: it still finishes, deregisters and exits 0", async () => {
    const flags = ["--registry=local", `--registry_address=${dir}`];
    const node = await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: "twice" });
    const client = caller.client(AlphaDefinition, "twice");
    const inFlight = client.unary({ id: "sleep:1500" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    node.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 50));
    node.kill("SIGINT");
    await expect(inFlight).resolves.toMatchObject({ id: node.id });
    expect(await node.exited).toBe(0);
    const registry = createRegistry(resolveServiceSettings({}, flags, {}));
    await registry.start();
    expect(await registry.getService("twice")).toEqual([]);
    await registry.stop();
    expect(node.output()).toContain('"msg":"twice stopped"');
  });

  it("exits at once, 1, on a second Ctrl-C a while after the first", async () => {
    const flags = ["--registry=local", `--registry_address=${dir}`];
    const node = await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: "impatient" });
    const client = caller.client(AlphaDefinition, "impatient");
    const inFlight = client.unary({ id: "sleep:20000" }).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    node.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    node.kill("SIGINT");
    expect(await node.exited).toBe(1);
    await inFlight;
    expect(node.output()).not.toContain('"msg":"impatient stopped"');
  });
});
