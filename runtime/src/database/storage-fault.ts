import { type Kysely, sql } from "kysely";
import { type OutOfRange, outOfRangeReason, outOfTimestampRange } from "./timestamp-range.js";

/**
 * What the database refused of the values a repository wrote, by column, in words a caller may
 * read: no PostgreSQL text and no value (values may be secret).
 */
export interface StorageFault {
  /**
   * `unique`: the values clash with a stored row's; `invalid`: the table cannot hold a value;
   * `dangling`: the values refer to a row of another table (a foreign key) that does not exist;
   * `referenced`: the row, or the values a write changes, are still referred to by rows of a table.
   */
  readonly kind: "unique" | "invalid" | "dangling" | "referenced";
  /**
   * The columns at fault, of the table written, as far as the database tells them; none when it
   * does not. For `dangling` the referring columns, for `referenced` the ones referred to.
   */
  readonly columns: readonly string[];
  /**
   * Why, said of the columns' fields: `is required`, `breaks the check member_adult`, `is longer
   * than the 8 characters its column holds`, `cannot be stored: …` for a value PostgreSQL cannot
   * hold at all (a NUL in text), `is too large for its index (…): shorten it` for a unique or
   * indexed field's value longer than an index entry holds, `is past year 9999, the last a google.protobuf.Timestamp holds`
   * for a Date no Timestamp holds, `names no row of authors`, `is still referred to by rows of books:
   * delete or change those first`. Empty for `unique`.
   */
  readonly reason: string;
  /** For `dangling` the table referred to, for `referenced` the one whose rows refer: when the database names it. */
  readonly table?: string;
}

/** The SQLSTATE of a PostgreSQL (or PGlite) error, and the names it gives with it. */
interface DatabaseError {
  readonly code: string;
  readonly column?: string;
  readonly constraint?: string;
  readonly detail?: string;
  /** The table of the constraint: for a foreign key, the referring one, whichever side was written. */
  readonly table?: string;
  readonly schema?: string;
}

/**
 * The fault in `values` (by column) that made the database refuse a write to `table` with
 * `error`, or undefined for an error the values did not cause (a lost connection, say). A check
 * or a `varchar(n)` is traced to its column by asking the database's catalogue, as PostgreSQL's
 * error does not name it; when that fails too, the fault names no column. `doing` words a
 * refused lookup (`looked up`) as `cannot be looked up: …`.
 */
export async function storageFault<DB>(
  db: Kysely<DB>,
  error: unknown,
  table: string,
  values: Readonly<Record<string, unknown>> = {},
  doing = "stored",
): Promise<StorageFault | undefined> {
  const fault = databaseErrorOf(error);
  if (!fault) return undefined;
  const invalid = (columns: readonly string[], reason: string): StorageFault => ({ kind: "invalid", columns, reason });
  switch (fault.code) {
    case "23505":
      return { kind: "unique", columns: uniqueColumns(fault.detail), reason: "" };
    case "23502":
      return invalid(fault.column === undefined ? [] : [fault.column], "is required");
    case "23514":
      return invalid(await checkedColumns(db, table, fault.constraint), `breaks the check ${fault.constraint}`);
    case "23503":
      return referenceFault(db, fault, table);
    case "22001": {
      const long = await tooLongColumn(db, table, values);
      return long
        ? invalid([long.column], `is longer than the ${long.max} characters its column holds`)
        : invalid([], `cannot be ${doing}: a value is too long for its column`);
    }
    case "54000": {
      const oversized = await oversizedColumns(db, table, values, fault.constraint);
      if (oversized.length > 0) return invalid(oversized, tooLargeToIndex);
      break;
    }
    case "22008": {
      // The database layer refuses a Date outside a Timestamp's years 1 to 9999 with this code, before sending it.
      const dated = outOfRangeColumns(values);
      if (dated) return invalid(dated.columns, outOfRangeReason[dated.range]);
      break;
    }
  }
  const refused = refusal(fault.code);
  if (refused === undefined) return undefined;
  const columns = fault.code === "22021" ? Object.keys(values).filter((c) => String(values[c]).includes("\0")) : [];
  return invalid(columns, `cannot be ${doing}: ${refused}`);
}

