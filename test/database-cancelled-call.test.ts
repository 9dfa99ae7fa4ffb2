/**
 * The queries of a call its caller cancelled: the one running is stopped (PostgreSQL), the ones a
 * handler makes after the cancel are not sent (both databases), a server stream's handler reading
 * page after page is stopped alike.
 */
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  createMemoryRegistry,
  createService,
  failedService,
  silentLogger,
  type CallContext,
  type MicroService,
  type TsmicroError,
  withoutCancel,
} from "@tsmicro/runtime";
import { openDatabase, type Database } from "@tsmicro/runtime/database";
import { recordingLogger, waitFor } from "../runtime/src/broker/testdata/broker-conformance.js";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import type { Response } from "./golden/10-services/services.js";
import { postgresBinDir, startPostgres, type PostgresServer } from "./support/postgres.js";
import { suiteEnv } from "./support/suite-env.js";

/** The table the handlers write to: what reached the database, whatever the handler was told. */
interface DB {
  writes: { what: string };
}

/** What a handler's query after its call's cancel came to: its rows, or its failure. */
type Outcome = { rows: unknown[] } | { error: unknown };

const outcomeOf = (query: Promise<{ rows: unknown[] }>): Promise<Outcome> =>
  query.then(
    ({ rows }) => ({ rows }),
    (error: unknown) => ({ error }),
  );

