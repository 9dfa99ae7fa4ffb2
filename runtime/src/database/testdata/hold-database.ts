// Opens the PGlite database in argv[2], applies the migrations in argv[3],
// inserts a row, prints "ready" and holds the database until SIGTERM: the
// second process of the lock test runs the same script.
import { openDatabase } from "../index.js";

interface Db {
  notes: { id: string; body: string };
}

const [dataDir, migrationsDir] = process.argv.slice(2);
try {
  const database = await openDatabase<Db>({ dataDir, migrationsDir });
  await database.migrate();
  await database.db
    .insertInto("notes")
    .values({ id: String(process.pid), body: "kept" })
    .execute();
  process.once("SIGTERM", () => {
    void database.close().then(() => process.exit(0));
  });
  process.stdout.write("ready\n");
  setInterval(() => undefined, 1_000);
} catch (error) {
  process.stderr.write(`${(error as { code?: string }).code ?? "ERROR"}: ${(error as Error).message}\n`);
  process.exit(1);
}
