import { AsyncResource } from "node:async_hooks";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Kysely, Migrator, PostgresDialect, type PostgresPool } from "kysely";
import type { Logger } from "../logging/logger.js";
import { isSetupError, SetupError } from "../errors/setup-error.js";
import { longestTimerMs } from "../platform/timer-delay.js";
import { lockDataDir } from "./data-dir-lock.js";
import { NoCursor } from "./no-cursor.js";
import { busyVerdictMs, outageAwarePool } from "./outage-aware-pool.js";
import { OutageLog } from "./outage-log.js";
import { defaultDataDir, defaultMigrationsDir, type DatabaseOptions } from "./database-options.js";
import { PGliteDialect } from "./pglite-dialect.js";
import { checkSchema } from "./schema-check.js";
import { SqlFolderMigrations } from "./sql-migrations.js";
import { timestampRangeChecked } from "./timestamp-range.js";
import { pgliteParsers, pgTypes } from "./type-parsers.js";

/** An open database: the Kysely instance repositories use, and its lifecycle. */
export interface Database<DB> {
  readonly db: Kysely<DB>;
  readonly kind: "pglite" | "postgres";
  /** Applies the migrations not yet applied, in one transaction; returns their names. */
  migrate(): Promise<readonly string[]>;
  /** The migrations of the folder the database has not seen (none applied), in order. */
  pending(): Promise<readonly string[]>;
  /**
   * Fails with TSM_ERR_SCHEMA_MISMATCH when a table or column the generated
   * code uses (as the migrations folder's schema.json records) is missing
   * or of another type: a rename or type change left to a migration that
   * was not written. Call it once migrations ran.
   */
  checkSchema(): Promise<void>;
  /** Closes the pool or PGlite, and releases the data directory lock. */
  close(): Promise<void>;
}

const memoryDataDir = "memory://";
/** How long a connect waits for a new or a pooled connection when the URL sets no connect_timeout. */
const defaultConnectTimeoutMs = 10_000;
/** How many connections the pool keeps at most when the URL sets no pool_max_conns: pg's own default. */
const defaultPoolSize = 10;

/**
 * Opens PostgreSQL when `url` is set, else embedded PGlite in `dataDir`
 * (locked to this process). Either way, fails now with a SetupError
 * rather than at the first query.
 */
export async function openDatabase<DB>(options: DatabaseOptions = {}): Promise<Database<DB>> {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir;
  if (options.url) return openPostgres<DB>(options.url, migrationsDir, options.logger);
  return openPGlite<DB>(options.dataDir || defaultDataDir, migrationsDir, options.logger);
}

async function openPGlite<DB>(dataDir: string, migrationsDir: string, logger?: Logger): Promise<Database<DB>> {
  const { PGlite } = await importPackage<typeof import("@electric-sql/pglite")>("@electric-sql/pglite", "embedded");
  const inMemory = dataDir.startsWith(memoryDataDir);
  const lock = inMemory ? undefined : await lockDataDir(dataDir);
  // An exit without close() (a crash, process.exit) still removes the lock.
  const onExit = () => lock?.releaseSync();
  if (lock) process.once("exit", onExit);
  try {
    // The first start creates the database, which takes seconds with nothing else to show.
    if (!inMemory && !existsSync(join(dataDir, "PG_VERSION")))
      logger?.info(
        { database: "pglite", dataDir },
        "creating the embedded database (first start only: seconds, up to a minute on a busy machine)",
      );
    const pglite = await PGlite.create(dataDir, { parsers: pgliteParsers() });
    const db = new Kysely<DB>({ dialect: timestampRangeChecked(new PGliteDialect(pglite)) });
    logger?.info({ database: "pglite", dataDir }, "database opened");
    return database(db, "pglite", migrationsDir, logger, async () => {
      await db.destroy();
      process.removeListener("exit", onExit);
      await lock?.release();
    });
  } catch (error) {
    process.removeListener("exit", onExit);
    await lock?.release();
    throw error;
  }
}