describe.each([
  ["PostgreSQL", "postgres"],
  ["PGlite", "pglite"],
] as const)("a call cancelled by its caller, on %s", (_, kind) => {
  let server: PostgresServer | undefined;
  let database: Database<DB>;
  let store: MicroService;
  let caller: MicroService;
  const { logger, entries } = recordingLogger();
  // Per call id: the handler started, and what its query after the cancel came to.
  const started = new Set<string>();
  const outcomes = new Map<string, Outcome>();
  const failures = new Map<string, unknown>();
  const where =
    kind === "postgres"
      ? String.raw`the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres`
      : "the embedded PGlite database";

  beforeAll(async () => {
    if (kind === "postgres") {
      if (!postgresBinDir) return;
      server = await startPostgres();
    }
    database = await openDatabase<DB>(server ? { url: server.url, logger } : { dataDir: "memory://", logger });
    await sql`create table writes (what text not null)`.execute(database.db);
    const registry = createMemoryRegistry();
    const quiet = { registry, args: [] as string[], env: suiteEnv({}), logger: silentLogger() };
    store = createService({ name: "store", ...quiet });
    store.handle(
      AlphaDefinition,
      {
        unary: async (request, context) => {
          started.add(request.id);
          const write = (what: string) => database.db.insertInto("writes").values({ what }).execute();
          if (request.id === "sleep then write") {
            // A query the server runs for 30 s, stopped by the cancel; then the handler's clean-up writes.
            failures.set(request.id, await outcomeOf(sql`select pg_sleep(30)`.execute(database.db)));
            outcomes.set(request.id, await outcomeOf(write(request.id).then(() => ({ rows: [] }))));
            throw new Error("cancelled");
          }
          if (request.id === "write after cancel") {
            await cancelled(context);
            outcomes.set(request.id, await outcomeOf(write(request.id).then(() => ({ rows: [] }))));
            throw new Error("cancelled");
          }
          if (request.id === "clean-up without cancel") {
            // What must be written whatever the caller does, in a transaction, once the caller has cancelled.
            await cancelled(context);
            const done = withoutCancel(() =>
              database.db.transaction().execute(async (tx) => {
                await tx.insertInto("writes").values({ what: "clean-up" }).execute();
                await tx.insertInto("writes").values({ what: "done" }).execute();
                return { rows: [] };
              }),
            );
            outcomes.set(request.id, await outcomeOf(done));
            throw new Error("cancelled");
          }
          if (request.id === "begun in the call") {
            // A transaction of the call's, a statement of it run withoutCancel once the caller cancelled.
            const done = database.db.transaction().execute(async (tx) => {
              await tx.insertInto("writes").values({ what: "before the cancel" }).execute();
              await cancelled(context);
              await withoutCancel(() => tx.insertInto("writes").values({ what: "without cancel" }).execute());
              return { rows: [] };
            });
            outcomes.set(request.id, await outcomeOf(done));
            throw new Error("cancelled");
          }
          if (request.id === "begun by hand") {
            // A transaction sent by hand on one connection, its rollback refused as the statement before it.
            const done = database.db.connection().execute(async (connection) => {
              await sql`begin`.execute(connection);
              await connection.insertInto("writes").values({ what: "before the cancel" }).execute();
              await cancelled(context);
              try {
                await connection.insertInto("writes").values({ what: "after the cancel" }).execute();
                await sql`commit`.execute(connection);
              } catch (error) {
                await sql`rollback`.execute(connection).catch(() => {});
                throw error;
              }
              return { rows: [] };
            });
            outcomes.set(request.id, await outcomeOf(done));
            throw new Error("cancelled");
          }
          if (request.id.startsWith("transaction")) {
            // A transaction that wrote, then its call was cancelled (or its deadline came) between two statements.
            const done = database.db.transaction().execute(async (tx) => {
              await tx.insertInto("writes").values({ what: "before the cancel" }).execute();
              await cancelled(context);
              await tx.insertInto("writes").values({ what: "after the cancel" }).execute();
              return { rows: [] };
            });
            outcomes.set(request.id, await outcomeOf(done));
            throw new Error("cancelled");
          }
          await write(request.id);
          return { id: request.id, payload: request.payload, sequence: 0 };
        },
        // Rows page by page, as a handler streams a table (keyset pagination): the second page's query runs 30 s.
        async *serverStream(request, context): AsyncIterable<Response> {
          started.add(request.id);
          const first = await sql<{ what: string }>`select 'first' as what`.execute(database.db);
          yield { id: first.rows[0]?.what ?? "", payload: new Uint8Array(), sequence: 1 };
          try {
            await sql`select pg_sleep(30)`.execute(database.db);
          } catch (error) {
            failures.set(request.id, error);
            await cancelled(context);
            outcomes.set(
              request.id,
              await outcomeOf(
                database.db
                  .insertInto("writes")
                  .values({ what: request.id })
                  .execute()
                  .then(() => ({ rows: [] })),
              ),
            );
            throw error;
          }
        },
      },
      { partial: true },
    );
    await store.start();
    caller = createService({ name: "caller", ...quiet });
  });

  afterEach(async () => {
    await sql`delete from writes`.execute(database.db);
  });

  afterAll(async () => {
    await caller?.stop();
    await store?.stop();
    await database?.close();
    await server?.stop();
  });

  const skipped = () => kind === "postgres" && !postgresBinDir;

  /** Calls Unary with `id`, cancels it once `ready` holds, and returns the caller's failure. */
  async function cancelledCall(id: string, ready: () => boolean | Promise<boolean>) {
    const cancel = new AbortController();
    const client = caller.client(AlphaDefinition, "store");
    const call = client
      .unary({ id, payload: new Uint8Array() }, { signal: cancel.signal })
      .catch((error: unknown) => error);
    await waitFor(`the handler of ${id} ready for the cancel`, ready);
    cancel.abort();
    return call;
  }

  async function written(): Promise<string[]> {
    return (await database.db.selectFrom("writes").select("what").execute()).map((row) => row.what);
  }

  /** Expects `outcome` the refusal of a query made once its call was cancelled: CANCELLED, naming the call, no service. */
  function expectRefused(outcome: Outcome | undefined, method = "Unary") {
    expect(outcome && "error" in outcome).toBe(true);
    const error = (outcome as { error: unknown }).error;
    expect(error).toMatchObject({ code: Code.CANCELLED });
    expect(failedService(error)).toBeUndefined();
    expect((error as TsmicroError).message).toMatch(
      new RegExp(`^a query to ${where} was not sent: the caller cancelled /[\\w.]+/${method}$`),
    );
  }

  it("does not send a query a handler makes once its call was cancelled, failing it CANCELLED naming the call", async () => {
    if (skipped()) return;
    expect(await cancelledCall("write after cancel", () => started.has("write after cancel"))).toMatchObject({
      code: Code.CANCELLED,
    });
    await waitFor("the handler's write after the cancel", () => outcomes.get("write after cancel"));
    expectRefused(outcomes.get("write after cancel"));
    expect(await written()).toEqual([]);
    expect(entries.filter((entry) => entry.level === "warn")).toEqual([]);
  });

  it("rolls back a transaction whose call was cancelled between two statements, and the next call's write is its own", async () => {
    if (skipped()) return;
    await cancelledCall("transaction", () => started.has("transaction"));
    await waitFor("the transaction's end", () => outcomes.get("transaction"));
    expectRefused(outcomes.get("transaction"));
    // Not committed: neither the write before the cancel nor the one after.
    expect(await written()).toEqual([]);
    await expectAllServing();
  });

  it("rolls back a transaction begun by hand on db.connection() whose call was cancelled, its rollback refused too", async () => {
    if (skipped()) return;
    await cancelledCall("begun by hand", () => started.has("begun by hand"));
    await waitFor("the transaction's end", () => outcomes.get("begun by hand"));
    expectRefused(outcomes.get("begun by hand"));
    // Not committed, nor left open for the next caller's queries to run inside it (PGlite's one connection).
    expect(await written()).toEqual([]);
    await expectAllServing();
  });

  it("rolls back a transaction whose call's deadline came between two statements, and the next call's write is its own", async () => {
    if (skipped()) return;
    const client = caller.client(AlphaDefinition, "store");
    const id = "transaction past its deadline";
    await expect(client.unary({ id, payload: new Uint8Array() }, { timeoutMs: 500 })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
    const outcome = await waitFor("the transaction's end", () => outcomes.get(id));
    const error = (outcome as { error: unknown }).error;
    expect(error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(failedService(error)).toBeUndefined();
    expect((error as TsmicroError).message).toMatch(
      new RegExp(
        kind === "postgres"
          ? `^deadline exceeded serving /[\\w.]+/Unary before a query was sent to ${where}$`
          : `^a query to ${where} was not sent: deadline exceeded serving /[\\w.]+/Unary$`,
      ),
    );
    expect(await written()).toEqual([]);
    await expectAllServing();
  });

  it("rolls back a transaction begun for the call whatever ran in it withoutCancel: its commit is the call's", async () => {
    if (skipped()) return;
    const id = "begun in the call";
    await cancelledCall(id, () => started.has(id));
    expectRefused(await waitFor("the transaction's end", () => outcomes.get(id)));
    expect(await written()).toEqual([]);
    await expectAllServing();
  });

  it("sends the queries a handler makes withoutCancel once its call was cancelled", async () => {
    if (skipped()) return;
    const id = "clean-up without cancel";
    await cancelledCall(id, () => started.has(id));
    expect(await waitFor("the clean-up's end", () => outcomes.get(id))).toEqual({ rows: [] });
    expect((await written()).sort()).toEqual(["clean-up", "done"]);
  });

  /** Calls that each write, more than the pool's connections, all committed: none ran inside a transaction left open. */
  async function expectAllServing() {
    const client = caller.client(AlphaDefinition, "store");
    // Every pooled connection serves again, none left inside the rolled-back transaction.
    await Promise.all(
      Array.from({ length: 12 }, (_, n) => client.unary({ id: `next ${n}`, payload: new Uint8Array() })),
    );
    expect((await written()).sort()).toEqual(Array.from({ length: 12 }, (_, n) => `next ${n}`).sort());
  }

  it.skipIf(kind === "pglite")(
    "stops the query running when its caller cancels, and does not send the handler's next one",
    async () => {
      if (skipped()) return;
      const failure = await cancelledCall("sleep then write", async () => (await sleeping(database)) >= 1);
      expect(failure).toMatchObject({ code: Code.CANCELLED });
      await waitFor("the handler's write after the cancel", () => outcomes.get("sleep then write"));
      expect((failures.get("sleep then write") as { error: TsmicroError }).error.message).toMatch(
        /^a query sent to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres was cancelled \(a write may have been applied\): the caller cancelled \/[\w.]+\/Unary$/,
      );
      expectRefused(outcomes.get("sleep then write"));
      await waitFor("the query stopped on the server", async () => (await sleeping(database)) === 0, 15_000);
      expect(await written()).toEqual([]);
    },
  );

  it.skipIf(kind === "pglite")(
    "stops the query of a server stream's next page when its caller cancels the stream",
    async () => {
      if (skipped()) return;
      const cancel = new AbortController();
      const client = caller.client(AlphaDefinition, "store");
      const read: string[] = [];
      const streamed = (async () => {
        for await (const response of client.serverStream(
          { id: "pages", payload: new Uint8Array() },
          { signal: cancel.signal },
        ))
          read.push(response.id);
      })().catch((error: unknown) => error);
      await waitFor("the second page's query running on the server", async () => (await sleeping(database)) >= 1);
      cancel.abort();
      expect(await streamed).toMatchObject({ code: Code.CANCELLED });
      expect(read).toEqual(["first"]);
      await waitFor("the handler's write after the cancel", () => outcomes.get("pages"));
      expect((failures.get("pages") as TsmicroError).message).toMatch(
        /^a query sent to the PostgreSQL server at 127\.0\.0\.1:\d+\/postgres was cancelled \(a write may have been applied\): the caller cancelled \/[\w.]+\/ServerStream$/,
      );
      expectRefused(outcomes.get("pages"), "ServerStream");
      await waitFor("the query stopped on the server", async () => (await sleeping(database)) === 0, 15_000);
      expect(await written()).toEqual([]);
    },
  );
});

/** Resolves once the call `context` serves has been cancelled: a handler between two queries. */
function cancelled(context: CallContext): Promise<void> {
  if (context.signal.aborted) return Promise.resolve();
  return new Promise((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
}

/** How many of the server's backends run a `pg_sleep(30)` now, as PostgreSQL itself tells. */
async function sleeping(database: Database<DB>): Promise<number> {
  const { rows } = await sql<{ running: number }>`
    select count(*)::int as running from pg_stat_activity
    where state = 'active' and query like 'select pg_sleep(30)%' and pid <> pg_backend_pid()`.execute(database.db);
  return rows[0]?.running ?? -1;
}
