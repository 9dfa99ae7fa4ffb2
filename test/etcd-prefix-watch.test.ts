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
    // A run where the stream broke too late to matter (an event loop held up past 100 ms reads
    // both batches at once, and every change arrives before the break) proves nothing: run again.
    let run: Run | undefined;
    for (let attempt = 1; attempt <= 3 && (run === undefined || run.tooLate); attempt++)
      run = await breakWhileSendingThePast(attempt);
    expect(run?.tooLate).toBe(false);
    expect(run?.delivered).toBe(run?.changes);
  });

  /** What one run of the watch delivered, and whether its stream broke while the past was still coming. */
  interface Run {
    readonly changes: number;
    readonly delivered: number;
    /** Every change arrived before the watch connected again: the break came too late to cut the past short. */
    readonly tooLate: boolean;
  }

  /** Writes 1,500 keys, then watches them from before the first through a proxy that resets at the first event. */
  async function breakWhileSendingThePast(attempt: number): Promise<Run> {
    const changes = 1_500;
    const prefix = `/skip-test-${attempt}/k`;
    const { header } = await raw.put(`/skip-test-${attempt}/start`).value("0").exec();
    const begin = Number(header.revision) + 1;
    for (let i = 0; i < changes; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, changes - i) }, (_, j) =>
          raw
            .put(`${prefix}${i + j}`)
            .value("v")
            .exec(),
        ),
      );

    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    const client = new Etcd3({ hosts: [`http://${proxy.address}`] });
    const seen = new Set<string>();
    let broken = false;
    let afterReconnect = 0;
    const watch = new PrefixWatch(
      client,
      prefix,
      begin,
      { lost: () => undefined, back: () => undefined },
      {
        put: (kv) => {
          seen.add(kv.key.toString());
          if (proxy.accepted > 1) afterReconnect++;
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
      for (let waited = 0; seen.size < changes && waited < 15_000; waited += 50) await sleep(50);
      return { changes, delivered: seen.size, tooLate: !broken || (seen.size === changes && afterReconnect === 0) };
    } finally {
      await watch.close();
      client.close();
      await proxy.close();
    }
  }
});
