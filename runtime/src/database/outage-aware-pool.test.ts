import { type AddressInfo, createServer, type Socket } from "node:net";
import type { PostgresPool, PostgresPoolClient } from "kysely";
import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import { failedService } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { servedCallScope } from "../service/served-call.js";
import { lineLogger as recordingLogger } from "../../../test/support/line-logger.js";
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

describe("a query's wait for a connection that an outage's end came in", () => {
  it("is the outage's: its failure says every connection was in use, the log does not", async () => {
    const { pool } = busyPool();
    const { logger, lines } = recordingLogger();
    const outages = new OutageLog("db:5432/app", logger);
    outages.failing("no answer", "the database did not answer in time");
    const { call, cancel } = callWithDeadline();
    const connected = servedCallScope.run(call, () => outageAwarePool(pool, { ...watch, outages }).connect());
    await new Promise((resolve) => setImmediate(resolve));
    // The server answers again while the call still waits behind the queries queued in the outage.
    outages.answered();
    cancel.abort(deadlineCame);
    await expect(connected).rejects.toMatchObject({ message: expect.stringContaining("are in use") });
    outages.answered();
    expect(lines.map(([, , message]) => message)).toEqual([
      "the database did not answer in time",
      "the database answers again",
    ]);
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

describe("a query cut by its call's deadline whose cancel request goes unanswered", () => {
  it("is no outage when another query was answered meanwhile: the server answers, only the cancel's connection did not", async () => {
    // Takes cancel requests' connections and says nothing (a dead link, a proxy that lost its way to the server).
    const sockets: Socket[] = [];
    const requested: Array<() => void> = [];
    const silent = createServer({ allowHalfOpen: true }, (socket) => {
      sockets.push(socket);
      socket.on("data", () => undefined);
      socket.once("end", () => requested.shift()?.());
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { logger, lines } = recordingLogger();
    let warned = () => {};
    const outageLogged = new Promise<void>((resolve) => {
      warned = resolve;
    });
    try {
      const port = (silent.address() as AddressInfo).port;
      const target = { host: "127.0.0.1", port, secretKey: 7, release: () => {} };
      const timedOut = () => Promise.reject(new Error("Query read timeout"));
      // Two connections whose queries are cut by their budget (node-postgres's query_timeout), one answered.
      const clients = [
        { ...target, processID: 1, query: timedOut },
        { ...target, processID: 2, query: async () => ({ rows: [] }) },
        { ...target, processID: 3, query: timedOut },
      ];
      const pool: PostgresPool & PoolCounts = {
        idleCount: 3,
        waitingCount: 0,
        options: { max: 10 },
        connect: async () => clients.shift() as unknown as PostgresPoolClient,
        end: async () => {},
      };
      const outages = new OutageLog("db:5432/app", {
        ...logger,
        warn: (fields: object, message?: string) => {
          logger.warn(fields, message);
          warned();
        },
      } as Logger);
      const watched = outageAwarePool(pool, { ...watch, outages, connectTimeoutMs: 2_000 });
      const cut = (path: string) => {
        const call = { ...callWithDeadline().call, method: { path } } as CallContext;
        return servedCallScope.run(call, async () =>
          (await watched.connect()).query("select pg_sleep(3)", []).catch((e: unknown) => e),
        );
      };
      const firstSent = new Promise<void>((resolve) => requested.push(resolve));
      await expect(cut("/t.Svc/Slow")).resolves.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
      // Answered while the first cancel waits: no timer runs between these promise steps.
      await (await watched.connect()).query("select 1", []);
      // Once the first cancel was sent, a query no other answers: its cancel's wait ends after the first's.
      await firstSent;
      await expect(cut("/t.Svc/Frozen")).resolves.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
      await outageLogged;
      expect(lines.filter(([level]) => level === "warn")).toEqual([
        [
          "warn",
          {
            database: "db:5432/app",
            reason: expect.stringMatching(/the deadline of \/t\.Svc\/Frozen, nor to its cancel request within 2 s$/),
          },
          "the database did not answer in time; calls that wait for it fail DEADLINE_EXCEEDED",
        ],
      ]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("a query cut by its call's deadline whose cancel request's connection is refused", () => {
  it("says so in the outage's reason, rather than that the cancel was waited for", async () => {
    // A port nothing listens on: the server is gone (stopped, a crash), its query's connection not told yet.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { logger, lines } = recordingLogger();
    let warned = () => {};
    const outageLogged = new Promise<void>((resolve) => {
      warned = resolve;
    });
    const outages = new OutageLog("db:5432/app", {
      ...logger,
      warn: (fields: object, message?: string) => {
        logger.warn(fields, message);
        warned();
      },
    } as Logger);
    const client = {
      host: "127.0.0.1",
      port,
      processID: 1,
      secretKey: 7,
      release: () => {},
      query: () => Promise.reject(new Error("Query read timeout")),
    };
    const pool: PostgresPool & PoolCounts = {
      idleCount: 1,
      waitingCount: 0,
      options: { max: 10 },
      connect: async () => client as unknown as PostgresPoolClient,
      end: async () => {},
    };
    const watched = outageAwarePool(pool, { ...watch, outages, connectTimeoutMs: 0 });
    const failure = await servedCallScope.run(callWithDeadline().call, async () =>
      (await watched.connect()).query("select 1", []).catch((e: unknown) => e),
    );
    expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    await outageLogged;
    expect(lines).toEqual([
      [
        "warn",
        {
          database: "db:5432/app",
          reason: expect.stringMatching(
            /^no answer to a query within \d+ ms, what was left of the deadline of \/t\.Svc\/Do, nor to its cancel request, whose connection was refused or could not be made$/,
          ),
        },
        "the database did not answer in time; calls that wait for it fail DEADLINE_EXCEEDED",
      ],
    ]);
  });
});
