import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { isSetupError, SetupError } from "../errors/setup-error.js";
import { lineAt, splitSql } from "./split-sql.js";

const migrationFile = /^\d+_[\w.-]+\.sql$/;

/**
 * A Kysely MigrationProvider over a folder of `NNNN_name.sql` files, named
 * by file name without `.sql`. Each file's statements run one by one (PGlite
 * prepares one statement at a time), so a failure names the file, the line
 * and the statement; Kysely's Migrator runs them in one transaction.
 */
export class SqlFolderMigrations implements MigrationProvider {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : String(error);
      throw new SetupError("TSM_ERR_MIGRATIONS_DIR", this.dir, `${reason}; create it or set --migrations_dir`);
    }
    const migrations: Record<string, Migration> = {};
    for (const name of names.filter((n) => n.endsWith(".sql")).sort()) {
      if (!migrationFile.test(name)) {
        throw new SetupError(
          "TSM_ERR_MIGRATIONS_DIR",
          this.dir,
          `${name} is not named NNNN_name.sql (such as 0001_create_users.sql), so its order is unclear`,
        );
      }
      const path = join(this.dir, name);
      migrations[name.slice(0, -".sql".length)] = { up: (db) => runSqlFile(db, path) };
    }
    return migrations;
  }
}

async function runSqlFile(db: Kysely<unknown>, path: string): Promise<void> {
  const source = await readFile(path, "utf8");
  for (const statement of splitSql(source)) {
    try {
      await sql.raw(statement.text).execute(db);
    } catch (error) {
      if (isSetupError(error)) throw error;
      // Postgres gives a syntax error's character position within the statement.
      const position = Number((error as { position?: unknown }).position);
      const line = position > 0 ? statement.line + lineAt(statement.text, position - 1) - 1 : statement.line;
      throw new SetupError("TSM_ERR_MIGRATION", path, line, quoteStatement(statement.text), errorMessage(error));
    }
  }
}

function quoteStatement(text: string): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > 80 ? `${flat.slice(0, 77)}...` : flat;
}

/**
 * The database's message, with PostgreSQL's detail when it gives one (`Key (email)=() is duplicated.`), less
 * the detail's closing full stop: TSM_ERR_MIGRATION's "; no migration of this run was applied" follows it.
 */
function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = (error as { detail?: unknown }).detail;
  return typeof detail === "string" && detail !== "" ? `${error.message}: ${detail.replace(/\.$/, "")}` : error.message;
}
