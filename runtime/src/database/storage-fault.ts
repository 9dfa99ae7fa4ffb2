import { type Kysely, sql } from "kysely";

/**
 * What the database refused of the values a repository wrote, by column, in words a caller may
 * read: no PostgreSQL text and no value (values may be secret).
 */
export interface StorageFault {
  /** `unique`: the values clash with a stored row's; `invalid`: the table cannot hold a value. */
  readonly kind: "unique" | "invalid";
  /** The columns at fault, as far as the database tells them; none when it does not. */
  readonly columns: readonly string[];
  /**
   * Why, said of the columns' fields: `is required`, `breaks the check member_adult`, `is longer
   * than the 8 characters its column holds`, `cannot be stored: …` for a value PostgreSQL cannot
   * hold at all (a NUL in text). Empty for `unique`.
   */
  readonly reason: string;
}

/** The SQLSTATE of a PostgreSQL (or PGlite) error, and the names it gives with it. */
interface DatabaseError {
  readonly code: string;
  readonly column?: string;
  readonly constraint?: string;
  readonly detail?: string;
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
    case "22001": {
      const long = await tooLongColumn(db, table, values);
      return long
        ? invalid([long.column], `is longer than the ${long.max} characters its column holds`)
        : invalid([], `cannot be ${doing}: a value is too long for its column`);
    }
  }
  const refused = refusal(fault.code);
  if (refused === undefined) return undefined;
  const columns = fault.code === "22021" ? Object.keys(values).filter((c) => String(values[c]).includes("\0")) : [];
  return invalid(columns, `cannot be ${doing}: ${refused}`);
}

function databaseErrorOf(error: unknown): DatabaseError | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, column, constraint, detail } = error as Record<string, unknown>;
  if (typeof code !== "string") return undefined;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return { code, column: text(column), constraint: text(constraint), detail: text(detail) };
}

/**
 * Why PostgreSQL cannot hold a value at all: its data exceptions (class 22: a NUL character in
 * text, a date past year 9999) and a value too large for its index (54000); undefined for others.
 */
function refusal(code: string): string | undefined {
  if (code === "22021") return "PostgreSQL's text holds no NUL character (0x00)";
  if (code === "54000") return "a value is too large for its index";
  return code.startsWith("22") ? `PostgreSQL refused a value (SQLSTATE ${code})` : undefined;
}

/** The columns of a unique_violation's detail, "Key (name)=(ann) already exists.", without the values. */
function uniqueColumns(detail: string | undefined): string[] {
  const key = /^Key \((.*?)\)=\(/.exec(detail ?? "")?.[1] ?? "";
  // An index on an expression, lower(name), names its columns inside it.
  return key.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
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
