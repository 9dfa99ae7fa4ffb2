import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { buildImage } from "../bin/cli/buf-image.js";
import { type ColumnSchema, entitySchema, type EntitySchema } from "../generator/entity-schema.js";
import { planMigration, recordedSchema } from "../generator/migration-plan.js";
import type { Database } from "../runtime/src/database/index.js";
import { Customer, CustomerStatus, OrderLine } from "./golden/17-entity/shop/v1/shop.js";
import {
  customerColumns,
  customerFromRow,
  customerToRow,
  orderLineFromRow,
  orderLineToRow,
  type ShopDatabase,
} from "./golden/17-entity/shop/v1/shop.entity.js";
import { bins, repoRoot, repoTempDir, run } from "./support/cli.js";
import { postgresBinDir, startPostgres, type PostgresServer } from "./support/postgres.js";

// The embedded database is a development dependency the database package brings; without it, say so and skip.
const pgliteInstalled = await import("@electric-sql/pglite").then(
  () => true,
  () => false,
);
if (!pgliteInstalled) console.log("entity-db: PGlite skipped, @electric-sql/pglite is not installed (npm install)");

const fixture = join(repoRoot, "test/protos/17-entity");

/** Compiles a proto folder as `tsmicro generate` does and returns its entity schema. */
async function schemaOf(protoDir: string): Promise<EntitySchema> {
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(protoDir, protoDir));
  const files = image.file.map((f) => f.name).filter((name) => name.startsWith("shop/"));
  return entitySchema(create(CodeGeneratorRequestSchema, { fileToGenerate: files, protoFile: image.file }));
}

/** The fixture with two fields added to Customer, its schema, and the code tsmicro generates from it (once for all backends). */
interface Edited {
  readonly schema: EntitySchema;
  readonly entity: {
    customerToRow(message: object): Record<string, unknown>;
    customerFromRow(row: object): Record<string, unknown>;
  };
  readonly Customer: { fromPartial(value: object): object };
}
let edited: Promise<Edited> | undefined;
const temps: string[] = [];

async function editFixture(): Promise<Edited> {
  const work = await repoTempDir("entity-db-edited");
  temps.push(work);
  const protos = join(work, "proto");
  await cp(fixture, protos, { recursive: true });
  const file = join(protos, "shop/v1/shop.proto");
  const source = await readFile(file, "utf8");
  await writeFile(
    file,
    source.replace(
      "  optional int64 referrer_id = 17;\n",
      "  optional int64 referrer_id = 17;\n  string phone = 30;\n  optional int32 floor = 31 [(tsmicro.column) = { index: true }];\n",
    ),
  );
  const out = join(work, "gen");
  const result = await run("node", [bins.tsmicro, "generate", "--proto", protos, "--out", out]);
  if (result.code !== 0) throw new Error(`tsmicro generate failed: ${result.stderr}`);
  return {
    schema: await schemaOf(protos),
    entity: (await import(pathToFileURL(join(out, "shop/v1/shop.entity.ts")).href)) as Edited["entity"],
    Customer: ((await import(pathToFileURL(join(out, "shop/v1/shop.ts")).href)) as Pick<Edited, "Customer">).Customer,
  };
}

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