function databaseErrorOf(error: unknown): DatabaseError | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, column, constraint, detail, table, schema } = error as Record<string, unknown>;
  if (typeof code !== "string") return undefined;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    code,
    column: text(column),
    constraint: text(constraint),
    detail: text(detail),
    table: text(table),
    schema: text(schema),
  };
}

/**
 * Why PostgreSQL cannot hold a value at all: its data exceptions (class 22: a NUL character in
 * text, a number out of its type's range) and a value too large for its index (54000); undefined for others.
 */
function refusal(code: string): string | undefined {
  if (code === "22021") return "PostgreSQL's text holds no NUL character (0x00)";
  if (code === "54000") return `a value is too large for its index (${indexLimit})`;
  return code.startsWith("22") ? `PostgreSQL refused a value (SQLSTATE ${code})` : undefined;
}

/** What a btree index entry holds: 2,704 bytes on PostgreSQL's 8 kB pages, after compression. */
const indexLimit = "an index entry holds about 2,700 bytes";

/** Why a value of an indexed (or unique) column was refused, and what to do. */
const tooLargeToIndex = `is too large for its index (${indexLimit}): shorten it`;

/**
 * The columns of `table` whose value in `values` an index could not hold (a program_limit_exceeded):
 * of the index `index` when the database names it, else of any of the table's indexes (a value too
 * large for a page is refused before the btree names its index); text or bytes longer than an index
 * entry holds. When none is, the named index's columns; none when nothing tells.
 */
async function oversizedColumns<DB>(
  db: Kysely<DB>,
  table: string,
  values: Readonly<Record<string, unknown>>,
  index: string | undefined,
): Promise<string[]> {
  const found = await sql<{ column: string; index: string }>`
    SELECT a.attname AS column, c.relname AS index FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = to_regclass(quote_ident(${table})) ORDER BY a.attnum`
    .execute(db)
    .catch(() => undefined);
  const indexed = (found?.rows ?? []).filter((row) => index === undefined || row.index === index);
  const columns = [...new Set(indexed.map((row) => row.column))];
  const oversized = columns.filter((column) => byteLength(values[column]) > 2704);
  return oversized.length > 0 || index === undefined ? oversized : columns;
}

/** The bytes text (as UTF-8) or binary data takes; 0 for other values. */
function byteLength(value: unknown): number {
  if (typeof value === "string") return Buffer.byteLength(value);
  return value instanceof Uint8Array ? value.byteLength : 0;
}

/** The columns of `values` holding a Date outside a google.protobuf.Timestamp's span, all on the first one's side. */
function outOfRangeColumns(
  values: Readonly<Record<string, unknown>>,
): { columns: string[]; range: OutOfRange } | undefined {
  const ranges = Object.entries(values).flatMap(([column, value]) => {
    const range = outOfTimestampRange(value);
    return range ? [{ column, range }] : [];
  });
  const range = ranges[0]?.range;
  if (range === undefined) return undefined;
  return { columns: ranges.filter((r) => r.range === range).map((r) => r.column), range };
}

