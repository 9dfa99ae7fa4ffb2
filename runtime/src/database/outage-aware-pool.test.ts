import type { PostgresPool, PostgresPoolClient } from "kysely";
import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import { servedCallScope } from "../service/served-call.js";
import { OutageLog } from "./outage-log.js";
import { outageAwarePool, type PoolCounts } from "./outage-aware-pool.js";

/** A pool with no idle connection, whose one connect is settled by the test; its client counts its releases. */
function busyPool() {
  let hand: (client: PostgresPoolClient) => void = () => {};
  const client = { releases: 0, query: async () => ({ rows: [] }), release: () => void client.releases++ };
  const pool: PostgresPool & PoolCounts = {
    idleCount: 0,
    waitingCount: 0,
    options: { max: 10 },
    connect: () =>
      new Promise<PostgresPoolClient>((resolve) => {
        hand = resolve;
      }),
    end: async () => {},
  };
  return { pool, client, hand: () => hand(client as unknown as PostgresPoolClient) };
}

const watch = {
  where: "db:5432/app",
  describe: String,
  outages: new OutageLog("db:5432/app", undefined),
  connectTimeoutMs: 10_000,
  connecting: () => 0,
};

describe("a query's wait for a pooled connection under a served call", () => {
  it("keeps the connection it got when its call is cancelled just after, rather than also releasing it to the pool", async () => {
    const { pool, client, hand } = busyPool();
    const cancel = new AbortController();
    const call = { method: { path: "/t.Svc/Do" }, metadata: {}, signal: cancel.signal } as unknown as CallContext;
    const connected = servedCallScope.run(call, () => outageAwarePool(pool, watch).connect());
    await new Promise((resolve) => setImmediate(resolve));
    // The connection comes, and the call is cancelled before the wait has seen it (in a microtask
    // queued after the connect's, as a cancel run from a promise's continuation is).
    hand();
    queueMicrotask(() => cancel.abort());
    const wrapper = await connected;
    await new Promise((resolve) => setImmediate(resolve));
    // The query has its connection: handed back to the pool as well, another query would share it.
    expect(client.releases).toBe(0);
    wrapper.release();
    expect(client.releases).toBe(1);
  });

  it("releases the connection that comes after its call was cancelled, once", async () => {
    const { pool, client, hand } = busyPool();
    const cancel = new AbortController();
    const call = { method: { path: "/t.Svc/Do" }, metadata: {}, signal: cancel.signal } as unknown as CallContext;
    const connected = servedCallScope.run(call, () => outageAwarePool(pool, watch).connect());
    await new Promise((resolve) => setImmediate(resolve));
    cancel.abort();
    await expect(connected).rejects.toMatchObject({ message: expect.stringContaining("stopped waiting") });
    hand();
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.releases).toBe(1);
  });
});