let server: PostgresServer | undefined;
const backends = [
  { name: "PGlite", skip: !pgliteInstalled, options: async () => ({ dataDir: "memory://" }) },
  {
    name: "PostgreSQL",
    skip: !postgresBinDir,
    options: async () => {
      server = await startPostgres();
      return { url: server.url };
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`entities on ${backend.name}: planned migrations and generated row conversions`, () => {
    let migrations: string;
    let database: Database<ShopDatabase>;
    let first: EntitySchema;

    beforeAll(async () => {
      const work = await repoTempDir("entity-db");
      temps.push(work);
      migrations = join(work, "migrations");
      await mkdir(migrations);
      const { openDatabase } = await import("../runtime/src/database/index.js");
      database = await openDatabase<ShopDatabase>({ ...(await backend.options()), migrationsDir: migrations });
    });

    afterAll(async () => {
      await database?.close();
      await server?.stop();
      server = undefined;
    });

    it("applies the first planned migration and round-trips every column kind through it", async () => {
      first = await schemaOf(fixture);
      const plan = planMigration(undefined, first);
      expect(plan.name).toBe("create_customer_and_create_order_lines");
      expect(plan.warnings).toEqual([]);
      await writeFile(join(migrations, `0001_${plan.name}.sql`), plan.sql);
      expect(await database.migrate()).toEqual([`0001_${plan.name}`]);

      const { db } = database;
      const full = Customer.fromPartial({
        email: "ada@example.com",
        displayName: "Ada",
        verified: true,
        age: -36,
        status: CustomerStatus.CUSTOMER_STATUS_BLOCKED,
        createdAt: new Date("2026-12-02T10:11:12.345Z"),
        nickname: "",
        avatar: new Uint8Array([0, 1, 254, 255]),
        rating: 4.5,
        balance: -1234.5678,
        points: 4_294_967_295,
        lifetimeCents: 18_446_744_073_709_551_615n,
        tags: ["a", "b,c", '"q"'],
        attributes: { tier: "gold", "with space": "x" },
        address: { street: "1 Loop", city: "Here" },
        referrerId: -9_007_199_254_740_993n,
        // 7 and 9 are values of a newer proto, which this code does not know: they are kept.
        statuses: { a: CustomerStatus.CUSTOMER_STATUS_ACTIVE, b: 7 as CustomerStatus },
        statusesByReferrer: new Map<bigint, CustomerStatus>([
          [-5n, CustomerStatus.CUSTOMER_STATUS_BLOCKED],
          [9_007_199_254_740_993n, 9 as CustomerStatus],
        ]),
        flags: new Map([
          [true, 1n],
          [false, -2n],
        ]),
        signature: new Uint8Array([0, 255, 7]),
      });
      const row = await db.insertInto("customer").values(customerToRow(full)).returningAll().executeTakeFirstOrThrow();
      // Id 0 is proto3's unset: the database numbers it.
      expect(customerFromRow(row)).toEqual({ ...full, id: 1n });

      const empty = Customer.create();
      const emptyRow = await db
        .insertInto("customer")
        .values(customerToRow(empty))
        .returningAll()
        .executeTakeFirstOrThrow();
      expect(customerFromRow(emptyRow)).toEqual({ ...empty, id: 2n });
      expect(emptyRow.created_at).toBeNull();
      expect(emptyRow.nickname).toBeNull();

      // An explicit id is kept.
      const chosen = Customer.fromPartial({ id: 9_007_199_254_740_993n, email: "grace@example.com" });
      const chosenRow = await db
        .insertInto("customer")
        .values(customerToRow(chosen))
        .returningAll()
        .executeTakeFirstOrThrow();
      expect(customerFromRow(chosenRow)).toEqual(chosen);

      await expect(
        db
          .insertInto("customer")
          .values(customerToRow(Customer.fromPartial({ email: "ada@example.com" })))
          .execute(),
      ).rejects.toThrow(/customer_email_key/);

      const lines = [
        OrderLine.fromPartial({
          sku: "card",
          customerId: 1n,
          quantity: -3,
          adjustment: -9_223_372_036_854_775_808n,
          weightGrams: 4_294_967_295,
          serial: 18_446_744_073_709_551_615n,
          shelf: -2_147_483_648,
          batch: 9_223_372_036_854_775_807n,
          externalRef: "-42",
          stops: [{ street: "a", city: "b" }, { street: "c" }],
          allowed: [
            CustomerStatus.CUSTOMER_STATUS_ACTIVE,
            CustomerStatus.CUSTOMER_STATUS_BLOCKED,
            12 as CustomerStatus,
          ],
          override: CustomerStatus.CUSTOMER_STATUS_UNSPECIFIED,
          payment: { $case: "card", value: "4242" },
        }),
        OrderLine.fromPartial({ sku: "credits", payment: { $case: "credits", value: 12n } }),
        OrderLine.fromPartial({ sku: "invoice", payment: { $case: "invoiceTo", value: { city: "Paris" } } }),
        OrderLine.fromPartial({ sku: "paid", payment: { $case: "paidAt", value: new Date(0) } }),
        OrderLine.fromPartial({ sku: "none" }),
      ];
      await db.insertInto("order_lines").values(lines.map(orderLineToRow)).execute();
      const read = await db.selectFrom("order_lines").selectAll().orderBy("sku").execute();
      expect(read.map(orderLineFromRow)).toEqual([...lines].sort((a, b) => (a.sku < b.sku ? -1 : 1)));
      // Enums in JSON are numbers, so a renamed value keeps its rows; names written by an earlier tsmicro still read.
      expect(read.find((line) => line.sku === "card")?.allowed).toEqual([1, 2, 12]);
      await sql`update order_lines set allowed = '["CUSTOMER_STATUS_BLOCKED", 12]' where sku = 'none'`.execute(db);
      const named = await db.selectFrom("order_lines").selectAll().where("sku", "=", "none").executeTakeFirstOrThrow();
      expect(orderLineFromRow(named).allowed).toEqual([CustomerStatus.CUSTOMER_STATUS_BLOCKED, 12]);

      // An update's FieldMask, in proto or JSON spelling, picks the columns to set.
      const changed = customerToRow({ ...full, id: 1n, displayName: "Ada L.", tags: ["x"], age: 99 });
      const set = Object.fromEntries(
        ["display_name", "tags"].map((path) => {
          const column = customerColumns[path as keyof typeof customerColumns];
          return [column, changed[column]];
        }),
      );
      await db.updateTable("customer").set(set).where("id", "=", 1n).execute();
      const updated = customerFromRow(
        await db.selectFrom("customer").selectAll().where("id", "=", 1n).executeTakeFirstOrThrow(),
      );
      expect(updated).toEqual({ ...full, id: 1n, displayName: "Ada L.", tags: ["x"] });
    });

    it("plans an ADD COLUMN for a field added to the proto, which applies on top and reads old rows as proto3 defaults", async () => {
      edited ??= editFixture();
      const { schema, entity, Customer: NewCustomer } = await edited;
      const plan = planMigration(first, schema);
      expect(plan).toEqual({
        name: "add_customer_phone_and_add_customer_floor",
        sql:
          `ALTER TABLE "customer" ADD COLUMN "phone" text NOT NULL DEFAULT '';\n` +
          `ALTER TABLE "customer" ADD COLUMN "floor" integer;\n` +
          `CREATE INDEX "customer_floor_idx" ON "customer" ("floor");\n`,
        warnings: [],
        risks: [],
      });
      await writeFile(join(migrations, `0002_${plan.name}.sql`), plan.sql);
      expect(await database.migrate()).toEqual([`0002_${plan.name}`]);

      // The code generated from the edited proto reads the rows written before and writes the new field.
      const { db } = database;
      const old = await db.selectFrom("customer").selectAll().where("id", "=", 1n).executeTakeFirstOrThrow();
      expect(entity.customerFromRow(old)).toMatchObject({
        id: 1n,
        email: "ada@example.com",
        phone: "",
        floor: undefined,
      });

      const fresh = NewCustomer.fromPartial({ email: "new@example.com", phone: "+33 1", floor: 3 });
      const row = await db
        .insertInto("customer")
        .values(entity.customerToRow(fresh) as never)
        .returningAll()
        .executeTakeFirstOrThrow();
      // 3 went to the insert the unique email refused: sequences do not roll back.
      expect(entity.customerFromRow(row)).toEqual({ ...fresh, id: 4n });
    });

    it("checkSchema() passes on the tables generate recorded, and stops a rename left to a migration until it is made", async () => {
      edited ??= editFixture();
      const { schema } = await edited;
      // The record as tsmicro generate writes it (bin/cli/project-migrations.ts).
      const record = (recorded: EntitySchema) =>
        writeFile(
          join(migrations, "schema.json"),
          JSON.stringify({ "x-generated-by": "tsmicro generate", schema: recorded }),
        );
      await record(schema);
      await database.checkSchema();
      // The field renamed in the proto: generate records the new column name and leaves the RENAME to the user.
      const renamed: EntitySchema = {
        ...schema,
        tables: schema.tables.map((table) =>
          table.name !== "customer"
            ? table
            : { ...table, columns: table.columns.map((c) => (c.name === "phone" ? { ...c, name: "mobile" } : c)) },
        ),
      };
      await record(renamed);
      await expect(database.checkSchema()).rejects.toMatchObject({
        code: "TSM_ERR_SCHEMA_MISMATCH",
        message: expect.stringContaining('"customer" has no column "mobile" (text, field 30 of shop.v1.Customer)'),
      });
      await writeFile(
        join(migrations, "0003_rename_phone.sql"),
        'ALTER TABLE "customer" RENAME COLUMN "phone" TO "mobile";\n',
      );
      // Written, not yet applied: what is missing is npm run migrate.
      await expect(database.checkSchema()).rejects.toMatchObject({
        code: "TSM_ERR_MIGRATIONS_PENDING",
        message: expect.stringContaining("(0003_rename_phone): run npm run migrate"),
      });
      expect(await database.migrate()).toEqual(["0003_rename_phone"]);
      await database.checkSchema();
    });

    it("renames the indexes of a renamed column in the migration its hint gives, so later migrations find them by name", async () => {
      const schemaJson = join(migrations, "schema.json");
      const read = async () => (JSON.parse(await readFile(schemaJson, "utf8")) as { schema: EntitySchema }).schema;
      const record = (recorded: EntitySchema) =>
        writeFile(schemaJson, JSON.stringify({ "x-generated-by": "tsmicro generate", schema: recorded }));
      const customer = (schema: EntitySchema, edit: (c: ColumnSchema) => ColumnSchema | ColumnSchema[]) => ({
        ...schema,
        tables: schema.tables.map((t) => (t.name === "customer" ? { ...t, columns: t.columns.flatMap(edit) } : t)),
      });
      const indexes = async () =>
        (
          await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'customer'`.execute(
            database.db,
          )
        ).rows
          .map((r) => r.indexname)
          .sort();

      // email (unique) and floor (indexed) renamed in the proto: the hints are the migration to write.
      const before = await read();
      const renamed = customer(before, (c) =>
        c.name === "email" ? { ...c, name: "mail" } : c.name === "floor" ? { ...c, name: "storey" } : c,
      );
      const plan = planMigration(before, renamed);
      expect(plan.sql).toBe("");
      expect(plan.warnings).toEqual([
        'column "email" of table "customer" (field 2 of shop.v1.Customer) is now named "mail"; tsmicro does not rename ' +
          'columns: write a migration with ALTER TABLE "customer" RENAME COLUMN "email" TO "mail"; ' +
          'ALTER INDEX IF EXISTS "customer_email_key" RENAME TO "customer_mail_key";',
        'column "floor" of table "customer" (field 31 of shop.v1.Customer) is now named "storey"; tsmicro does not ' +
          'rename columns: write a migration with ALTER TABLE "customer" RENAME COLUMN "floor" TO "storey"; ' +
          'ALTER INDEX IF EXISTS "customer_floor_idx" RENAME TO "customer_storey_idx";',
      ]);
      const written = plan.warnings.map((w) => w.slice(w.indexOf("write a migration with ") + 23)).join("\n");
      await writeFile(join(migrations, "0004_rename_email_and_floor.sql"), `${written}\n`);
      expect(await database.migrate()).toEqual(["0004_rename_email_and_floor"]);
      expect(await indexes()).toEqual([
        "customer_created_at_idx",
        "customer_mail_key",
        "customer_pkey",
        "customer_status_idx",
        "customer_storey_idx",
      ]);
      // The next generate, the proto unchanged: nothing to write, nothing to say, and the database matches.
      const after = recordedSchema(before, renamed);
      await record(after);
      await database.checkSchema();
      expect(planMigration(after, renamed)).toEqual({ name: "no_changes", sql: "", warnings: [], risks: [] });

      // Later, mail no longer unique and a new unique email: the DROP finds its index, the CREATE no old one in the way.
      const reused = customer(renamed, (c) =>
        c.name === "mail"
          ? [
              { ...c, unique: false },
              { ...c, name: "email", field: 32, nullable: true, default: null },
            ]
          : c,
      );
      const later = planMigration(after, reused);
      expect(later.sql).toBe(
        'DROP INDEX IF EXISTS "customer_mail_key";\n' +
          'ALTER TABLE "customer" ADD COLUMN "email" text;\n' +
          'CREATE UNIQUE INDEX "customer_email_key" ON "customer" ("email");\n',
      );
      await writeFile(join(migrations, `0005_${later.name}.sql`), later.sql);
      expect(await database.migrate()).toEqual([`0005_${later.name}`]);
      await record(recordedSchema(after, reused));
      await database.checkSchema();
      await sql`insert into customer (mail) values ('same@example.com'), ('same@example.com')`.execute(database.db);
    });
  });
}