async function openPostgres<DB>(url: string, migrationsDir: string, logger?: Logger): Promise<Database<DB>> {
  const where = describeUrl(url);
  const connectTimeoutMs = connectTimeoutOf(url, where);
  const poolSize = poolSizeOf(url, where);
  const pg = (await importPackage<{ default: typeof import("pg") }>("pg", "PostgreSQL")).default;
  const connecting = new Set<object>();
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    max: poolSize,
    types: pgTypes(pg.types),
    Client: countingConnects(pg.Client, connecting),
  });
  // An idle client's error (the server restarted) would otherwise crash the process; the next query reconnects.
  // It comes from the socket, in the context of the call that opened the connection: bound here, its line
  // carries no trace_id of that unrelated call.
  const outages = new OutageLog(where, logger, busyVerdictMs(connectTimeoutMs));
  pool.on(
    "error",
    AsyncResource.bind((error: Error) => outages.idleLost(withoutSecrets(serverErrorText(error), url))),
  );
  // pg-pool listens to a client's errors only while it is idle; node-postgres emits the socket error of one in use
  // (a connection cut under a query) on the client too, and nobody listening would make it an uncaught exception
  // that ends the process. The query in flight fails with it anyway, and a later one with "not queryable".
  pool.on("connect", (client) => client.on("error", ignoreInUseClientError));
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new SetupError(
      "TSM_ERR_DATABASE_UNREACHABLE",
      where,
      withoutSecrets(errorText(error, connectTimeoutMs), url),
    );
  }
  const watched = outageAwarePool(pool, {
    where,
    describe: (error) => withoutSecrets(errorText(error, connectTimeoutMs), url),
    outages,
    connectTimeoutMs,
    connecting: () => connecting.size,
  });
  // node-postgres would store year 10000, which PGlite refuses: both refuse it, before sending, as no Timestamp holds it.
  const ending = { ...watched, end: () => endPool(watched, connecting) };
  const db = new Kysely<DB>({
    dialect: timestampRangeChecked(new PostgresDialect({ pool: ending, cursor: NoCursor })),
  });
  logger?.info({ database: "postgres", address: where }, "database opened");
  return database(db, "postgres", migrationsDir, logger, () => db.destroy());
}

/**
 * Ends the pool without waiting for the connections still being made: pg-pool's end waits for each,
 * and a server that does not take them (frozen, a dead link) held the close, and the process, up to
 * connect_timeout (for ever with 0). Nothing will use them now; their sockets closed, pg-pool drops them.
 */
function endPool(pool: PostgresPool, connecting: ReadonlySet<object>): Promise<void> {
  const ended = pool.end();
  for (const client of connecting) (client as Connecting).connection?.stream?.destroy?.();
  return ended;
}

/** What endPool uses of a pg Client being connected: its socket. */
interface Connecting {
  readonly connection?: { readonly stream?: { destroy?: () => unknown } };
}

/** See openPostgres: the error reaches the client's queries, and pg-pool drops the client when it is released. */
function ignoreInUseClientError(): void {}

/** pg's Client class as pg-pool makes its connections with it (the Pool's `Client` option). */
type ClientClass = typeof import("pg").Client;
type PgClient = InstanceType<ClientClass>;

/**
 * `Client` (pg's) with the connections being made with it, from asking the server until it took
 * them or they failed, in `connecting`: a pool slot whose connection the server has not taken tells
 * a server that stopped taking connections from one whose connections all run queries. pg-pool's
 * public counts do not tell them apart (it counts a connection being made as one of its clients).
 */
function countingConnects(Client: ClientClass, connecting: Set<object>): ClientClass {
  return class extends Client {
    override connect(): Promise<PgClient>;
    override connect(callback: (error: Error | null, client?: PgClient) => void): void;
    override connect(callback?: (error: Error | null, client?: PgClient) => void): Promise<PgClient> | undefined {
      if (!callback) return super.connect();
      // pg-pool connects each client once, with a callback, which pg always calls: on a failure or pg-pool's timeout too.
      connecting.add(this);
      super.connect((error: Error | null, client?: PgClient) => {
        connecting.delete(this);
        callback(error, client);
      });
      return undefined;
    }
  } as ClientClass;
}

