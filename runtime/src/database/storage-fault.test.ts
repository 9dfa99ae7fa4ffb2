import { randomBytes } from "node:crypto";
import { type Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "./database.js";
import { storageFault } from "./storage-fault.js";

// Foreign keys a user's migration adds, on embedded PGlite: what storageFault makes of PostgreSQL's
// foreign_key_violation on both sides of a reference. test/scaffold-data.test.ts runs the
// scaffolded repository on it, on PGlite and on a real PostgreSQL.

let database: Database<unknown>;
let db: Kysely<unknown>;

beforeAll(async () => {
  database = await openDatabase({ dataDir: "memory://" });
  db = database.db;
  for (const statement of [
    "CREATE TABLE author (id integer PRIMARY KEY, pen_name text UNIQUE)",
    "CREATE TABLE book (id integer PRIMARY KEY, author_id integer REFERENCES author (id), pen_name text REFERENCES author (pen_name) ON UPDATE NO ACTION)",
    "CREATE TABLE shelf (room text, place integer, PRIMARY KEY (room, place))",
    "CREATE TABLE copy (id integer PRIMARY KEY, shelf_room text, shelf_place integer, FOREIGN KEY (shelf_room, shelf_place) REFERENCES shelf (room, place))",
    "INSERT INTO author VALUES (1, 'ann'), (2, 'bob')",
    "INSERT INTO book VALUES (1, 1, 'ann')",
    "INSERT INTO shelf VALUES ('attic', 3)",
    "CREATE TABLE visit (id integer PRIMARY KEY, arrive_time timestamptz, leave_time timestamptz)",
    "CREATE TABLE label (id integer PRIMARY KEY, name text, note text, code bytea)",
    "CREATE UNIQUE INDEX label_name_key ON label (name)",
    "CREATE INDEX label_code_idx ON label (code)",
  ])
    await sql.raw(statement).execute(db);
}, 60_000);

afterAll(async () => {
  await database?.close();
});

/** The error the database raises for `statement`. */
async function refusal(statement: string): Promise<unknown> {
  return sql
    .raw(statement)
    .execute(db)
    .then(
      () => expect.fail(`${statement} was not refused`),
      (error: unknown) => error,
    );
}

describe("storageFault, given a foreign key violation", () => {
  it("names the referring column and the table it names no row of, not the value", async () => {
    const error = await refusal("INSERT INTO book (id, author_id) VALUES (2, 7654321)");
    const fault = await storageFault(db, error, "book", { id: 2, author_id: 7654321 });
    expect(fault).toEqual({
      kind: "dangling",
      columns: ["author_id"],
      reason: "names no row of author",
      table: "author",
    });
    expect(JSON.stringify(fault)).not.toContain("7654321");
  });

  it("names every column of a key of several, in the key's order", async () => {
    const error = await refusal("INSERT INTO copy VALUES (1, 'cellar', 9)");
    expect(await storageFault(db, error, "copy")).toEqual({
      kind: "dangling",
      columns: ["shelf_room", "shelf_place"],
      reason: "name no row of shelf",
      table: "shelf",
    });
  });

  it("says a deleted row is still referred to, by which table, and what to do", async () => {
    const error = await refusal("DELETE FROM author WHERE id = 1");
    expect(await storageFault(db, error, "author", { id: 1 }, "looked up")).toEqual({
      kind: "referenced",
      columns: ["id"],
      reason: "is still referred to by rows of book: delete or change those first",
      table: "book",
    });
  });

  it("names the changed column that rows still refer to on an update", async () => {
    const error = await refusal("UPDATE author SET pen_name = 'anne' WHERE id = 1");
    expect(await storageFault(db, error, "author")).toMatchObject({ kind: "referenced", columns: ["pen_name"] });
  });

  it("reads the columns and tables from the catalogue when the detail says nothing of them", async () => {
    const withoutDetail = (error: unknown) => ({ ...(error as object), detail: undefined, message: "" });
    const dangling = withoutDetail(await refusal("INSERT INTO copy VALUES (2, 'cellar', 9)"));
    expect(await storageFault(db, dangling, "copy")).toEqual({
      kind: "dangling",
      columns: ["shelf_room", "shelf_place"],
      reason: "name no row of shelf",
      table: "shelf",
    });
    const referenced = withoutDetail(await refusal("DELETE FROM author WHERE id = 1"));
    expect(await storageFault(db, referenced, "author")).toEqual({
      kind: "referenced",
      columns: ["id"],
      reason: "is still referred to by rows of book: delete or change those first",
      table: "book",
    });
  });

  it("still says which side of the reference when neither the detail nor the catalogue names anything", async () => {
    const bare = { code: "23503", constraint: "gone" };
    expect(await storageFault(db, bare, "book")).toEqual({
      kind: "dangling",
      columns: [],
      reason: "names no row of the table it refers to",
    });
    expect(await storageFault(db, { ...bare, table: "book" }, "author")).toMatchObject({
      kind: "referenced",
      columns: [],
      reason: "is still referred to by rows of book: delete or change those first",
    });
  });
});

/** Year `year` (any, 0 for 1 BC) at `time` UTC, which `new Date("0000-…")` and Date.UTC would misread below 100. */
function inYear(year: number, time = "00:00:00.000Z"): Date {
  const date = new Date(`2000-01-01T${time}`);
  date.setUTCFullYear(year);
  return date;
}

describe("storageFault, given a Date no google.protobuf.Timestamp holds", () => {
  /** What writing `values` to visit fails with, and storageFault's reading of it. */
  async function written(values: { id: number; arrive_time: Date; leave_time?: Date }) {
    const error = await db
      .withTables<{ visit: { id: number; arrive_time: Date; leave_time: Date | null } }>()
      .insertInto("visit")
      .values(values)
      .execute()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    return { error, fault: await storageFault(db, error, "visit", values) };
  }

  it("names the column past year 9999 or before year 1, not the value, refused before it is sent", async () => {
    const past = await written({ id: 1, arrive_time: inYear(10000) });
    expect(past.error).toMatchObject({ code: "22008" });
    expect(past.fault).toEqual({
      kind: "invalid",
      columns: ["arrive_time"],
      reason: "is past year 9999, the last a google.protobuf.Timestamp holds",
    });
    expect(JSON.stringify(past.fault)).not.toContain("10000");
    const before = await written({ id: 2, arrive_time: inYear(2000), leave_time: inYear(0, "23:59:59.999Z") });
    expect(before.fault).toEqual({
      kind: "invalid",
      columns: ["leave_time"],
      reason: "is before year 1, the first a google.protobuf.Timestamp holds",
    });
    const invalid = await written({ id: 3, arrive_time: new Date(Number.NaN) });
    expect(invalid.fault).toMatchObject({ columns: ["arrive_time"], reason: expect.stringMatching(/years 1 to 9999/) });
  });

  it("stores the first and the last instant a Timestamp holds, as they were", async () => {
    const first = new Date("0001-01-01T00:00:00.000Z");
    const last = new Date("9999-12-31T23:59:59.999Z");
    expect((await written({ id: 4, arrive_time: first, leave_time: last })).error).toBeUndefined();
    const { rows } = await sql<{ arrive_time: Date; leave_time: Date }>`SELECT * FROM visit WHERE id = 4`.execute(db);
    expect(rows[0]).toMatchObject({ arrive_time: first, leave_time: last });
  });
});

describe("storageFault, given a value too large for its index", () => {
  /** What inserting `values` into label fails with, and storageFault's reading of it. */
  async function written(values: { id: number; name?: string; note?: string; code?: Uint8Array }) {
    const error = await db
      .withTables<{ label: { id: number; name: string | null; note: string | null; code: Uint8Array | null } }>()
      .insertInto("label")
      .values(values)
      .execute()
      .then(
        () => expect.fail("the insert was not refused"),
        (e: unknown) => e,
      );
    return { error, fault: await storageFault(db, error, "label", values) };
  }
  // Random text, which compression does not shrink below the limit.
  const text = (bytes: number) => randomBytes((bytes * 3) / 4).toString("base64");
  const reason = "is too large for its index (an index entry holds about 2,700 bytes): shorten it";

  it("names the unique field, the limit and what to do, not the value, as the btree names its index", async () => {
    const name = text(3_200);
    const { error, fault } = await written({ id: 1, name, note: text(4_000) });
    expect(error).toMatchObject({ code: "54000", constraint: "label_name_key" });
    expect(fault).toEqual({ kind: "invalid", columns: ["name"], reason });
    expect(JSON.stringify(fault)).not.toContain(name.slice(0, 40));
  });

  it("finds the field among the table's indexed ones when a value too large for a page names no index", async () => {
    const { error, fault } = await written({ id: 2, name: text(9_600), note: text(9_600) });
    expect(error).toMatchObject({ code: "54000", constraint: undefined });
    expect(fault).toEqual({ kind: "invalid", columns: ["name"], reason });
    expect((await written({ id: 3, code: randomBytes(12_000) })).fault).toEqual({
      kind: "invalid",
      columns: ["code"],
      reason,
    });
  });

  it("says the limit, naming no field, when nothing tells which", async () => {
    expect(await storageFault(db, { code: "54000" }, "label", { id: 4 })).toEqual({
      kind: "invalid",
      columns: [],
      reason: "cannot be stored: a value is too large for its index (an index entry holds about 2,700 bytes)",
    });
  });
});
