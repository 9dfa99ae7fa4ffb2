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
