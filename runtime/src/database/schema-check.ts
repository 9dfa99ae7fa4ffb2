import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Kysely, sql } from "kysely";
import { SetupError } from "../errors/setup-error.js";

/** What `tsmicro generate` recorded of a table in `migrations/schema.json` that this check reads. */
interface RecordedTable {
  readonly name: string;
  readonly message: string;
  readonly retained?: true;
  readonly columns: readonly {
    readonly name: string;
    readonly field: number;
    readonly type: string;
    readonly nullable: boolean;
    readonly retained?: true;
  }[];
}

/** information_schema's data_type of each column type tsmicro's migrations create. */
const dataTypes: Record<string, string> = {
  text: "text",
  boolean: "boolean",
  integer: "integer",
  bigint: "bigint",
  "numeric(20,0)": "numeric",
  real: "real",
  "double precision": "double precision",
  bytea: "bytea",
  timestamptz: "timestamp with time zone",
  jsonb: "jsonb",
};

/**
 * Compares the tables the generated code reads and writes (as `tsmicro
 * generate` recorded them in the migrations folder's `schema.json`) with
 * the database's: a column missing, of another type, or NOT NULL for an
 * optional field means a change the generator left to a hand-written
 * migration (a renamed column, a new type) was not made, or one it wrote
 * was not applied, and calls touching the table would fail. Fails
 * with TSM_ERR_SCHEMA_MISMATCH naming each column; without a schema.json
 * (a project not made by tsmicro) there is nothing to compare.
 */
export async function checkSchema<DB>(db: Kysely<DB>, migrationsDir: string): Promise<void> {
  const recordFile = join(migrationsDir, "schema.json");
  let text: string;
  try {
    text = await readFile(recordFile, "utf8");
  } catch {
    return;
  }
  let tables: readonly RecordedTable[];
  try {
    // As bin/cli/project-migrations.ts writes it: { "x-generated-by": …, "schema": { "version": 1, "tables": […] } }.
    tables = (JSON.parse(text) as { schema?: { tables?: RecordedTable[] } }).schema?.tables ?? [];
  } catch (error) {
    throw new SetupError(
      "TSM_ERR_MIGRATIONS_DIR",
      migrationsDir,
      `schema.json is not valid JSON (${String(error)}); run npx tsmicro generate to write it again`,
    );
  }
  const problems: string[] = [];
  for (const table of tables) {
    if (table.retained) continue;
    const { rows } = await sql<{ column_name: string; data_type: string; is_nullable: "YES" | "NO" }>`
      select column_name, data_type, is_nullable from information_schema.columns
      where table_schema = current_schema() and table_name = ${table.name}`.execute(db);
    const actual = new Map(rows.map((row) => [row.column_name, row]));
    if (actual.size === 0) {
      problems.push(`table "${table.name}" (${table.message}) does not exist`);
      continue;
    }
    for (const column of table.columns) {
      if (column.retained) continue;
      const found = actual.get(column.name);
      const wanted = dataTypes[column.type] ?? column.type;
      const field = `field ${column.field} of ${table.message}`;
      const quoted = `"${table.name}"."${column.name}"`;
      if (found === undefined)
        problems.push(`"${table.name}" has no column "${column.name}" (${column.type}, ${field})`);
      else if (found.data_type !== wanted)
        problems.push(`${quoted} is ${found.data_type}, not ${column.type} (${field})`);
      // The other way (NULL allowed, the field no longer optional) fails only on rows holding NULL,
      // which tsmicro generate warned of; new rows always fill the column.
      else if (column.nullable && found.is_nullable === "NO")
        problems.push(`${quoted} is NOT NULL, but ${field} is optional: saving it unset would fail (DROP NOT NULL)`);
    }
  }
  if (problems.length > 0) throw new SetupError("TSM_ERR_SCHEMA_MISMATCH", problems.join("; "), migrationsDir);
}
