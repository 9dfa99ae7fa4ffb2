import { randomBytes } from "node:crypto";
import { SetupError } from "../errors/setup-error.js";
import { sql } from "kysely";
import { type Database, describeUrl, errorText, openDatabase, withoutSecrets } from "./database.js";

/** Options of openTestDatabase. */
export interface TestDatabaseOptions {
  /** A PostgreSQL server to test on (a database of its own is made there); embedded PGlite in memory without. */
  readonly url?: string | undefined;
  readonly migrationsDir?: string;
}

/**
 * A migrated database for tests: embedded PGlite in memory, or, given a PostgreSQL URL, a
 * database of its own on that server (`tsmicro_test_<random>`), created empty and dropped on
 * close. Tests on PostgreSQL so never see the rows of the database the URL names, nor leave
 * rows there, and test files running at once do not see each other's. The URL's role needs
 * CREATEDB; without it this fails saying so.
 */
export async function openTestDatabase<DB>(options: TestDatabaseOptions = {}): Promise<Database<DB>> {
  const migrationsDir = options.migrationsDir === undefined ? {} : { migrationsDir: options.migrationsDir };
  if (!options.url) return migrated(await openDatabase<DB>({ dataDir: "memory://", ...migrationsDir }));
  const url = options.url;
  const name = `tsmicro_test_${randomBytes(6).toString("hex")}`;
  // The database the URL names, only to create and drop the test database from.
  const admin = await openDatabase({ url, ...migrationsDir });
  try {
    await sql.raw(`CREATE DATABASE ${name}`).execute(admin.db);
  } catch (error) {
    await admin.close();
    throw new SetupError("TSM_ERR_TEST_DATABASE", name, describeUrl(url), withoutSecrets(errorText(error), url));
  }
  const drop = async () => {
    try {
      await sql.raw(`DROP DATABASE IF EXISTS ${name}`).execute(admin.db);
    } finally {
      await admin.close();
    }
  };
  let database: Database<DB>;
  try {
    database = await migrated(await openDatabase<DB>({ url: withDatabase(url, name), ...migrationsDir }));
  } catch (error) {
    await drop();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    ...database,
    close: () => {
      closed ??= database.close().finally(drop);
      return closed;
    },
  };
}

async function migrated<DB>(database: Database<DB>): Promise<Database<DB>> {
  try {
    await database.migrate();
    // A column the code uses that no migration makes (a field renamed, no migration written) fails here,
    // as the service's start does, naming it: not as the database's text in the first test touching it.
    await database.checkSchema();
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** `url` naming database `name` instead of its own. */
function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}