/** The columns of a unique_violation's detail, "Key (name)=(ann) already exists.", without the values. */
function uniqueColumns(detail: string | undefined): string[] {
  const key = /^Key \((.*?)\)=\(/.exec(detail ?? "")?.[1] ?? "";
  // An index on an expression, lower(name), names its columns inside it.
  return key.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
}

/**
 * A foreign_key_violation of a write to `table`, which PostgreSQL raises for both sides of a
 * reference: a row naming one that does not exist ("Key (author_id)=(7) is not present in table
 * "authors".") and a row others still name being deleted or its key changed ("Key (id)=(7) is
 * still referenced from table "books"."). The detail tells the side, the columns (without the
 * values) and the other table; when it cannot be read (translated messages, or a detail without
 * the key for a role that may not read the rows), the catalogue does, by the constraint; the side
 * is then told by the constraint's table, so a table referring to itself reads as a missing row.
 */
async function referenceFault<DB>(db: Kysely<DB>, fault: DatabaseError, table: string): Promise<StorageFault> {
  const detail = fault.detail ?? "";
  const said = /^Key (?:\((.*?)\)=\(.*)?is (not present in|still referenced from) table "(.*)"\.$/s.exec(detail);
  // The constraint belongs to the referring table: another than the one written is a referenced row.
  const referenced = said ? said[2] === "still referenced from" : fault.table !== undefined && fault.table !== table;
  let columns = said?.[1]?.split(", ") ?? [];
  let other = said?.[3] ?? (referenced ? fault.table : undefined);
  if (columns.length === 0 || other === undefined) {
    const found = await foreignKey(db, referenced ? fault : { ...fault, table, schema: undefined });
    if (columns.length === 0) columns = (referenced ? found?.referredColumns : found?.columns) ?? [];
    other ??= referenced ? found?.table : found?.referredTable;
  }
  const named = other === undefined ? {} : { table: other };
  if (referenced) {
    const by = other === undefined ? "other rows" : `rows of ${other}`;
    return {
      kind: "referenced",
      columns,
      reason: `is still referred to by ${by}: delete or change those first`,
      ...named,
    };
  }
  const reason = `${columns.length > 1 ? "name" : "names"} no row of ${other ?? "the table it refers to"}`;
  return { kind: "dangling", columns, reason, ...named };
}

/** A foreign key constraint as the catalogue has it: its table's columns and the table and columns they refer to. */
interface ForeignKey {
  readonly table: string;
  readonly columns: string[];
  readonly referredTable: string;
  readonly referredColumns: string[];
}

/** The foreign key `fault.constraint` of `fault.table` (in `fault.schema`, or as the search_path finds it). */
async function foreignKey<DB>(db: Kysely<DB>, fault: DatabaseError): Promise<ForeignKey | undefined> {
  if (fault.constraint === undefined || fault.table === undefined) return undefined;
  const relation =
    fault.schema === undefined
      ? sql`quote_ident(${fault.table})`
      : sql`quote_ident(${fault.schema}) || '.' || quote_ident(${fault.table})`;
  // conkey and confkey pair up by position: a key of several columns keeps its order on both sides.
  const found = await sql<ForeignKey>`
    SELECT t.relname AS "table", r.relname AS "referredTable",
      ARRAY(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
        JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n ORDER BY k.i)::text[] AS columns,
      ARRAY(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
        JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n ORDER BY k.i)::text[] AS "referredColumns"
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
    WHERE c.contype = 'f' AND c.conrelid = to_regclass(${relation}) AND c.conname = ${fault.constraint}`
    .execute(db)
    .catch(() => undefined);
  return found?.rows[0];
}

/** The columns a check constraint of `table` reads; none when they cannot be read. */
async function checkedColumns<DB>(db: Kysely<DB>, table: string, constraint: string | undefined): Promise<string[]> {
  if (constraint === undefined) return [];
  const found = await sql<{ column: string }>`
    SELECT a.attname AS column FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
    WHERE c.conrelid = to_regclass(quote_ident(${table})) AND c.conname = ${constraint} ORDER BY a.attnum`
    .execute(db)
    .catch(() => undefined);
  return found?.rows.map((row) => row.column) ?? [];
}

/** The column of `table` whose text in `values` is longer than its `varchar(n)`, and n; undefined when none is. */
async function tooLongColumn<DB>(
  db: Kysely<DB>,
  table: string,
  values: Readonly<Record<string, unknown>>,
): Promise<{ column: string; max: number } | undefined> {
  // The table as the write found it, through the search_path; a varchar(n)'s or char(n)'s typmod is n + 4.
  const limits = await sql<{ column: string; max: number }>`
    SELECT attname AS column, atttypmod - 4 AS max FROM pg_attribute
    WHERE attrelid = to_regclass(quote_ident(${table})) AND attnum > 0 AND NOT attisdropped
      AND atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND atttypmod > 4`
    .execute(db)
    .catch(() => undefined);
  return limits?.rows.find(({ column, max }) => {
    const value = values[column];
    return typeof value === "string" && [...value].length > max;
  });
}
