import { createRegistry, createService, type MicroService, type Registry } from "@tsmicro/runtime";
import { resolveServiceSettings } from "@tsmicro/runtime/internal";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { etcdProgram, startEtcdCluster, type EtcdCluster } from "./support/etcd.js";
import { loadUntilStopped, waitFor } from "./support/load.js";
import { killAllNodes, startNode, type NodeProcess } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nodeFlags = ["--register_ttl=3", "--register_interval=500ms"];

describe.skipIf(!etcdProgram)("services on etcd when etcd fails", () => {
  let cluster: EtcdCluster | undefined;
  let caller: MicroService | undefined;
  let registry: Registry | undefined;
  let log: ReturnType<typeof recordingLogger>;

  afterEach(async () => {
    await caller?.stop();
    await registry?.stop();
    await killAllNodes();
    await cluster?.stop();
  });

  async function setUp(
    members: 1 | 3,
  ): Promise<{ nodes: NodeProcess[]; flags: string[]; ids: () => Promise<string[]> }> {
    cluster = await startEtcdCluster({ members });
    const flags = ["--registry=etcd", `--registry_address=${cluster.endpoints.join(",")}`];
    const nodes = await Promise.all(
      [0, 1].map(() => startNode("test/fixtures/echo-node.ts", [...flags, ...nodeFlags])),
    );
    registry = createRegistry(resolveServiceSettings({}, flags, {}));
    await registry.start();
    const ids = async () => (await registry!.getService("echo")).flatMap((s) => s.nodes.map((n) => n.id)).sort();
    await waitFor("both nodes registered", async () => (await ids()).length === 2);
    log = recordingLogger();
    caller = createService({
      name: "caller",
      args: [...flags, "--client_retries=2"],
      env: suiteEnv(),
      logger: log.logger,
    });
    return { nodes, flags, ids };
  }

  it("etcd stopped for 10 s under load: no call fails, the caller says so once, and the services are registered again after", async () => {
    const { nodes, ids } = await setUp(1);
    const client = caller!.client(AlphaDefinition, "echo");
    await client.unary({ id: "warm" });
    const load = loadUntilStopped(() => client.unary({ id: "x" }), 4);
    await sleep(1_000);
    await cluster!.stopMember(0);
    await sleep(10_000);
    const address = cluster!.endpoints[0];
    // The service says once that it lost etcd and goes on with the nodes it knows.
    const said = (level: string) => log.entries.filter((entry) => entry.level === level).map((entry) => entry.message);
    expect(said("warn")).toEqual([
      `lost the etcd registry at ${address}: calls go to the nodes it last listed until it answers; reconnecting`,
    ]);
    await cluster!.startMember(0);
    await sleep(2_000);
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    await waitFor("the return said", async () =>
      said("info").includes(`the etcd registry at ${address} answers again`),
    );
    expect(result.ok).toBeGreaterThan(500);
    const expected = nodes.map((n) => n.id).sort();
    await waitFor(
      "both nodes registered again",
      async () => (await ids().catch(() => [])).join() === expected.join(),
      15_000,
    );
    // Still there a full TTL later: heartbeats are running against the restarted etcd.
    await sleep(4_000);
    expect(await ids()).toEqual(expected);
  });

  it("a three-member cluster: stopping each member in turn loses no registration and no call", async () => {
    const { nodes, ids } = await setUp(3);
    const client = caller!.client(AlphaDefinition, "echo");
    await client.unary({ id: "warm" });
    const expected = nodes.map((n) => n.id).sort();
    const load = loadUntilStopped(() => client.unary({ id: "x" }), 4);
    for (const member of [0, 1, 2]) {
      await cluster!.stopMember(member);
      await sleep(4_000);
      expect(await ids(), `registrations with member ${member} down`).toEqual(expected);
      await cluster!.startMember(member);
    }
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(await ids()).toEqual(expected);
  });
});
