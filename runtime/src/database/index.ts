/**
 * `@tsmicro/runtime/database`: the SQL database of scaffolded repositories,
 * Kysely on embedded PGlite by default or PostgreSQL by URL. A subpath of
 * its own so services without a database load none of it.
 */
export { openDatabase, type Database } from "./database.js";
export { databaseOptionsFrom, type DatabaseOptions } from "./database-options.js";
export { openTestDatabase, type TestDatabaseOptions } from "./test-database.js";
export { storageFault, type StorageFault } from "./storage-fault.js";
