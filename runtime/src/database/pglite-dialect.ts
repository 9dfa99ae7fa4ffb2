import type { PGlite } from "@electric-sql/pglite";
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { refusedAfterCancel } from "./cancelled-call.js";
import { streamUnsupported } from "./no-cursor.js";

/**
 * A Kysely dialect over one PGlite instance. Kysely ships its own PGlite
 * dialect only from 0.29, which requires Node 22; this one keeps Node 20
 * and is to be replaced by kysely's once Node 20 is dropped.
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}

  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Parameters<Dialect["createIntrospector"]>[0]) {
    return new PostgresIntrospector(db);
  }
}

/**
 * PGlite is one Postgres backend, so there is one connection: a caller
 * holds it from acquire to release (a whole transaction), and the others
 * queue. Without the queue, a query from another request would land inside
 * an open transaction.
 */
class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private held = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.held = true;
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    try {
      await this.rollBackLeftOpen();
    } finally {
      // Handed over even when that rollback failed: the waiting callers would otherwise wait for ever.
      const next = this.waiting.shift();
      // Handing over directly keeps `held` true, so no newcomer can slip in between.
      if (next) next();
      else this.held = false;
    }
  }

  /**
   * Rolls back a transaction the holder leaves open: one begun by hand on db.connection() whose rollback
   * was refused with its call's cancel (see PGliteConnection), or never sent. PGlite's one connection
   * cannot be closed as a pooled one is, and every later caller's queries would run inside it, their
   * writes never committed.
   */
  private async rollBackLeftOpen(): Promise<void> {
    if (!this.pglite.closed && this.pglite.isInTransaction()) await this.connection.run(CompiledQuery.raw("rollback"));
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = "start transaction";
    if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) statement += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  // A rollback is sent even for a call cancelled (see PGliteConnection): PGlite's one connection cannot be
  // closed as a pooled one is, and left inside the transaction it would run every later caller's queries there.
  async rollbackTransaction(): Promise<void> {
    await this.connection.run(CompiledQuery.raw("rollback"));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(name)}`));
  }

  async rollbackToSavepoint(_connection: DatabaseConnection, name: string): Promise<void> {
    await this.connection.run(CompiledQuery.raw(`rollback to savepoint ${quoteIdentifier(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdentifier(name)}`));
  }

  async destroy(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite) {}

  /**
   * Runs `compiledQuery`, unless it is made for a call already cancelled (see refusedAfterCancel), as on
   * PostgreSQL. A query running when its call is cancelled runs to its end: PGlite, in this process,
   * cannot be interrupted, nor bounded by the call's deadline.
   */
  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const refused = refusedAfterCancel("the embedded PGlite database");
    if (refused) throw refused;
    return this.run(compiledQuery);
  }

  /** Runs `compiledQuery`, refused for no call: the driver's rollbacks. */
  async run<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters], { rowMode: "object" });
    return result.affectedRows === undefined
      ? { rows: result.rows }
      : { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) };
  }

  // Refused on PostgreSQL too (see NoCursor): fail alike, so that code tried on PGlite does not break there.
  // biome-ignore lint/correctness/useYield: a generator, so the error comes from iterating, as with pg.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw streamUnsupported();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
