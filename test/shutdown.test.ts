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
  let flags: string[] = [];
  let caller: MicroService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-shutdown-"));
    flags = ["--registry=local", `--registry_address=${dir}`];
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  /** A node named `name` sent `signals` while a call of `sleepMs` runs on it, each after its pause. */
  async function signalledWhileCalling(name: string, sleepMs: number, signals: [NodeJS.Signals, number][]) {
    const node = await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: name });
    const inFlight = caller
      .client(AlphaDefinition, name)
      .unary({ id: `sleep:${sleepMs}` })
      .then(
        (response) => ({ response }),
        (error: unknown) => ({ error }),
      );
    for (const [signal, afterMs] of signals) {
      await new Promise((resolve) => setTimeout(resolve, afterMs));
      node.kill(signal);
    }
    return { node, inFlight };
  }

  /** The call in flight answered by the node, which deregistered, said it stopped and exited 0. */
  async function expectStoppedCleanly(
    name: string,
    { node, inFlight }: Awaited<ReturnType<typeof signalledWhileCalling>>,
  ) {
    expect(await inFlight).toMatchObject({ response: { id: node.id } });
    expect(await node.exited).toBe(0);
    const registry = createRegistry(resolveServiceSettings({}, flags, {}));
    await registry.start();
    expect(await registry.getService(name)).toEqual([]);
    await registry.stop();
    expect(node.output()).toContain(`"msg":"${name} stopped"`);
  }

  it("finishes the call in flight, deregisters and exits 0", async () => {
    await expectStoppedCleanly("echo", await signalledWhileCalling("echo", 1_500, [["SIGTERM", 300]]));
  });

  // Ctrl-C on `npm run dev` reaches the service twice: from the terminal, to the whole process
  // group, and again from tsx watch passing it on.
  it("takes one Ctrl-C delivered twice as one: it still finishes, deregisters and exits 0", async () => {
    const stopping = await signalledWhileCalling("twice", 1_500, [
      ["SIGINT", 300],
      ["SIGINT", 50],
    ]);
    await expectStoppedCleanly("twice", stopping);
  });

  it("exits at once, 1, on a second Ctrl-C a while after the first", async () => {
    const { node, inFlight } = await signalledWhileCalling("impatient", 20_000, [
      ["SIGINT", 300],
      ["SIGINT", 1_500],
    ]);
    expect(await node.exited).toBe(1);
    expect(await inFlight).toHaveProperty("error");
    expect(node.output()).not.toContain('"msg":"impatient stopped"');
  });
});