function database<DB>(
  db: Kysely<DB>,
  kind: Database<DB>["kind"],
  migrationsDir: string,
  logger: Logger | undefined,
  close: () => Promise<void>,
): Database<DB> {
  let closed: Promise<void> | undefined;
  return {
    db,
    kind,
    migrate: () => migrate(db, migrationsDir, logger),
    pending: () => pending(db, migrationsDir),
    checkSchema: () => checkSchemaMigrated(db, migrationsDir),
    close: () => (closed ??= close()),
  };
}

/**
 * checkSchema, where a mismatch with migrations not yet applied is those migrations' to mend:
 * TSM_ERR_MIGRATIONS_PENDING names them, rather than asking for one written by hand.
 */
async function checkSchemaMigrated<DB>(db: Kysely<DB>, migrationsDir: string): Promise<void> {
  try {
    await checkSchema(db, migrationsDir);
  } catch (error) {
    const waiting = await pending(db, migrationsDir).catch(() => []);
    if (waiting.length === 0) throw error;
    throw new SetupError("TSM_ERR_MIGRATIONS_PENDING", String(waiting.length), waiting.join(", "));
  }
}

async function pending<DB>(db: Kysely<DB>, migrationsDir: string): Promise<readonly string[]> {
  const migrator = new Migrator({ db, provider: new SqlFolderMigrations(migrationsDir) });
  const all = await migrator.getMigrations();
  return all.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}

async function migrate<DB>(db: Kysely<DB>, migrationsDir: string, logger?: Logger): Promise<readonly string[]> {
  const migrator = new Migrator({ db, provider: new SqlFolderMigrations(migrationsDir) });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    if (isSetupError(error)) throw error;
    // Not a statement of a file: Kysely refused the folder against its table (a file applied earlier is gone, or out of order).
    throw new SetupError("TSM_ERR_MIGRATIONS_DIR", migrationsDir, folderMismatch(errorText(error)));
  }
  const applied = results.filter((r) => r.status === "Success").map((r) => r.migrationName);
  for (const name of applied) logger?.info({ migration: name }, "migration applied");
  return applied;
}

/**
 * Kysely's "corrupted migrations: previously executed migration 0001_x is missing" as its two
 * causes: the file was deleted or renamed, or the database is another service's too (two
 * services of a workspace given one DATABASE_URL share one migrations table).
 */
function folderMismatch(text: string): string {
  const missing = /previously executed migration (\S+) is missing/.exec(text)?.[1];
  if (missing === undefined) return text;
  return (
    `the database has applied migration ${missing}, which is not in this folder: a file applied before was ` +
    "deleted or renamed (put it back), or another service migrates the same database (give each service a " +
    "database of its own, such as its own DATABASE_URL)"
  );
}

/**
 * The URL's `connect_timeout` in milliseconds, read as libpq reads it (whole seconds; 0 or less:
 * no limit; 1: 2; past what a timer keeps, about 24.8 days: no limit), else 10 s: how long a connect waits for the server to take a new connection, or
 * for one of a full pool's connections to come free. node-postgres alone ignores it.
 */
function connectTimeoutOf(url: string, where: string): number {
  const value = new URL(url).searchParams.get("connect_timeout");
  if (value === null || value.trim() === "") return defaultConnectTimeoutMs;
  if (!/^\s*[-+]?\d+\s*$/.test(value))
    throw new SetupError(
      "TSM_ERR_DATABASE_URL",
      where,
      `connect_timeout=${value} is not a whole number of seconds (0 for no limit)`,
    );
  const seconds = Number.parseInt(value, 10);
  // Longer than a timer keeps (about 24.8 days) is no limit too: pg-pool's timer would fire at once.
  if (seconds <= 0 || seconds * 1000 > longestTimerMs) return 0;
  return Math.max(2, seconds) * 1000;
}

/**
 * The URL's `pool_max_conns` (pgx's name for it), else pg's 10: how many connections the pool
 * keeps to the server at most. A whole number, 1 or more. node-postgres does not send it to the
 * server (it passes on only the parameters it knows), so the server does not refuse it.
 */
