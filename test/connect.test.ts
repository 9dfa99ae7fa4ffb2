/**
 * connect(): registry-backed clients for a process that only calls, with the
 * default selector, retries and breakers, and no gRPC server of its own.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  connect,
  createMemoryRegistry,
  createRegistry,
  createService,
  silentLogger,
  type MicroService,
  type RegistryEvent,
} from "@tsmicro/runtime";
import { resolveServiceSettings } from "@tsmicro/runtime/internal";
import { afterAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { repoRoot } from "./support/cli.js";
import { killAllNodes, killLeavingRegistration, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

/** Runs the calling script to its end (killed, and failing the test, if it has not exited after 20 s). */
function runScript(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "test/fixtures/connect-script.ts"), ...args],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("connect() in a script, over the local registry", () => {
  let dir = "";
  afterAll(async () => {
    await killAllNodes();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("calls a running service, retries on the live node while a killed one is still registered, and exits", async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-connect-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    const live = await startNode("test/fixtures/echo-node.ts", flags);
    const dead = await startNode("test/fixtures/echo-node.ts", flags);
    // Killed where no reader can check its process (another container's, say), the node stays registered
    // until its TTL: calls picking it must go on to the live one.
    await killLeavingRegistration(dead, dir, "echo");
    const registry = createRegistry(resolveServiceSettings({}, flags, {}));
    await registry.start();
    const [echo] = await registry.getService("echo");
    await registry.stop();
    expect(echo?.nodes.map((n) => n.id).sort()).toEqual([live.id, dead.id].sort());

    const result = await runScript(flags);
    expect(result.code, result.stderr).toBe(0);
    const { ids, errors } = JSON.parse(result.stdout) as { ids: string[]; errors: string[] };
    expect(errors).toEqual([]);
    expect(ids).toEqual(Array.from({ length: 20 }, () => live.id));
  });
});

describe("waitForReady through the local registry", () => {
  afterAll(async () => {
    await killAllNodes();
  });

  it("waits for a service that registers after the call was made, and calls its node", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-wait-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    const mesh = connect({ args: flags, env: suiteEnv(), logger: silentLogger() });
    try {
      const echo = mesh.client(AlphaDefinition, "echo");
      await expect(echo.unary({ id: "x" })).rejects.toThrow("no nodes of service echo are registered");
      const answer = echo.unary({ id: "x" }, { waitForReady: true, timeoutMs: 30_000 });
      // Awaited once the node is up; a failure before that is the test's, not an unhandled rejection.
      answer.catch(() => {});
      const node = await startNode("test/fixtures/echo-node.ts", flags);
      expect((await answer).id).toBe(node.id);
    } finally {
      await mesh.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("connect({ registry }) with a handed-in memory registry", () => {
  const services: MicroService[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("calls an in-process service, and stop() leaves the registry (and its watches) running", async () => {
    const registry = createMemoryRegistry();
    const events: RegistryEvent[] = [];
    const watcher = registry.watch({ service: "echo" });
    void (async () => {
      for await (const event of watcher) events.push(event);
    })();
    const node: MicroService = createService({
      name: "echo",
      registry,
      args: [],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    node.handle(
      AlphaDefinition,
      { unary: async () => ({ id: node.id, payload: new Uint8Array(), sequence: 0 }) },
      {
        partial: true,
      },
    );
    await node.start();
    services.push(node);

    const mesh = connect({ registry, args: [], env: suiteEnv(), logger: silentLogger() });
    expect((await mesh.client(AlphaDefinition, "echo").unary({ id: "x" })).id).toBe(node.id);
    await mesh.stop();

    await node.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events.map((e) => e.action)).toEqual(["create", "delete"]);
    watcher.stop();
  });

  it("a bad flag throws a SetupError naming it; a slip of a known flag names the one meant", () => {
    expect(() => connect({ args: ["--client_retries=-1"], env: suiteEnv() })).toThrow(/--client_retries/);
    expect(() => connect({ args: ["--registry_adress=/tmp/x"], env: suiteEnv() })).toThrow(
      expect.objectContaining({
        code: "TSM_ERR_FLAG_UNKNOWN",
        message: "unknown flag --registry_adress: did you mean --registry_address?",
      }),
    );
    // A script's own flags, far from every known one, stay its own.
    const own = connect({ args: ["--verbose", "--count=3"], env: suiteEnv(), logger: silentLogger() });
    void own.stop();
  });
});
