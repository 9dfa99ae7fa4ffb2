/**
 * `npm run migrate` (or `node dist/migrate.js` in the image): applies the
 * migrations in migrations/ that the database has not seen, then checks
 * the tables are those the code uses, and exits. A migration that fails, a
 * database it cannot reach or a table that does not match is one line on
 * stderr and exit status 1; nothing of a failed run is applied.
 */
import { isSetupError } from "@tsmicro/runtime";
import { databaseOptionsFrom, openDatabase } from "@tsmicro/runtime/database";

async function migrate(): Promise<void> {
  const database = await openDatabase(databaseOptionsFrom());
  try {
    const applied = await database.migrate();
    process.stdout.write(
      applied.length === 0 ? "migrations: up to date\n" : `migrations applied: ${applied.join(", ")}\n`,
    );
    // Up to date, yet a rename or type change tsmicro generate left to a hand-written migration may not be made.
    await database.checkSchema();
  } finally {
    await database.close();
  }
}

await migrate().catch((error: unknown) => {
  if (!isSetupError(error)) throw error;
  process.stderr.write(`migrate: ${error.message} (${error.code})\n`);
  process.exitCode = 1;
});
