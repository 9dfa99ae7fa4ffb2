import { createRegistry, createService, silentLogger, type MicroService, type Registry } from "@tsmicro/runtime";
import { resolveServiceSettings } from "@tsmicro/runtime/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AlphaDefinition,
  type AlphaClient,
  BetaDefinition,
  type BetaClient,
} from "./golden/10-services/services.micro.js";
import { loadUntilStopped, runLoad, waitFor } from "./support/load.js";
import { registryBackends, type RegistryBackend } from "./support/registry-backends.js";
import { killAllNodes, startNode, type NodeProcess } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

const ttlSeconds = 2;
const nodeFlags = [`--register_ttl=${ttlSeconds}`, "--register_interval=500ms", "--shutdown_grace=5s"];

describe.each(registryBackends)("three nodes and a caller on the %s registry", (_kind, makeBackend, skip) => {
  let backend: RegistryBackend;
  let nodes: NodeProcess[] = [];
  let caller: MicroService;
  let client: AlphaClient;
  /** Beta.Get, which the proto marks free of side effects. */
  let reads: BetaClient;
  let registry: Registry;

  const liveNodeIds = async () => (await registry.getService("echo")).flatMap((s) => s.nodes.map((n) => n.id)).sort();

  beforeAll(async () => {
    if (skip) return;
    backend = await makeBackend();
    nodes = await Promise.all(
      [0, 1, 2].map(() => startNode("test/fixtures/echo-node.ts", [...backend.args, ...nodeFlags], { ECHO_BETA: "1" })),
    );
    registry = createRegistry(resolveServiceSettings({}, backend.args, {}));
    await registry.start();
    await waitFor("three registered nodes", async () => (await liveNodeIds()).length === 3);
    caller = createService({
      name: "caller",
      args: [...backend.args, "--client_retries=2", "--selector=roundrobin"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    client = caller.client(AlphaDefinition, "echo");
    reads = caller.client(BetaDefinition, "echo");
  });

  afterAll(async () => {
    if (skip) return;
    await caller?.stop();
    await registry?.stop();
    await killAllNodes();
    await backend?.cleanup();
  });

  it.skipIf(skip)("round robin spreads calls evenly over the nodes", async () => {
    const result = await runLoad(() => client.unary({ id: "x" }), 600, 1);
    expect(result.failures).toEqual([]);
    expect([...result.byNode.keys()].sort()).toEqual(nodes.map((n) => n.id).sort());
    for (const count of result.byNode.values()) expect(count).toBeGreaterThanOrEqual(180);
  });

  it.skipIf(skip)(
    "SIGKILL of a node under 2,000 calls fails no idempotent one, and the node leaves selection within the TTL",
    async () => {
      const victim = nodes[0]!;
      // Beside them, calls of a method with side effects: those the node took when it died fail, saying so.
      const sideEffects = loadUntilStopped(() => client.unary({ id: "x" }), 2);
      const result = await runLoad(
        () => reads.get({ id: "x" }),
        2_000,
        8,
        (done) => done === 300 && victim.kill("SIGKILL"),
      );
      const unmarked = await sideEffects.stop();
      expect(result.failures).toEqual([]);
      expect(unmarked.ok).toBeGreaterThan(0);
      for (const failure of unmarked.failures) {
        expect(failure).toMatchObject({
          mayHaveBeenApplied: true,
          message: expect.stringContaining("/fixtures.services.v1.Alpha/Unary may have been applied on"),
        });
      }
      expect(result.ok).toBe(2_000);
      // The kill landed mid-load: the victim served some calls, the others served the rest.
      expect(result.byNode.get(victim.id)).toBeGreaterThan(0);
      expect(result.byNode.get(victim.id)).toBeLessThan(1_000);
      await waitFor(
        "the killed node to leave the registry",
        async () => !(await liveNodeIds()).includes(victim.id),
        (ttlSeconds + 3) * 1000,
      );
      const after = await runLoad(() => client.unary({ id: "x" }), 200, 4);
      expect(after.failures).toEqual([]);
      expect(after.byNode.has(victim.id)).toBe(false);
    },
  );

  it.skipIf(skip)("SIGTERM of a node under 2,000 calls fails none, and the node exits 0 deregistered", async () => {
    const victim = nodes[1]!;
    const result = await runLoad(
      () => client.unary({ id: "x" }),
      2_000,
      8,
      (done) => done === 300 && victim.kill("SIGTERM"),
    );
    expect(result.failures).toEqual([]);
    expect(result.byNode.get(victim.id)).toBeGreaterThan(0);
    expect(result.byNode.get(victim.id)).toBeLessThan(1_000);
    expect(await victim.exited).toBe(0);
    expect(await liveNodeIds()).not.toContain(victim.id);
  });
});
