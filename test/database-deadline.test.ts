/**
 * A PostgreSQL that stops answering (frozen with SIGSTOP, as a paused VM or a stuck host) while a
 * service serves calls: a query made for a call gives up before the call's deadline and blames the
 * database, so its caller reads that PostgreSQL did not answer, not "no answer from" the service.
 */
import { sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  createMemoryRegistry,
  createService,
  failedService,
  silentLogger,
  type MicroService,
  type TsmicroError,
} from "@tsmicro/runtime";
import { openDatabase, type Database } from "@tsmicro/runtime/database";
import { recordingLogger, waitFor } from "../runtime/src/broker/testdata/broker-conformance.js";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { type FaultProxy, startFaultProxy } from "./support/fault-proxy.js";
import { postgresBinDir, startPostgres, type PostgresServer } from "./support/postgres.js";
import { suiteEnv } from "./support/suite-env.js";

/** The deadline the caller sets on each call. */
const timeoutMs = 3_000;

describe.skipIf(!postgresBinDir).each([
  ["traced", {}],
  ["untraced", { OTEL_SDK_DISABLED: "true" }],
])("a frozen PostgreSQL under a %s service", (_, env: Record<string, string>) => {
  let server: PostgresServer;
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterEach(async () => {
    server.thaw();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  afterAll(async () => {
    await server?.stop();
  });

  /**
   * A service `store` whose one method queries the database (`id` "tx": in a transaction), and a
   * client of it whose calls have a deadline of `timeoutMs`; the database opened with the URL's
   * `connect_timeout` in seconds and `pool_max_conns`, if given, through the proxy `via` if given.
   */
  async function serve(connectTimeoutS?: number, poolMaxConns?: number, via?: FaultProxy) {
    const { logger, entries } = recordingLogger();
    // The failures the handler's queries met, as the service saw them: on a machine that holds the
    // processes' event loops past the answer's reserve, the caller's own deadline can come first.
    const served: unknown[] = [];
    // What the call "background" leaves running after it is answered: a query once its deadline has passed.
    let background: Promise<unknown> | undefined;
    // The handlers that started, by id: a call's query is about to wait for a connection once its id is here.
    const started = new Set<string>();
    const params = new URLSearchParams();
    if (connectTimeoutS !== undefined) params.set("connect_timeout", String(connectTimeoutS));
    if (poolMaxConns !== undefined) params.set("pool_max_conns", String(poolMaxConns));
    const base = via ? `postgres://postgres@${via.address}/postgres` : server.url;
    const url = params.size === 0 ? base : `${base}?${params}`;
    const database = await openDatabase<object>({ url, logger });
    cleanups.push(() => database.close());
    const registry = createMemoryRegistry();
    const quiet = { registry, args: [] as string[], env: suiteEnv(env), logger: silentLogger() };
    const store: MicroService = createService({ name: "store", ...quiet });
    store.handle(
      AlphaDefinition,
      {
        unary: async (request, context) => {
          started.add(request.id);
          // "sleep": a query the server runs for 30 s (a long report, a lock wait), longer than any call here waits.
          const select =
            request.id === "sleep"
              ? sql<{ id: string }>`select pg_sleep(30)::text as id`
              : sql<{ id: string }>`select ${request.id}::text as id`;
          if (request.id === "background") {
            background = waitFor("the call's deadline to pass", () => context.deadline!.getTime() < Date.now())
              .then(() => select.execute(database.db))
              .catch((error: unknown) => error);
            return { id: request.id, payload: request.payload, sequence: 0 };
          }
          if (request.id === "pair") {
            // Two queries at once in one call: both ask the pool for a connection in the same tick.
            const settled = await Promise.allSettled([select.execute(database.db), select.execute(database.db)]);
            const failed = settled.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
            served.push(...failed);
            if (failed.length > 0) throw failed[0];
            return { id: request.id, payload: request.payload, sequence: 0 };
          }
          try {
            const { rows } =
              request.id === "tx"
                ? await database.db.transaction().execute((tx) => select.execute(tx))
                : await select.execute(database.db);
            return { id: rows[0]?.id ?? "", payload: request.payload, sequence: 0 };
          } catch (error) {
            served.push(error);
            throw error;
          }
        },
      },
      { partial: true },
    );
    await store.start();
    cleanups.push(() => store.stop());
    const caller = createService({ name: "caller", ...quiet });
    cleanups.push(() => caller.stop());
    const client = caller.client(AlphaDefinition, "store");
    const call = (id: string, callTimeoutMs = timeoutMs, signal?: AbortSignal) =>
      client.unary({ id, payload: new Uint8Array() }, { timeoutMs: callTimeoutMs, signal }).then(
        (response) => response,
        (error: unknown) => error,
      );
    /** The failures the handler met, once `count` have come, and the caller's for them. */
    const failedCalls = async (count: number, callers: unknown[], timeoutMs?: number) => {
      await waitFor(`${count} queries failed in the handler`, () => served.length >= count, timeoutMs);
      // The caller reads postgres named, unless its own deadline came first on a machine too loaded for the reserve.
      for (const failure of callers) expect(failedService(failure) === "postgres" || ownDeadline(failure)).toBe(true);
      return served.splice(0);
    };
    return { database, call, entries, failedCalls, started, background: () => background };
  }

  it("fails the call that waited for a query DEADLINE_EXCEEDED, and the one that waited for a new connection UNAVAILABLE, both naming postgres before the caller's deadline", async () => {
    const { call, entries, failedCalls } = await serve();
    // The pool holds one idle connection: of two calls at once, one queries on it, the other needs a new one.
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    const failures = await failedCalls(2, await Promise.all([call("a"), call("b")]));
    server.thaw();

    // Named postgres, so failed on the server's side before the deadline: the caller's own would name store.
    expect(failures.map(failedService)).toEqual(["postgres", "postgres"]);
    const byCode = new Map(
      failures.map((failure) => [(failure as TsmicroError).code, (failure as TsmicroError).message]),
    );
    expect([...byCode.keys()].sort()).toEqual([Code.DEADLINE_EXCEEDED, Code.UNAVAILABLE].sort());
    const within = (message: string | undefined) => Number(/within (\d+) ms/.exec(message ?? "")?.[1]);
    expect(byCode.get(Code.DEADLINE_EXCEEDED)).toMatch(
      /^the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres did not answer a query within \d+ ms, what was left of the call's deadline: it is slow or not answering, and a write may have been applied$/,
    );
    expect(byCode.get(Code.UNAVAILABLE)).toMatch(
      /^the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres did not take a new connection within \d+ ms, what was left of the call's deadline: is it running and reachable\?$/,
    );
    // The waits said are what was left of the deadline the caller set, less the answer's way back.
    for (const message of byCode.values()) expect(within(message)).toBeLessThan(timeoutMs);

    // One line for the outage, and one once the database answers again; the stuck connection was closed, not pooled.
    const warnings = entries.filter((entry) => entry.level === "warn");
    expect(warnings).toHaveLength(1);
    await expect(call("after")).resolves.toMatchObject({ id: "after" });
    await expect(call("again")).resolves.toMatchObject({ id: "again" });
    expect(entries.filter((entry) => entry.message === "the database answers again")).toHaveLength(1);
  }, 30_000);

  it("bounds by the deadline the wait of a query that sees an idle connection another query of the same tick takes", async () => {
    const { call, failedCalls } = await serve();
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    // The pool's one idle connection goes to the first query; the second waits for a new one, not past the deadline.
    const failures = await failedCalls(2, [await call("pair")], 20_000);
    server.thaw();
    expect(failures.map(failedService)).toEqual(["postgres", "postgres"]);
    const messages = failures.map((failure) => (failure as TsmicroError).message);
    expect(messages.find((message) => /did not answer a query/.test(message))).toMatch(
      /within \d+ ms, what was left of the call's deadline/,
    );
    expect(messages.find((message) => /did not take a new connection/.test(message))).toMatch(
      /within \d+ ms, what was left of the call's deadline: is it running and reachable\?$/,
    );
  }, 40_000);

  it("fails a transaction whose first statement got no answer with that failure, not its rollback's", async () => {
    const { call, failedCalls } = await serve();
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    const [failure] = await failedCalls(1, [await call("tx")]);
    server.thaw();
    expect(failedService(failure)).toBe("postgres");
    expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect((failure as TsmicroError).message).toContain("did not answer a query within");
    await expect(call("tx")).resolves.toMatchObject({ id: "tx" });
  }, 30_000);

  it("fails a call that waited for a pooled connection while all were in use UNAVAILABLE, naming postgres and saying so", async () => {
    const { database, call, entries, failedCalls } = await serve();
    const release = await holdAllConnections(database);
    // Let go in afterEach too, should the test fail before: closing the pool waits for them.
    cleanups.push(release);
    const [failure] = await failedCalls(1, [await call("busy")]);
    await release();
    expect(failedService(failure)).toBe("postgres");
    expect(failure).toMatchObject({ code: Code.UNAVAILABLE });
    expect((failure as TsmicroError).message).toMatch(
      /^no connection to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres came free within \d+ ms, what was left of the call's deadline: all 10 of the pool's connections are in use \(queries that take long, or a server that stopped answering\)$/,
    );
    // Said once the server is seen answering: connections held by work of its, not a frozen server's stuck queries.
    await expect(call("after")).resolves.toMatchObject({ id: "after" });
    expect(entries.filter((entry) => entry.level === "warn").map((entry) => entry.message)).toEqual([
      "every pooled database connection is in use; calls that wait for one fail UNAVAILABLE",
    ]);
  }, 30_000);

  it("fails a query outside any call, or under a call without a deadline, that waited the connect timeout for a connection while all were in use UNAVAILABLE, naming postgres and saying so", async () => {
    const { database, call, entries, failedCalls } = await serve(2);
    const release = await holdAllConnections(database);
    // Let go in afterEach too, should the test fail before: closing the pool waits for them.
    cleanups.push(release);
    const [outside, caller] = await Promise.all([
      sql`select 1 as one`.execute(database.db).catch((error: unknown) => error),
      call("no deadline", Infinity),
    ]);
    const [served] = await failedCalls(1, [caller]);
    await release();
    const busy =
      /^no connection to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres came free within 2 s, the connect timeout \(connect_timeout in the database URL\): all 10 of the pool's connections are in use \(queries that take long, or a server that stopped answering\)$/;
    for (const failure of [outside, served]) {
      expect(failedService(failure)).toBe("postgres");
      expect(failure).toMatchObject({ code: Code.UNAVAILABLE, message: expect.stringMatching(busy) });
    }
    // The caller reads it as the handler met it: UNAVAILABLE, not INTERNAL with node-postgres's words.
    expect(caller).toMatchObject({ code: Code.UNAVAILABLE });
    expect(failedService(caller)).toBe("postgres");
    await expect(call("after")).resolves.toMatchObject({ id: "after" });
    expect(entries.filter((entry) => entry.level === "warn").map((entry) => entry.message)).toEqual([
      "every pooled database connection is in use; calls that wait for one fail UNAVAILABLE",
    ]);
    expect(entries.filter((entry) => entry.message === "the database answers again")).toHaveLength(1);
  }, 30_000);

  it("keeps as many connections as the URL's pool_max_conns says, and says that many are in use when all are", async () => {
    const { database, call, failedCalls } = await serve(2, 3);
    const release = await holdAllConnections(database, 3);
    // Let go in afterEach too, should the test fail before: closing the pool waits for them.
    cleanups.push(release);
    const [served] = await failedCalls(1, [await call("no deadline", Infinity)]);
    await release();
    expect(failedService(served)).toBe("postgres");
    expect(served).toMatchObject({
      code: Code.UNAVAILABLE,
      message: expect.stringMatching(
        /^no connection to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres came free within 2 s, the connect timeout \(connect_timeout in the database URL\): all 3 of the pool's connections are in use /,
      ),
    });
    await expect(call("after")).resolves.toMatchObject({ id: "after" });
  }, 30_000);

  it("says the server took no new connection, not that all were in use, when the pool's slots wait for the server to take theirs", async () => {
    const { database, call, failedCalls } = await serve();
    server.freeze();
    const filling = fillFrozenPool(database);
    await settled();
    const [failure] = await failedCalls(1, [await call("full of connects")]);
    server.thaw();
    await Promise.all(filling);
    expect(failedService(failure)).toBe("postgres");
    expect(failure).toMatchObject({ code: Code.UNAVAILABLE });
    expect((failure as TsmicroError).message).toMatch(
      /^the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres did not take a new connection within \d+ ms, what was left of the call's deadline: is it running and reachable\?$/,
    );
  }, 30_000);

  it("says so of a query outside any call that waited the connect timeout for a pool whose slots wait for the server", async () => {
    const { database } = await serve(2);
    server.freeze();
    const filling = fillFrozenPool(database);
    await settled();
    const failure = await sql`select 1 as one`.execute(database.db).catch((error: unknown) => error);
    server.thaw();
    await Promise.all(filling);
    expect(failedService(failure)).toBe("postgres");
    expect(failure).toMatchObject({ code: Code.UNAVAILABLE });
    expect((failure as TsmicroError).message).toMatch(
      /^the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres did not take a new connection within 2 s, the connect timeout \(connect_timeout in the database URL\): is it running and reachable\?$/,
    );
  }, 30_000);

  it("stops a query's wait for a connection when its caller cancels, failing it CANCELLED, and the connection that comes later goes back to the pool", async () => {
    const { database, call, entries, failedCalls, started } = await serve(2);
    const release = await holdAllConnections(database);
    // Let go in afterEach too, should the test fail before: closing the pool waits for them.
    cleanups.push(release);
    const cancel = new AbortController();
    const callers = Promise.all([
      call("no deadline", Infinity, cancel.signal),
      call("deadline", 60_000, cancel.signal),
    ]);
    await waitFor("both handlers started", () => started.has("no deadline") && started.has("deadline"));
    cancel.abort();
    // The callers read their own cancel.
    for (const failure of await callers) expect(failure).toMatchObject({ code: Code.CANCELLED });
    const served = await failedCalls(2, []);
    await release();
    for (const failure of served) {
      // The caller's doing, not the database's: named by no service, and no outage logged.
      expect(failedService(failure)).toBeUndefined();
      expect(failure).toMatchObject({ code: Code.CANCELLED });
      expect((failure as TsmicroError).message).toMatch(
        /^a query stopped waiting for a connection to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres \(not sent\): the caller cancelled \/[\w.]+\/Unary$/,
      );
    }
    expect(entries.filter((entry) => entry.level === "warn")).toEqual([]);
    // Each connection the cancelled waits would have had came back to the pool: all 10 can be held again.
    await (await holdAllConnections(database))();
    await expect(call("after")).resolves.toMatchObject({ id: "after" });
  }, 30_000);

  it("stops on the server a query still running when its call's deadline comes, and the pool serves the next call", async () => {
    const { database, call, entries, failedCalls } = await serve();
    // Slow queries in a row, each cut by its call's deadline.
    for (let slow = 0; slow < 2; slow++) {
      const [failure] = await failedCalls(1, [await call("sleep", 2_000)], 10_000);
      expect(failedService(failure)).toBe("postgres");
      expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
      expect((failure as TsmicroError).message).toMatch(
        /^the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres did not answer a query within \d+ ms, what was left of the call's deadline: it is slow or not answering, and a write may have been applied$/,
      );
      // The server was asked to stop it: gone well before its 30 s, rather than holding a backend for nobody.
      await waitFor("the query stopped on the server", async () => (await sleeping(database)) === 0, 15_000);
      await expect(call("after")).resolves.toMatchObject({ id: "after" });
    }
    // Slow queries on a server that answers (it took the cancels) are their callers' deadlines, not an
    // outage: no "did not answer in time", and so no "answers again" either.
    expect(entries.filter((entry) => entry.level === "warn")).toEqual([]);
    expect(entries.filter((entry) => entry.message === "the database answers again")).toEqual([]);
  }, 40_000);

  it("takes the server's answer to a cut query's cancel request as no outage, with no other query answered since", async () => {
    // connect_timeout=2: the server's answer to the cancel request is waited for 2 s.
    const { call, entries, failedCalls } = await serve(2);
    // Looks on the server from outside the service's pool: a query of the pool's would be an answer of its own.
    const watcher = new pg.Client({ connectionString: server.url });
    await watcher.connect();
    cleanups.push(() => watcher.end());
    const [failure] = await failedCalls(1, [await call("sleep", 2_000)], 10_000);
    expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    // Its connection, closed once the server answered the stopped query, is gone from the server, and the
    // verdict with it: a connection given up on unanswered is closed when the verdict is said.
    await waitFor("the cut query's connection closed", async () => {
      const { rows } = await watcher.query<{ sleeping: number }>(
        "select count(*)::int as sleeping from pg_stat_activity where query like 'select pg_sleep(30)%' and pid <> pg_backend_pid()",
      );
      return rows[0]?.sleeping === 0;
    });
    await settled();
    expect(entries.filter((entry) => entry.level === "warn")).toEqual([]);
  }, 30_000);

  it("says the database did not answer in time once a query cut by its call's deadline is not answered, nor its cancel request, and says when it answers again", async () => {
    // connect_timeout=2: the cancel request is given up after 2 s.
    const { call, entries, failedCalls } = await serve(2);
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    // One call, its query on the pool's idle connection: no new connection is asked for, which would say the outage itself.
    const [failure] = await failedCalls(1, [await call("a")]);
    expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    const outage = await waitFor(
      "the outage logged once the cancel request went unanswered",
      () => entries.find((entry) => entry.level === "warn"),
      15_000,
    );
    expect(outage).toMatchObject({
      message: "the database did not answer in time; calls that wait for it fail DEADLINE_EXCEEDED",
      fields: {
        reason: expect.stringMatching(
          /^no answer to a query within \d+ ms, what was left of the deadline of \/[\w.]+\/Unary, nor to its cancel request within 2 s$/,
        ),
      },
    });
    server.thaw();
    await waitFor("the database answering calls", async () =>
      (await call("after")) instanceof Error ? undefined : true,
    );
    expect(entries.filter((entry) => entry.message === "the database answers again")).toHaveLength(1);
    expect(entries.filter((entry) => entry.level === "warn")).toHaveLength(1);
  }, 40_000);

  it("says the database did not answer in time when a proxy takes the cancel request's connection and closes it, the server frozen behind it", async () => {
    const proxy = await startFaultProxy(server.url.replace(/^postgres:\/\/postgres@|\/postgres$/g, ""));
    cleanups.push(() => proxy.close());
    // connect_timeout=2: the server's answer to the cancel request is waited for 2 s.
    const { call, entries, failedCalls } = await serve(2, undefined, proxy);
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    // The proxy closes each new connection at once, as one whose server is gone: the cancel request's too.
    proxy.refuse(true);
    const [failure] = await failedCalls(1, [await call("a")]);
    expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    const outage = await waitFor(
      "the outage logged once the server did not answer the cancel request",
      () => entries.find((entry) => entry.level === "warn"),
      15_000,
    );
    expect(outage).toMatchObject({
      message: "the database did not answer in time; calls that wait for it fail DEADLINE_EXCEEDED",
      fields: { reason: expect.stringMatching(/, nor to its cancel request within 2 s$/) },
    });
    server.thaw();
    proxy.refuse(false);
    await waitFor("the database answering calls", async () =>
      (await call("after")) instanceof Error ? undefined : true,
    );
    expect(entries.filter((entry) => entry.message === "the database answers again")).toHaveLength(1);
  }, 40_000);

  it("gives the pool slot of a query cut by its deadline, whose answer is waited for, to the call waiting for one at once", async () => {
    const proxy = await startFaultProxy(server.url.replace(/^postgres:\/\/postgres@|\/postgres$/g, ""));
    cleanups.push(() => proxy.close());
    // connect_timeout=20: the stopped query's answer is waited for 20 s; a pool of 1 connection.
    const { call, started } = await serve(20, 1, proxy);
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    // A proxy that passes no cancel request on: the cut query runs on, its answer 30 s off. Stopped at
    // the test's end from outside, for the tests after that count the queries running on the server.
    proxy.dropCancels(true);
    cleanups.push(async () => {
      const admin = new pg.Client({ connectionString: server.url });
      await admin.connect();
      await admin.query(
        "select pg_cancel_backend(pid) from pg_stat_activity where query like 'select pg_sleep(30)%' and pid <> pg_backend_pid()",
      );
      await admin.end();
    });
    const cut = call("sleep");
    await waitFor("the query sent", () => started.has("sleep"));
    // Its deadline 6 s after the cut one's: time to take the slot the cut query's leaves and be answered.
    const waiting = call("waiting", timeoutMs + 6_000);
    await expect(cut).resolves.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(await waiting).toMatchObject({ id: "waiting" });
    expect(proxy.cancelsDropped).toBe(1);
  }, 30_000);

  it("closes the database at once with a connection still being made to the frozen server, not once it is given up (with connect_timeout=0, never)", async () => {
    const { database, call, failedCalls } = await serve(0);
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    // One call's query stuck on the idle connection, the other's pool slot connecting to the frozen server.
    await failedCalls(2, await Promise.all([call("a"), call("b")]));
    let closed = false;
    void database.close().then(() => {
      closed = true;
    });
    await waitFor("the database closed, its server still frozen", () => closed, 10_000);
  }, 30_000);

  it("says first that the database did not answer, not that every pooled connection is in use, when a frozen server's stuck queries hold them all", async () => {
    // connect_timeout=2: a cancel request is given up after 2 s; a pool of 2 connections, both made by "pair".
    const { call, entries, failedCalls, started } = await serve(2, 2);
    await expect(call("pair")).resolves.toMatchObject({ id: "pair" });
    server.freeze();
    // Two calls' queries stuck on the pool's connections; a third, its deadline nearer, waits for one.
    const stuck = [call("a"), call("b")];
    await waitFor("both queries sent", () => started.has("a") && started.has("b"));
    await settled();
    const waiting = call("c", timeoutMs - 500);
    const failures = await failedCalls(3, await Promise.all([...stuck, waiting]));
    expect(failures.map((failure) => (failure as TsmicroError).message)).toContainEqual(
      expect.stringContaining("came free within"),
    );
    const outage = await waitFor("the outage logged", () => entries.find((entry) => entry.level === "warn"), 20_000);
    expect(outage.message).toBe("the database did not answer in time; calls that wait for it fail DEADLINE_EXCEEDED");
    server.thaw();
    await waitFor("the database answering calls", async () =>
      (await call("after")) instanceof Error ? undefined : true,
    );
    // The connections in use were the outage's doing: not said after it either.
    expect(entries.filter((entry) => entry.level === "warn")).toHaveLength(1);
  }, 40_000);

  it("stops on the server a query still running when its caller cancels, failing it CANCELLED, and the pool serves the next call", async () => {
    const { database, call, entries, failedCalls, started } = await serve();
    const cancel = new AbortController();
    const caller = call("sleep", Infinity, cancel.signal);
    await waitFor("the handler started", () => started.has("sleep"));
    await waitFor("the query running on the server", async () => (await sleeping(database)) >= 1);
    cancel.abort();
    expect(await caller).toMatchObject({ code: Code.CANCELLED });
    const [failure] = await failedCalls(1, []);
    // The caller's doing, not the database's: named by no service, and no outage logged.
    expect(failedService(failure)).toBeUndefined();
    expect(failure).toMatchObject({ code: Code.CANCELLED });
    expect((failure as TsmicroError).message).toMatch(
      /^a query sent to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres was cancelled \(a write may have been applied\): the caller cancelled \/[\w.]+\/Unary$/,
    );
    await waitFor("the query stopped on the server", async () => (await sleeping(database)) === 0, 15_000);
    expect(entries.filter((entry) => entry.level === "warn")).toEqual([]);
    await expect(call("after")).resolves.toMatchObject({ id: "after" });
  }, 30_000);

  it("leaves a query that work a handler left running makes after its call was answered unbounded, past the call's deadline too", async () => {
    const { call, background } = await serve();
    await expect(call("background", 200)).resolves.toMatchObject({ id: "background" });
    // The job a call started and did not wait for (an export, an audit line) is no longer the call's: nobody waits for its answer.
    await expect(background()).resolves.toMatchObject({ rows: [{ id: "background" }] });
  }, 30_000);

  it("leaves a query made outside any call (start, migrations, a background job) waiting as long as the database takes", async () => {
    const { database, call, failedCalls } = await serve();
    await expect(call("warm")).resolves.toMatchObject({ id: "warm" });
    server.freeze();
    let settled = false;
    const outside = sql<{ one: number }>`select 1 as one`.execute((database as Database<object>).db).finally(() => {
      settled = true;
    });
    // A call's query, made after it, has failed by its deadline; the one outside any call still waits.
    const [during] = await failedCalls(1, [await call("during")]);
    expect(failedService(during)).toBe("postgres");
    expect(settled).toBe(false);
    server.thaw();
    await expect(outside).resolves.toMatchObject({ rows: [{ one: 1 }] });
    await waitFor("the call's stuck connection closed and the database answering calls", async () =>
      (await call("after")) instanceof Error ? undefined : true,
    );
  }, 30_000);
});

/** How many of the server's backends run the "sleep" call's query now, as PostgreSQL itself tells. */
async function sleeping(database: Database<object>): Promise<number> {
  const { rows } = await sql<{ running: number }>`
    select count(*)::int as running from pg_stat_activity
    where state = 'active' and query like 'select pg_sleep(30)%' and pid <> pg_backend_pid()`.execute(database.db);
  return rows[0]?.running ?? -1;
}

/** The caller's own deadline, come before the service's answer: `no answer from store …`, naming store. */
function ownDeadline(failure: unknown): boolean {
  return (failure as TsmicroError).code === Code.DEADLINE_EXCEEDED && failedService(failure) === "store";
}

/**
 * Every connection of the pool (`size`, pg's 10 unless the URL says) held outside any call, as by
 * slow reports; resolves once all are held (fails if one cannot be) with the function that lets them go.
 */
async function holdAllConnections(database: Database<object>, size = 10): Promise<() => Promise<void>> {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding = 0;
  const holders = Promise.all(
    Array.from({ length: size }, () =>
      database.db.connection().execute(async () => {
        holding++;
        await held;
      }),
    ),
  );
  await Promise.race([waitFor("every pooled connection held", () => holding === size), holders]);
  return async () => {
    release();
    await holders;
  };
}

/**
 * Queries outside any call that take every slot of a frozen server's pool of 10: the idle one, its
 * query stuck, and 9 new connections the server does not take. Settles with their failures.
 */
function fillFrozenPool(database: Database<object>): Promise<unknown>[] {
  return Array.from({ length: 10 }, () => sql`select 1 as one`.execute(database.db).catch((error: unknown) => error));
}

/**
 * Once the queries made before have asked the pool for their connections, and the pool has started
 * them: Kysely asks, and pg-pool hands out or starts, in microtasks and process.nextTick, all of
 * which run before setImmediate's callback.
 */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
