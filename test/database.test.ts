import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { sql, type Generated } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CancelTarget, sendCancelRequest } from "../runtime/src/database/cancel-request.js";
import { openDatabase, openTestDatabase, type Database, type DatabaseOptions } from "../runtime/src/database/index.js";
import { recordingLogger, waitFor } from "../runtime/src/broker/testdata/broker-conformance.js";
import { failedService } from "../runtime/src/errors/failed-service.js";
import { Code, TsmicroError } from "../runtime/src/errors/tsmicro-error.js";
import type { Logger } from "../runtime/src/logging/logger.js";
import { activeTraceId } from "../runtime/src/tracing/active-trace-fields.js";
import { loadContextManager, loadOtelApi } from "../runtime/src/tracing/otel-api.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { freePort } from "./support/ports.js";
import { postgresBinDir, startPostgres, type PostgresServer } from "./support/postgres.js";

interface ItemTable {
  id: Generated<bigint>;
  name: string;
  attributes: unknown;
  payload: Uint8Array | null;
  created_at: Generated<Date>;
  counter: Generated<bigint>;
  note: string | null;
}
interface Db {
  items: ItemTable;
}

let root: string;
let migrations: string;
let badMigrations: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "tsmicro-database-"));
  migrations = join(root, "migrations");
  await mkdir(migrations);
  await writeFile(
    join(migrations, "0001_create_items.sql"),
    `-- items: one statement per line group, several per file
create table items (
  id bigserial primary key,
  name text not null unique,
  attributes jsonb not null default '{}',
  payload bytea,
  created_at timestamptz not null default now(),
  counter bigint not null default 0
);
create index items_created_at on items (created_at);
`,
  );
  await writeFile(join(migrations, "0002_add_note.sql"), "alter table items add column note text;\n");
  badMigrations = join(root, "bad-migrations");
  await mkdir(badMigrations);
  await writeFile(join(badMigrations, "0001_ok.sql"), "create table first_table (x int);\n");
  await writeFile(
    join(badMigrations, "0002_broken.sql"),
    "create table second_table (y int);\n\ninsert into no_such_table values (1);\n",
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A backend: each call of `fresh` gives options for a new, empty database. */
interface Backend {
  readonly name: string;
  readonly kind: "pglite" | "postgres";
  readonly skip?: boolean;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  fresh(): Promise<Omit<DatabaseOptions, "migrationsDir">>;
}

let server: PostgresServer | undefined;
let databases = 0;

const backends: Backend[] = [
  { name: "PGlite in memory", kind: "pglite", fresh: async () => ({ dataDir: "memory://" }) },
  {
    name: "PGlite on disk",
    kind: "pglite",
    fresh: async () => ({ dataDir: join(root, `pglite-${databases++}`) }),
  },
  {
    name: "PostgreSQL",
    kind: "postgres",
    skip: !postgresBinDir,
    async setup() {
      server = await startPostgres();
    },
    async teardown() {
      await server?.stop();
    },
    async fresh() {
      if (!server) throw new Error("no server");
      const name = `tsmicro_${databases++}`;
      const admin = await openDatabase({ url: server.url });
      try {
        await sql.raw(`create database ${name}`).execute(admin.db);
      } finally {
        await admin.close();
      }
      return { url: server.url.replace(/\/postgres$/, `/${name}`) };
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`repository on ${backend.name}`, () => {
    let database: Database<Db>;

    beforeAll(async () => {
      await backend.setup?.();
      database = await openDatabase<Db>({ ...(await backend.fresh()), migrationsDir: migrations });
    });
    afterAll(async () => {
      // Each step runs even when an earlier one failed, so no server outlives the suite.
      await database?.close().catch(() => undefined);
      await backend.teardown?.();
    });

    it("applies the migrations once, in name order; pending() lists those not applied", async () => {
      expect(database.kind).toBe(backend.kind);
      expect(await database.pending()).toEqual(["0001_create_items", "0002_add_note"]);
      expect(await database.migrate()).toEqual(["0001_create_items", "0002_add_note"]);
      expect(await database.migrate()).toEqual([]);
      expect(await database.pending()).toEqual([]);
    });

    it("checkSchema() accepts the tables schema.json records, and names each column missing or of another type", async () => {
      const column = (name: string, field: number, type: string, extra = {}) => ({ name, field, type, ...extra });
      const record = (columns: object[], more: object[] = []) =>
        writeFile(
          join(migrations, "schema.json"),
          // As tsmicro generate writes it (bin/cli/project-migrations.ts).
          JSON.stringify({
            "x-generated-by": "tsmicro generate",
            schema: {
              version: 1,
              tables: [
                { name: "items", message: "shop.v1.Item", file: "shop.proto", primaryKey: "id", columns },
                ...more,
              ],
            },
          }),
        );
      try {
        await record([
          column("id", 1, "bigint", { nullable: false }),
          column("name", 2, "text", { nullable: false }),
          column("created_at", 3, "timestamptz"),
          column("note", 5, "text", { nullable: true }),
          column("gone", 9, "text", { retained: true }),
        ]);
        await database.checkSchema();
        // A renamed field whose column was not renamed, a changed type, a table never created.
        // A field made optional whose DROP NOT NULL is not applied; one no longer optional whose column still
        // allows NULL is no problem until a row holds NULL there (tsmicro generate warned of it).
        await record(
          [
            column("id", 1, "bigint"),
            column("title", 2, "text"),
            column("counter", 4, "integer"),
            column("name", 6, "text", { nullable: true }),
            column("note", 5, "text", { nullable: false }),
          ],
          [{ name: "orders", message: "shop.v1.Order", file: "shop.proto", primaryKey: "id", columns: [] }],
        );
        const error = await database.checkSchema().catch((e: unknown) => e);
        expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_SCHEMA_MISMATCH" });
        expect((error as Error).message).toBe(
          "the database's tables are not those this version's code uses: " +
            '"items" has no column "title" (text, field 2 of shop.v1.Item); ' +
            '"items"."counter" is bigint, not integer (field 4 of shop.v1.Item); ' +
            '"items"."name" is NOT NULL, but field 6 of shop.v1.Item is optional: saving it unset would fail (DROP NOT NULL); ' +
            'table "orders" (shop.v1.Order) does not exist; ' +
            `a change tsmicro generate leaves to you (it said so: a renamed column, a new type) needs a migration in ${migrations} written by hand, then npm run migrate`,
        );
      } finally {
        await rm(join(migrations, "schema.json"), { force: true });
      }
      // A folder without schema.json (migrations not made by tsmicro generate): nothing to compare.
      await database.checkSchema();
    });

    it("checkSchema() names a key the generated code leaves to the database to number, when the database does not", async () => {
      const { db } = database;
      const key = { name: "id", field: 1, type: "bigint", nullable: false, identity: true, primaryKey: true };
      const keyed = { name: "keyed", message: "shop.v1.Keyed", file: "shop.proto", primaryKey: "id", columns: [key] };
      // items.id is a bigserial: a sequence numbers it as well as an identity would.
      const items = { ...keyed, name: "items", message: "shop.v1.Item" };
      await writeFile(
        join(migrations, "schema.json"),
        JSON.stringify({ "x-generated-by": "tsmicro generate", schema: { version: 1, tables: [items, keyed] } }),
      );
      try {
        // A string key made int64, and the type changed by a migration of one's own without the identity.
        await sql.raw("create table keyed (id text primary key)").execute(db);
        await sql.raw("insert into keyed values ('1'), ('2')").execute(db);
        await sql.raw('ALTER TABLE "keyed" ALTER COLUMN "id" TYPE bigint USING "id"::bigint').execute(db);
        const error = await database.checkSchema().catch((e: unknown) => e);
        expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_SCHEMA_MISMATCH" });
        const fix =
          'ALTER TABLE "keyed" ALTER COLUMN "id" ADD GENERATED BY DEFAULT AS IDENTITY; ' +
          `SELECT setval(pg_get_serial_sequence('"keyed"', 'id'), coalesce(max("id"), 0) + 1, false) FROM "keyed";`;
        expect((error as Error).message).toBe(
          "the database's tables are not those this version's code uses: " +
            '"keyed"."id" is not numbered by the database, but field 1 of shop.v1.Keyed is: every create leaving it 0 ' +
            `would fail (${fix}); a change tsmicro generate leaves to you (it said so: a renamed column, a new type) ` +
            `needs a migration in ${migrations} written by hand, then npm run migrate`,
        );
        // The SQL it names, as tsmicro generate's hint gives it too: numbered after the rows there.
        for (const statement of fix.split("; ")) await sql.raw(statement).execute(db);
        await database.checkSchema();
        const { rows } = await sql<{ id: bigint }>`insert into keyed default values returning id`.execute(db);
        expect(rows).toEqual([{ id: 3n }]);
      } finally {
        await rm(join(migrations, "schema.json"), { force: true });
        await sql.raw("drop table if exists keyed").execute(db);
      }
    });

    it("inserts, selects, updates and deletes", async () => {
      const { db } = database;
      const inserted = await db
        .insertInto("items")
        .values({ name: "first", attributes: "{}" })
        .returning(["id", "created_at"])
        .executeTakeFirstOrThrow();
      expect(typeof inserted.id).toBe("bigint");
      expect(inserted.created_at).toBeInstanceOf(Date);

      const updated = await db
        .updateTable("items")
        .set({ note: "changed" })
        .where("id", "=", inserted.id)
        .executeTakeFirst();
      expect(updated.numUpdatedRows).toBe(1n);
      const row = await db.selectFrom("items").selectAll().where("name", "=", "first").executeTakeFirstOrThrow();
      expect(row.note).toBe("changed");

      const deleted = await db.deleteFrom("items").where("id", "=", inserted.id).executeTakeFirst();
      expect(deleted.numDeletedRows).toBe(1n);
      expect(await db.selectFrom("items").selectAll().where("id", "=", inserted.id).execute()).toEqual([]);
    });

    it("rolls back a failed transaction and keeps a committed one", async () => {
      const { db } = database;
      await expect(
        db.transaction().execute(async (trx) => {
          await trx.insertInto("items").values({ name: "rolled back", attributes: "{}" }).execute();
          await trx.insertInto("items").values({ name: "rolled back", attributes: "{}" }).execute(); // unique violation
        }),
      ).rejects.toThrow(/unique|duplicate/i);
      expect(await db.selectFrom("items").select("id").where("name", "=", "rolled back").execute()).toEqual([]);

      await db.transaction().execute(async (trx) => {
        await trx.insertInto("items").values({ name: "committed", attributes: "{}" }).execute();
      });
      expect(await db.selectFrom("items").select("name").where("name", "=", "committed").execute()).toHaveLength(1);
    });

    it("rolls back to a savepoint inside a transaction", async () => {
      const { db } = database;
      const trx = await db.startTransaction().execute();
      try {
        await trx.insertInto("items").values({ name: "before savepoint", attributes: "{}" }).execute();
        const saved = await trx.savepoint("partial").execute();
        await saved.insertInto("items").values({ name: "after savepoint", attributes: "{}" }).execute();
        const restored = await saved.rollbackToSavepoint("partial").execute();
        await restored.commit().execute();
      } catch (error) {
        // Give the connection back, or closing the database would wait for it.
        await trx.rollback().execute();
        throw error;
      }
      const names = await db
        .selectFrom("items")
        .select("name")
        .where("name", "in", ["before savepoint", "after savepoint"])
        .execute();
      expect(names).toEqual([{ name: "before savepoint" }]);
    });

    it("serves concurrent queries while a transaction is open", async () => {
      const { db } = database;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const transaction = db.transaction().execute(async (trx) => {
        await trx.insertInto("items").values({ name: "in flight", attributes: "{}" }).execute();
        await held;
        throw new Error("roll back");
      });
      // Outside the transaction, the uncommitted row must never be seen.
      const outside = db.selectFrom("items").select("id").where("name", "=", "in flight").execute();
      setTimeout(release, 50);
      await expect(transaction).rejects.toThrow("roll back");
      expect(await outside).toEqual([]);
    });

    it("reports a unique violation with the same code and detail on both backends", async () => {
      // Scaffolded repositories map 23505 and its detail to a typed AlreadyExists error.
      const { db } = database;
      await db.insertInto("items").values({ name: "taken", attributes: "{}" }).execute();
      await expect(db.insertInto("items").values({ name: "taken", attributes: "{}" }).execute()).rejects.toMatchObject({
        code: "23505",
        detail: "Key (name)=(taken) already exists.",
        constraint: "items_name_key",
        table: "items",
      });
    });

    it("refuses stream() (a cursor) alike on both backends, in tsmicro's words, sending nothing", async () => {
      const rows = database.db.selectFrom("items").selectAll().stream();
      await expect(rows[Symbol.asyncIterator]().next()).rejects.toThrow(
        /^stream\(\) is not supported by @tsmicro\/runtime\/database; read in pages \(keyset pagination\) instead$/,
      );
      // The connection it took is back: the pool, or PGlite's one connection, serves the next query.
      await expect(sql<{ one: number }>`select 1 as one`.execute(database.db)).resolves.toMatchObject({
        rows: [{ one: 1 }],
      });
    });

    it("round-trips jsonb, bytea, timestamptz and bigint", async () => {
      const { db } = database;
      const attributes = { tags: ["a", "b"], nested: { n: 1.5, ok: true, none: null } };
      const payload = new Uint8Array([0, 1, 127, 128, 255]);
      const createdAt = new Date("2024-02-29T23:59:58.123Z");
      const counter = 9_007_199_254_740_993n; // above Number.MAX_SAFE_INTEGER
      await db
        .insertInto("items")
        .values({ name: "typed", attributes: JSON.stringify(attributes), payload, created_at: createdAt, counter })
        .execute();
      const row = await db.selectFrom("items").selectAll().where("name", "=", "typed").executeTakeFirstOrThrow();
      expect(row.attributes).toEqual(attributes);
      expect(row.payload).toEqual(payload);
      expect(Object.getPrototypeOf(row.payload)).toBe(Uint8Array.prototype);
      expect(row.created_at).toBeInstanceOf(Date);
      expect(row.created_at.getTime()).toBe(createdAt.getTime());
      expect(row.counter).toBe(counter);
      const found = await db
        .selectFrom("items")
        .select("name")
        .where(sql<boolean>`attributes @> ${JSON.stringify({ tags: ["b"] })}::jsonb`)
        .execute();
      expect(found).toEqual([{ name: "typed" }]);
      const { count } = await db
        .selectFrom("items")
        .select((eb) => eb.fn.countAll<bigint>().as("count"))
        .executeTakeFirstOrThrow();
      expect(typeof count).toBe("bigint");
    });

    it("reads numeric, int4, float8, bool, uuid, date, interval, time and arrays as the other backend does", async () => {
      const result = await sql<Record<string, unknown>>`
        select 1.50::numeric as numeric, 2::int4 as int4, 2.5::float8 as float8, true as bool,
          'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as uuid, array['a', 'b;c']::text[] as texts,
          array[1, 2]::int8[] as bigints, array['\\x00ff'::bytea] as blobs, null::text as nothing,
          '2024-02-29'::date as day, array['2024-03-01'::date] as days, '1 day 02:00'::interval as span,
          '12:30'::time as clock`.execute(database.db);
      expect(result.rows).toEqual([
        {
          numeric: "1.50",
          int4: 2,
          float8: 2.5,
          bool: true,
          uuid: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
          texts: ["a", "b;c"],
          bigints: [1n, 2n],
          blobs: [new Uint8Array([0, 255])],
          nothing: null,
          day: "2024-02-29",
          days: ["2024-03-01"],
          span: "1 day 02:00:00",
          clock: "12:30:00",
        },
      ]);
    });

    it("reads timestamptz of any year a Timestamp holds as the instant written, years 1 to 99 too", async () => {
      const instants = [
        "0001-01-01T00:00:00.000Z",
        "0099-06-01T12:00:00.250Z",
        "1969-12-31T23:59:59.999Z",
        "2024-02-29T23:59:58.123Z",
        "9999-12-31T23:59:59.999Z",
      ].map((text) => new Date(text));
      // The session's zone sets the offset the server writes: +05:30, -03:30, and before 1900 local mean
      // times with seconds (+05:53:28).
      for (const zone of ["UTC", "Asia/Kolkata", "America/St_Johns"]) {
        const read = await database.db.transaction().execute(async (tx) => {
          await sql`select set_config('timezone', ${zone}, true)`.execute(tx);
          const rows = [];
          for (const instant of instants)
            rows.push((await sql<{ at: Date }>`select ${instant}::timestamptz as at`.execute(tx)).rows[0]!.at);
          return rows;
        });
        expect(
          read.map((at) => at.toISOString()),
          zone,
        ).toEqual(instants.map((at) => at.toISOString()));
      }
    });

    it("applies nothing of a run whose migration fails, and names the file and line", async () => {
      const broken = await openDatabase({ ...(await backend.fresh()), migrationsDir: badMigrations });
      try {
        const error = await broken.migrate().then(
          () => undefined,
          (e: unknown) => e as { code?: string; message: string },
        );
        expect(error?.code).toBe("TSM_ERR_MIGRATION");
        expect(error?.message).toContain(join(badMigrations, "0002_broken.sql"));
        expect(error?.message).toMatch(/at line 3 \(insert into no_such_table values \(1\)\): .*no_such_table/);
        // And what to do about it.
        expect(error?.message).toContain(
          "no migration of this run was applied: mend that migration, or the rows it cannot apply to, and start again",
        );
        const tables = await sql<{ name: string }>`
          select table_name as name from information_schema.tables
          where table_schema = 'public' and table_name in ('first_table', 'second_table')`.execute(broken.db);
        expect(tables.rows).toEqual([]);
      } finally {
        await broken.close();
      }
    });
  });
}

describe("openTestDatabase", () => {
  it("opens embedded PGlite in memory, migrated, without a URL", async () => {
    const database = await openTestDatabase<Db>({ migrationsDir: migrations });
    try {
      expect(database.kind).toBe("pglite");
      expect(await database.pending()).toEqual([]);
      await database.db.insertInto("items").values({ name: "a", attributes: "{}" }).execute();
    } finally {
      await database.close();
    }
  });

  it("refuses a database its migrations leave unlike the tables the code uses, naming the column", async () => {
    // A field renamed in the proto (generate records "title"), its column never renamed by a migration.
    const renamed = join(root, "renamed-migrations");
    await mkdir(renamed);
    await writeFile(
      join(renamed, "0001_create_items.sql"),
      "create table items (id bigserial primary key, name text);\n",
    );
    const columns = [
      { name: "id", field: 1, type: "bigint", nullable: false },
      { name: "title", field: 2, type: "text", nullable: false },
    ];
    const table = { name: "items", message: "shop.v1.Item", file: "shop.proto", primaryKey: "id", columns };
    await writeFile(
      join(renamed, "schema.json"),
      JSON.stringify({ "x-generated-by": "tsmicro generate", schema: { version: 1, tables: [table] } }),
    );
    const error = await openTestDatabase<Db>({ migrationsDir: renamed }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_SCHEMA_MISMATCH" });
    expect((error as Error).message).toContain('"items" has no column "title" (text, field 2 of shop.v1.Item)');
  });

  describe.skipIf(!postgresBinDir)("on PostgreSQL", () => {
    let postgres: PostgresServer | undefined;
    beforeAll(async () => {
      postgres = await startPostgres();
    });
    afterAll(async () => {
      await postgres?.stop();
    });

    /** The names of the server's test databases. */
    async function testDatabases(): Promise<string[]> {
      const admin = await openDatabase({ url: postgres!.url, migrationsDir: join(root, "no-migrations") });
      try {
        const { rows } = await sql<{ datname: string }>`select datname from pg_database`.execute(admin.db);
        return rows.map((r) => r.datname).filter((name) => name.startsWith("tsmicro_test_"));
      } finally {
        await admin.close();
      }
    }

    it("gives each opener a migrated database of its own, leaves the URL's database alone, and drops it on close", async () => {
      const first = await openTestDatabase<Db>({ url: postgres!.url, migrationsDir: migrations });
      const second = await openTestDatabase<Db>({ url: postgres!.url, migrationsDir: migrations });
      try {
        expect(await testDatabases()).toHaveLength(2);
        await first.db.insertInto("items").values({ name: "only in the first", attributes: "{}" }).execute();
        expect(await second.db.selectFrom("items").selectAll().execute()).toEqual([]);
        // The database the URL names got no tables.
        const named = await openDatabase({ url: postgres!.url, migrationsDir: join(root, "no-migrations") });
        try {
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from information_schema.tables where table_schema = 'public'`.execute(named.db);
          expect(rows[0]?.n).toBe(0);
        } finally {
          await named.close();
        }
      } finally {
        await first.close();
        await second.close();
      }
      expect(await testDatabases()).toEqual([]);
    });

    it("says the role needs CREATEDB when it cannot create one", async () => {
      const admin = await openDatabase({ url: postgres!.url, migrationsDir: join(root, "no-migrations") });
      try {
        await sql.raw("create role plain login").execute(admin.db);
      } finally {
        await admin.close();
      }
      const url = postgres!.url.replace("postgres@", "plain@");
      await expect(openTestDatabase({ url, migrationsDir: migrations })).rejects.toMatchObject({
        code: "TSM_ERR_TEST_DATABASE",
        message: expect.stringMatching(
          /^cannot create the test database tsmicro_test_\w+ on 127\.0\.0\.1:\d+\/postgres \(permission denied to create database\): .*CREATEDB/,
        ),
      });
    });
  });
});

describe.skipIf(!postgresBinDir)("PostgreSQL going away while a service runs", () => {
  it("fails queries UNAVAILABLE naming the server and postgres as the failed service, logged once, not INTERNAL", async () => {
    const server = await startPostgres();
    const { logger, entries } = recordingLogger();
    const database = await openDatabase({ url: server.url, logger });
    try {
      await expect(sql`select 1 as one`.execute(database.db)).resolves.toMatchObject({ rows: [{ one: 1 }] });
      await server.stop();
      const where = server.url.replace(/^postgres:\/\/postgres@/, "");
      for (let i = 0; i < 2; i++) {
        const error = await sql`select 1`.execute(database.db).then(
          () => undefined,
          (e: unknown) => e as TsmicroError,
        );
        expect(error).toBeInstanceOf(TsmicroError);
        expect(error).toMatchObject({ code: Code.UNAVAILABLE });
        expect(error!.message).toMatch(new RegExp(`^the PostgreSQL server at ${where} cannot be reached \\(`));
        // The socket's failure with what it means, not Node's errno alone.
        expect(error!.message).toContain(": nothing listens there (is PostgreSQL running, on that port?)");
        expect(failedService(error)).toBe("postgres");
      }
      expect(
        entries.filter((entry) => String(entry.message).startsWith("the database cannot be reached")),
      ).toHaveLength(1);
      // The pooled idle connection the server closed: one short line with the reason, not pg's error and Client.
      const lost = await waitFor("the idle connection's loss logged", () =>
        entries.find((entry) => entry.message === "idle database connection lost"),
      );
      expect(lost.fields).toEqual({
        database: where,
        reason: "terminating connection due to administrator command (SQLSTATE 57P01)",
      });
    } finally {
      await database.close().catch(() => undefined);
      await server.stop();
    }
  });
});

describe("PostgreSQL's CancelRequest", () => {
  it.skipIf(!postgresBinDir)(
    "stops a query with PostgreSQL's CancelRequest, from the fields pg's Client keeps of its connection",
    async () => {
      const server = await startPostgres();
      const client = new pg.Client({ connectionString: server.url });
      const watcher = new pg.Client({ connectionString: server.url });
      try {
        await client.connect();
        await watcher.connect();
        const running = client.query("select pg_sleep(30)").catch((error: unknown) => error);
        const pid = (client as unknown as CancelTarget).processID;
        await waitFor("the query running on the server", async () => {
          const { rows } = await watcher.query("select state from pg_stat_activity where pid = $1", [pid]);
          return rows[0]?.state === "active";
        });
        // What outageAwarePool reads of a pooled client: host, port, processID and secretKey (not in pg's typings).
        await expect(sendCancelRequest(client as unknown as CancelTarget, 10_000)).resolves.toBe("closed");
        // 57014: canceling statement due to user request, well before the 30 s.
        await expect(running).resolves.toMatchObject({ code: "57014" });
        await expect(client.query("select 1 as one")).resolves.toMatchObject({ rows: [{ one: 1 }] });
      } finally {
        await client.end().catch(() => undefined);
        await watcher.end().catch(() => undefined);
        await server.stop();
      }
    },
    30_000,
  );

  it("gives up on a server that takes the request and never closes, and tells one that refuses it, without failing", async () => {
    // Takes connections and says nothing, as a frozen server does: not even its end once the request's came.
    const received: Buffer[] = [];
    const sockets: Socket[] = [];
    const silent = createServer({ allowHalfOpen: true }, (socket) => {
      sockets.push(socket);
      socket.on("data", (chunk: Buffer) => received.push(chunk));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const target = { host: "127.0.0.1", port, processID: 4242, secretKey: -7 };
      // Sent, and not answered: what tells a server that stopped answering from a slow query.
      await expect(sendCancelRequest(target, 200)).resolves.toBe("unanswered");
      // The request as PostgreSQL reads it: length 16, code 80877102, the backend's process id and key.
      const request = Buffer.concat(received);
      expect([0, 4, 8, 12].map((at) => request.readInt32BE(at))).toEqual([16, 80877102, 4242, -7]);
      // Refused at once (nothing listens there any more): told from a wait given up, which took the timeout.
      await expect(sendCancelRequest({ ...target, port: await freePort() }, 10_000)).resolves.toBe("refused");
      // A connection that never told its key (not connected, or not pg's JavaScript Client) is not cancelled.
      await expect(sendCancelRequest({ host: "127.0.0.1", port }, 200)).resolves.toBe("unsent");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe.skipIf(!postgresBinDir)("PostgreSQL's connections cut while a service runs", () => {
  let server: PostgresServer;
  // node-postgres emits the socket error of a client in use on the client, where an event nobody
  // listens to is an uncaught exception: a service would exit with a stack trace.
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  beforeEach(() => {
    uncaught.length = 0;
    process.on("uncaughtException", onUncaught);
  });
  afterEach(async () => {
    process.off("uncaughtException", onUncaught);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The server through a proxy that can refuse and cut connections: an outage and its end, on one server. */
  async function openThroughProxy(logger?: Logger) {
    const proxy = await startFaultProxy(server.url.replace(/^postgres:\/\/postgres@|\/postgres$/g, ""));
    cleanups.push(() => proxy.close());
    const database = await openDatabase({ url: `postgres://postgres@${proxy.address}/postgres`, logger });
    cleanups.push(() => database.close());
    return { proxy, database };
  }

  it("fails a query whose connection is cut UNAVAILABLE, and the process does not crash on the connection's error", async () => {
    const { proxy, database } = await openThroughProxy();
    const slow = sql`select pg_sleep(2)`.execute(database.db).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleep(300);
    proxy.reset();
    const error = await slow;
    expect(error).toBeInstanceOf(TsmicroError);
    expect(error).toMatchObject({ code: Code.UNAVAILABLE });
    expect(failedService(error)).toBe("postgres");
    // The pool drops the dead connection and opens a new one.
    await expect(sql`select 1 as one`.execute(database.db)).resolves.toMatchObject({ rows: [{ one: 1 }] });
    expect(uncaught).toEqual([]);
  });

  it("answers again without a restart once the server is back, and says so once per outage, as the registry and the broker do", async () => {
    const { logger, entries } = recordingLogger();
    const { proxy, database } = await openThroughProxy(logger);
    const said = (message: string) => entries.filter((entry) => entry.message === message);
    const selectOne = () => sql`select 1 as one`.execute(database.db);
    await expect(selectOne()).resolves.toMatchObject({ rows: [{ one: 1 }] });
    for (let outage = 1; outage <= 2; outage++) {
      proxy.refuse(true);
      proxy.reset();
      await expect(selectOne()).rejects.toMatchObject({ code: Code.UNAVAILABLE });
      await expect(selectOne()).rejects.toMatchObject({ code: Code.UNAVAILABLE });
      proxy.refuse(false);
      await expect(selectOne()).resolves.toMatchObject({ rows: [{ one: 1 }] });
      await expect(selectOne()).resolves.toMatchObject({ rows: [{ one: 1 }] });
      expect(said("the database cannot be reached; calls that use it fail UNAVAILABLE")).toHaveLength(outage);
      expect(said("the database answers again")).toHaveLength(outage);
    }
    expect(said("the database answers again")[0]?.fields).toEqual({ database: `${proxy.address}/postgres` });
    expect(uncaught).toEqual([]);
  });

  it("logs an idle connection's loss outside the trace of the call that happened to open it", async () => {
    // The pool's error event comes from the socket, in the async context the socket was made in: the call
    // that needed a new connection. Its trace_id on this line would send whoever follows it to an unrelated call.
    const api = loadOtelApi();
    const contextManager = new (loadContextManager().AsyncLocalStorageContextManager)().enable();
    api.context.setGlobalContextManager(contextManager);
    cleanups.push(async () => {
      api.context.disable();
      contextManager.disable();
    });
    const lines: Array<{ message: string | undefined; trace: string | undefined }> = [];
    const log = (fields: object | string, message?: string) =>
      void lines.push({ message: typeof fields === "string" ? fields : message, trace: activeTraceId() });
    const logger: Logger = { trace: log, debug: log, info: log, warn: log, error: log, child: () => logger };
    const call = api.trace.setSpan(
      api.context.active(),
      api.trace.wrapSpanContext({
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331",
        traceFlags: 1,
      }),
    );
    const { proxy, database } = await openThroughProxy(logger);
    const losses = () => lines.filter((line) => line.message === "idle database connection lost");
    // The connection the opening made goes; a call makes the next.
    proxy.reset();
    await waitFor("the first idle connection's loss logged", () => losses().length === 1);
    await api.context.with(call, () => sql`select 1`.execute(database.db));
    proxy.reset();
    await waitFor("the second idle connection's loss logged", () => losses().length === 2);
    expect(losses().map((line) => line.trace)).toEqual([undefined, undefined]);
  });

  it("fails UNAVAILABLE the next query of a transaction whose connection was cut between its queries", async () => {
    const { proxy, database } = await openThroughProxy();
    const error = await database.db
      .transaction()
      .execute(async (tx) => {
        await sql`select 1`.execute(tx);
        proxy.reset();
        await sleep(200);
        await sql`select 2`.execute(tx);
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: Code.UNAVAILABLE });
    expect(failedService(error)).toBe("postgres");
    await expect(sql`select 1 as one`.execute(database.db)).resolves.toMatchObject({ rows: [{ one: 1 }] });
    expect(uncaught).toEqual([]);
  });
});

describe("opening", () => {
  it("reports an unreachable PostgreSQL by host and port, without the password", async () => {
    const port = await freePort();
    const error = await openDatabase({ url: `postgres://app:s3cret-pw@127.0.0.1:${port}/shop` }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error?.code).toBe("TSM_ERR_DATABASE_UNREACHABLE");
    expect(error?.message).toContain(`127.0.0.1:${port}/shop`);
    expect(error?.message).not.toContain("s3cret-pw");
  });

  it("says in words that PostgreSQL did not answer in time, as a frozen server or a dead link does", async () => {
    // Accepts connections and says nothing, as a server stopped by SIGSTOP or a host whose packets are dropped.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const error = await openDatabase({ url: `postgres://app@127.0.0.1:${port}/shop` }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string },
      );
      expect(error?.code).toBe("TSM_ERR_DATABASE_UNREACHABLE");
      expect(error?.message).toContain(
        `the PostgreSQL server at 127.0.0.1:${port}/shop cannot be used (no answer within 10 s; is it running and reachable?)`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 20_000);

  it("waits for a new connection as long as the URL's connect_timeout says, in seconds as libpq reads it", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const error = await openDatabase({ url: `postgres://app@127.0.0.1:${port}/shop?connect_timeout=2` }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string },
      );
      expect(error?.code).toBe("TSM_ERR_DATABASE_UNREACHABLE");
      expect(error?.message).toContain("(no answer within 2 s; is it running and reachable?)");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    await expect(openDatabase({ url: "postgres://app@127.0.0.1:5432/shop?connect_timeout=5s" })).rejects.toMatchObject({
      code: "TSM_ERR_DATABASE_URL",
      message: expect.stringContaining("connect_timeout=5s is not a whole number of seconds (0 for no limit)"),
    });
  }, 20_000);

  it("refuses a pool_max_conns that is not a whole number of connections, 1 or more", async () => {
    for (const value of ["abc", "0", "-2", "2.5"])
      await expect(
        openDatabase({ url: `postgres://app@127.0.0.1:5432/shop?pool_max_conns=${value}` }),
      ).rejects.toMatchObject({
        code: "TSM_ERR_DATABASE_URL",
        message: expect.stringContaining(
          `127.0.0.1:5432/shop is not usable (pool_max_conns=${value} is not a whole number of connections, 1 or more (the pool's size; default 10)); ` +
            // Where to mend it, not only the URL's shape: the host and database are fine, a parameter is not.
            "mend DATABASE_URL (--database_url): postgres://USER@HOST:5432/DATABASE (USER:PASSWORD@ where it needs a password), then any parameters, such as ?pool_max_conns=20",
        ),
      });
  });

  it("waits with no limit for a connect_timeout longer than a timer keeps, as for 0", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      // 99999999 s is past setTimeout's 24.8 days: taken as given, pg-pool's timer would fire at once.
      let settled = false;
      const opening = openDatabase({ url: `postgres://app@127.0.0.1:${port}/shop?connect_timeout=99999999` }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string },
      );
      void opening.finally(() => {
        settled = true;
      });
      while (sockets.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(settled).toBe(false);
      // The server going away ends the wait.
      for (const socket of sockets) socket.destroy();
      expect((await opening)?.code).toBe("TSM_ERR_DATABASE_UNREACHABLE");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 20_000);

  it("says it is creating the embedded database on a first start, which takes seconds, and not after", async () => {
    const { logger, entries } = recordingLogger();
    const dataDir = join(root, "first-start");
    const creating = () => entries.filter((e) => e.message?.startsWith("creating the embedded database")).length;
    const first = await openDatabase({ dataDir, migrationsDir: join(root, "no-migrations"), logger });
    await first.close();
    expect(creating()).toBe(1);
    const second = await openDatabase({ dataDir, migrationsDir: join(root, "no-migrations"), logger });
    await second.close();
    expect(creating()).toBe(1);
  });

  it("rejects a URL that is not postgres://", async () => {
    await expect(openDatabase({ url: "mysql://root:pw@localhost/db" })).rejects.toMatchObject({
      code: "TSM_ERR_DATABASE_URL",
    });
  });

  it("says when the migrations folder is missing or lost a file already applied", async () => {
    const folder = join(root, "shrinking-migrations");
    await mkdir(folder);
    await writeFile(join(folder, "0001_a.sql"), "create table a (x int);");
    await writeFile(join(folder, "0002_b.sql"), "create table b (x int);");
    const database = await openDatabase({ dataDir: "memory://", migrationsDir: folder });
    try {
      expect(await database.migrate()).toEqual(["0001_a", "0002_b"]);
      await rm(join(folder, "0002_b.sql"));
      await expect(database.migrate()).rejects.toMatchObject({
        code: "TSM_ERR_MIGRATIONS_DIR",
        message: expect.stringContaining(
          "the database has applied migration 0002_b, which is not in this folder: a file applied before was deleted " +
            "or renamed (put it back), or another service migrates the same database",
        ),
      });
      await writeFile(join(folder, "create.sql"), "select 1;");
      await expect(database.migrate()).rejects.toMatchObject({
        code: "TSM_ERR_MIGRATIONS_DIR",
        message: expect.stringContaining("create.sql is not named NNNN_name.sql"),
      });
      await rm(folder, { recursive: true });
      await expect(database.migrate()).rejects.toMatchObject({
        code: "TSM_ERR_MIGRATIONS_DIR",
        message: `migrations folder ${folder}: not found; create it or set --migrations_dir`,
      });
    } finally {
      await database.close();
    }
  });
});
