import { setTimeout as sleep } from "node:timers/promises";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrefixWatch } from "../runtime/src/registry/etcd-prefix-watch.js";
import { etcdProgram, startEtcdCluster, type EtcdCluster } from "./support/etcd.js";
import { startFaultProxy } from "./support/fault-proxy.js";

const describeEtcd = etcdProgram ? describe : describe.skip;

describeEtcd("etcd prefix watch begun in the past, its stream broken while etcd sends that past", () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
    raw = new Etcd3({ hosts: [...cluster.endpoints] });
  });
  afterAll(async () => {
    raw?.close();
    await cluster?.stop();
  });

  it("delivers every change after the revision it began at, though etcd3 resumes after etcd's revision", async () => {
    // etcd sends a watch's past 1,000 revisions at a time, 100 ms apart; etcd3 resumes a broken
    // watch after the revision of the last answer, which is etcd's present, not the last event's.
    const keys = 1_500;
    const { header } = await raw.put("/skip-test/start").value("0").exec();
    const begin = Number(header.revision) + 1;
    for (let i = 0; i < keys; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, keys - i) }, (_, j) =>
          raw
            .put(`/skip-test/k${i + j}`)
            .value("v")
            .exec(),
        ),
      );

    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    const client = new Etcd3({ hosts: [`http://${proxy.address}`] });
    const seen = new Set<string>();
    let broken = false;
    const watch = new PrefixWatch(
      client,
      "/skip-test/k",
      begin,
      { lost: () => undefined, back: () => undefined },
      {
        put: (kv) => {
          seen.add(kv.key.toString());
          // The first batch has arrived: the stream breaks before the next.
          if (!broken) {
            broken = true;
            proxy.reset();
          }
        },
        delete: () => undefined,
      },
    );
    try {
      for (let waited = 0; seen.size < keys && waited < 15_000; waited += 50) await sleep(50);
      expect(broken).toBe(true);
      expect(seen.size).toBe(keys);
    } finally {
      await watch.close();
      client.close();
      await proxy.close();
    }
  });
});
