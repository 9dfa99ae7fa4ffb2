import { setTimeout as sleep } from "node:timers/promises";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEtcdRegistry } from "../runtime/src/registry/etcd-registry.js";
import type { Registry, RegistryEvent, Service } from "../runtime/src/registry/registry.js";
import { etcdProgram, startEtcdCluster, type EtcdCluster } from "./support/etcd.js";
import { startFaultProxy } from "./support/fault-proxy.js";

const describeEtcd = etcdProgram ? describe : describe.skip;

function greeter(name: string, id: string): Service {
  return {
    name,
    version: "1.0.0",
    metadata: {},
    endpoints: [],
    nodes: [{ id, address: "127.0.0.1:50001", metadata: { protocol: "grpc" } }],
  };
}

/** The next event or the watch's end, failing after `timeoutMs`. */
async function next(events: AsyncIterator<RegistryEvent>, timeoutMs = 10_000): Promise<RegistryEvent | "ended"> {
  const result = await Promise.race([events.next(), sleep(timeoutMs).then(() => "timeout" as const)]);
  if (result === "timeout") throw new Error(`no registry event, and the watch did not end, within ${timeoutMs} ms`);
  return result.done ? "ended" : result.value;
}

describeEtcd("etcd registry watch whose revision was compacted away", () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;
  let writer: Registry;

  /**
   * Compacts etcd's history up to its present revision, after one more write elsewhere: a delete
   * at the compaction's revision is dropped with it, yet a watch may still begin there.
   */
  const compact = async () => {
    const { header } = await raw.put("/tsmicro-test/later").value(String(Date.now())).exec();
    await raw.kv.compact({ revision: header.revision, physical: true });
  };

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
    raw = new Etcd3({ hosts: [...cluster.endpoints] });
    writer = createEtcdRegistry({ addresses: [...cluster.endpoints] });
    await writer.start();
  });
  afterAll(async () => {
    await writer?.stop();
    raw?.close();
    await cluster?.stop();
  });

  it("ends a watch begun in the past when a node left in the compacted revisions, so its reader reads again", async () => {
    const reader = createEtcdRegistry({ addresses: [...cluster.endpoints] });
    await reader.start();
    try {
      await writer.register(greeter("past.greeter", "n1"), { ttlMs: 60_000 });
      expect((await reader.getService("past.greeter")).length).toBe(1);
      // The node leaves, and the revision the reader's watch begins at is compacted away.
      await writer.deregister(greeter("past.greeter", "n1"));
      await compact();
      const events = reader.watch({ service: "past.greeter" })[Symbol.asyncIterator]();
      expect(await next(events)).toBe("ended");
      expect(await reader.getService("past.greeter")).toEqual([]);
    } finally {
      await reader.stop();
    }
  });

  it("ends a watch resumed after a break in which a node left and etcd compacted, and goes on when nothing it watches changed", async () => {
    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    const reader = createEtcdRegistry({ addresses: [proxy.address], requestTimeoutMs: 1_000 });
    await reader.start();
    try {
      const quiet = reader.watch({ service: "gap.greeter" })[Symbol.asyncIterator]();
      const changed = reader.watch({ service: "gap.other" })[Symbol.asyncIterator]();
      await writer.register(greeter("gap.other", "o1"), { ttlMs: 60_000 });
      await writer.register(greeter("gap.greeter", "n1"), { ttlMs: 60_000 });
      expect(await next(changed)).toMatchObject({ action: "create" });
      expect(await next(quiet)).toMatchObject({ action: "create" });

      // The reader loses etcd; meanwhile gap.other's node leaves and etcd compacts past what the watches delivered.
      proxy.refuse(true);
      proxy.reset();
      await writer.deregister(greeter("gap.other", "o1"));
      await compact();
      proxy.refuse(false);

      expect(await next(changed)).toBe("ended");
      // gap.greeter's keys are as its watch last told: it resumes, and reports what comes next.
      await writer.register(greeter("gap.greeter", "n2"), { ttlMs: 60_000 });
      expect(await next(quiet)).toMatchObject({ action: "create", service: { nodes: [{ id: "n2" }] } });
    } finally {
      await reader.stop();
      await proxy.close();
    }
  });
});
