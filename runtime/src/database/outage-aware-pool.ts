import type { PostgresPool, PostgresPoolClient } from "kysely";
import { nameFailedService } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";

/** What PostgreSQL's server or the network says when there is no server to talk to: not a query's fault. */
const connectionCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

/**
 * True for a failure of the connection rather than of the query: a socket error, SQLSTATE class
 * 08 (connection exception) or 57P01-57P03 (the server shutting down, crashed, or starting), or
 * node-postgres's own "Connection terminated" when the server went away mid-query or did not
 * answer a new connection in time, and its "not queryable" on a client whose connection failed.
 */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (connectionCodes.has(code) || code.startsWith("08") || /^57P0[123]$/.test(code)))
    return true;
  // pg-pool's "timeout exceeded when trying to connect" is also a pool whose connections are all busy: not an outage.
  // "not queryable": a query on a client whose connection failed since it was checked out (in a transaction).
  return /^Connection terminated|^Client has encountered a connection error and is not queryable/.test(error.message);
}

/**
 * `pool` as Kysely reads it, with a lost or refused connection to the server failing the query
 * UNAVAILABLE, saying which database (`where`, no password) and why (`describe`), and naming `postgres` as the failed
 * service: a handler passing it on answers its caller 503 through the gateway, not an INTERNAL
 * "internal error", and the caller does not send the call to another node, which shares the
 * database. The first such failure of an outage is logged, and so is the first query answered
 * after it, as the registry and the broker say they are back; the pool reconnects by itself.
 */
export function outageAwarePool(
  pool: PostgresPool,
  where: string,
  describe: (error: unknown) => string,
  logger?: Logger,
): PostgresPool {
  let failing = false;
  const failed = (error: unknown): never => {
    if (!isConnectionFailure(error)) throw error;
    const reason = describe(error);
    if (!failing)
      logger?.warn({ database: where, reason }, "the database cannot be reached; calls that use it fail UNAVAILABLE");
    failing = true;
    throw nameFailedService(
      new TsmicroError(Code.UNAVAILABLE, `the PostgreSQL server at ${where} cannot be reached (${reason})`, {
        cause: error,
      }),
      "postgres",
    );
  };
  // A query answered, not a connection handed out: the pool may hand out an idle one the outage has not reached yet.
  const answered = (): void => {
    if (!failing) return;
    failing = false;
    logger?.info({ database: where }, "the database answers again");
  };
  // One wrapper per pooled client, so Kysely, which keeps a connection per client, finds its own again.
  const wrappers = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect().catch(failed);
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = watched(client, failed, answered);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

/** `client` with a query whose connection fails passed to `failed`, and one answered reported to `answered`. */
function watched(
  client: PostgresPoolClient,
  failed: (error: unknown) => never,
  answered: () => void,
): PostgresPoolClient {
  const query = (...args: unknown[]): unknown => {
    const result = (client.query as (...a: unknown[]) => unknown)(...args);
    // A cursor (streamed query) is no promise: it comes as it is.
    if (!(result instanceof Promise)) return result;
    return result.then((rows: unknown) => {
      answered();
      return rows;
    }, failed);
  };
  return { query: query as PostgresPoolClient["query"], release: (destroy) => client.release(destroy) };
}