function poolSizeOf(url: string, where: string): number {
  const value = new URL(url).searchParams.get("pool_max_conns");
  if (value === null || value.trim() === "") return defaultPoolSize;
  if (!/^\s*\+?\d+\s*$/.test(value) || Number.parseInt(value, 10) < 1)
    throw new SetupError(
      "TSM_ERR_DATABASE_URL",
      where,
      `pool_max_conns=${value} is not a whole number of connections, 1 or more (the pool's size; default ${defaultPoolSize})`,
    );
  return Number.parseInt(value, 10);
}

/** `host:port/database` of a PostgreSQL URL, never its password. */
export function describeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SetupError("TSM_ERR_DATABASE_URL", "(not shown: it may hold a password)", "not a URL");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new SetupError("TSM_ERR_DATABASE_URL", `${parsed.protocol}//…`, "the scheme must be postgres:");
  }
  const host = parsed.hostname || parsed.searchParams.get("host") || "localhost";
  return `${host}:${parsed.port || "5432"}${parsed.pathname.length > 1 ? parsed.pathname : ""}`;
}

export function withoutSecrets(text: string, url: string): string {
  const password = (() => {
    try {
      return decodeURIComponent(new URL(url).password);
    } catch {
      return "";
    }
  })();
  return password ? text.split(password).join("***") : text;
}

/** Loads an optional peer dependency only when its backend is chosen. */
async function importPackage<T>(name: string, kind: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" && String(error).includes(name)) {
      throw new SetupError("TSM_ERR_DATABASE_PACKAGE", kind, name, name);
    }
    throw error;
  }
}

/**
 * errorText with the SQLSTATE PostgreSQL sent, if any: "terminating connection due to
 * administrator command (SQLSTATE 57P01)". Never the error itself, which carries pg's Client.
 */
function serverErrorText(error: unknown): string {
  // Only the server's errors have a severity; a socket's code (EPIPE) is no SQLSTATE.
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  const text = errorText(error);
  return typeof code === "string" && typeof severity === "string" ? `${text} (SQLSTATE ${code})` : text;
}

export function errorText(error: unknown, connectTimeoutMs = defaultConnectTimeoutMs): string {
  if (error instanceof AggregateError && error.errors.length > 0)
    return error.errors.map((each) => errorText(each, connectTimeoutMs)).join("; ");
  // node-postgres's words for a server that accepted the connection and said nothing (frozen, a dead link).
  if (error instanceof Error && error.message === "Connection terminated due to connection timeout")
    return `no answer within ${connectTimeoutMs / 1000} s; is it running and reachable?`;
  if (error instanceof Error) return withMeaning(error.message) || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

/**
 * A socket failure's text with what it means for a database server (`connect ECONNREFUSED
 * 127.0.0.1:5432: nothing listens there (is PostgreSQL running, on that port?)`), as the etcd
 * registry's are worded; a name that does not resolve said so in words; other text as it is.
 */
function withMeaning(text: string): string {
  const unresolved = /getaddrinfo (ENOTFOUND|EAI_AGAIN) (\S+)/.exec(text);
  if (unresolved)
    return unresolved[1] === "ENOTFOUND"
      ? `the name ${unresolved[2]} does not resolve`
      : `the name ${unresolved[2]} could not be resolved now (no answer from DNS)`;
  const socket = /^(?:connect|read|write) (E[A-Z]+)\b/.exec(text);
  const meaning = socket ? socketMeanings[socket[1]!] : undefined;
  return meaning ? `${text}: ${meaning}` : text;
}

const socketMeanings: Readonly<Record<string, string>> = {
  ECONNREFUSED: "nothing listens there (is PostgreSQL running, on that port?)",
  ECONNRESET: "the server closed the connection (it may have crashed or restarted)",
  EHOSTUNREACH: "the host cannot be reached from this machine",
  ENETUNREACH: "the network cannot be reached from this machine",
  ETIMEDOUT: "connecting timed out",
};
