import type { PostgresPool, PostgresPoolClient } from "kysely";
import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import { failedService } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
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

/** A served call of /t.Svc/Do whose deadline is a minute off, and the controller of its signal. */
function callWithDeadline() {
  const cancel = new AbortController();
  const call = {
    method: { path: "/t.Svc/Do" },
    metadata: {},
    signal: cancel.signal,
    deadline: new Date(Date.now() + 60_000),
  } as unknown as CallContext;
  return { call, cancel };
}

/** What the server's context aborts a call's signal with when its deadline comes, or its caller cancels. */
const deadlineCame = new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline exceeded serving /t.Svc/Do");
const callerCancelled = new TsmicroError(Code.CANCELLED, "the caller cancelled /t.Svc/Do");

/** A pool with one idle connection, whose queries the server never answers; it records how it was released. */
function poolOfUnansweredQueries() {
  const released: unknown[] = [];
  const client = { query: () => new Promise(() => {}), release: (destroy?: unknown) => void released.push(destroy) };
  const pool: PostgresPool & PoolCounts = {
    idleCount: 1,
    waitingCount: 0,
    options: { max: 10 },
    connect: async () => client as unknown as PostgresPoolClient,
    end: async () => {},
  };
  return { pool, released };
}

describe("a call's deadline seen before its query's own budget ran out (its timer late on a held event loop)", () => {
  it("fails a query's wait for a connection UNAVAILABLE naming postgres, as the budget's timer would have", async () => {
    const { pool } = busyPool();
    const { call, cancel } = callWithDeadline();
    const connected = servedCallScope.run(call, () => outageAwarePool(pool, watch).connect());
    await new Promise((resolve) => setImmediate(resolve));
    cancel.abort(deadlineCame);
    const failure = await connected.catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: Code.UNAVAILABLE, message: expect.stringContaining("came free within") });
    expect(failedService(failure)).toBe("postgres");
  });

  it("fails a query sent DEADLINE_EXCEEDED naming postgres, as its query_timeout would have, and closes its connection", async () => {
    const { pool, released } = poolOfUnansweredQueries();
    const { call, cancel } = callWithDeadline();
    const failure = await servedCallScope.run(call, async () => {
      const client = await outageAwarePool(pool, watch).connect();
      const query = client.query("select 1", []).catch((error: unknown) => error);
      cancel.abort(deadlineCame);
      const error = await query;
      client.release();
      return error;
    });
    expect(failure).toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
      message: expect.stringMatching(/^the PostgreSQL server at db:5432\/app did not answer a query within \d+ ms/),
    });
    expect(failedService(failure)).toBe("postgres");
    expect(released).toEqual([true]);
  });
});

describe("a query sent under a served call whose caller cancels", () => {
  it("fails at once CANCELLED, naming no service, and fails the connection's next query so too and closes it", async () => {
    const { pool, released } = poolOfUnansweredQueries();
    const { call, cancel } = callWithDeadline();
    const [failure, next] = await servedCallScope.run(call, async () => {
      const client = await outageAwarePool(pool, watch).connect();
      const query = client.query("select 1", []).catch((error: unknown) => error);
      cancel.abort(callerCancelled);
      const error = await query;
      // A transaction's rollback on the same connection.
      const after = await client.query("rollback", []).catch((e: unknown) => e);
      client.release();
      return [error, after];
    });
    expect(failure).toMatchObject({
      code: Code.CANCELLED,
      message:
        "a query sent to the PostgreSQL server at db:5432/app was cancelled (a write may have been applied): the caller cancelled /t.Svc/Do",
    });
    expect(failedService(failure)).toBeUndefined();
    expect(next).toBe(failure);
    // Closed, not pooled: the cancel sent to the server must not stop another caller's query on it.
    expect(released).toEqual([true]);
  });
});
