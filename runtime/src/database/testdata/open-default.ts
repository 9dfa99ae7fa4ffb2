// Opens the database as a scaffolded service would (options from flags and
// variables) and prints its kind: the test runs it with one driver package
// made unloadable, to show the other backend never loads it.
import { databaseOptionsFrom, openDatabase } from "../index.js";

try {
  const database = await openDatabase(databaseOptionsFrom());
  process.stdout.write(`${database.kind}\n`);
  await database.close();
} catch (error) {
  process.stderr.write(`${(error as { code?: string }).code ?? "ERROR"}: ${(error as Error).message}\n`);
  process.exit(1);
}
