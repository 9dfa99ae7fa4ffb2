import type { PostgresPool, PostgresPoolClient } from "kysely";
import { abortedBy } from "../errors/aborted.js";
import { nameFailedService } from "../errors/failed-service.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { unansweredServedCall } from "../service/served-call.js";
import { type CancelTarget, sendCancelRequest } from "./cancel-request.js";
import { notSent } from "./cancelled-call.js";
import { untilAborted } from "../platform/until-aborted.js";
import type { OutageLog } from "./outage-log.js";
import { type QueryBudget, queryBudget } from "./query-budget.js";

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

/** What pg's Pool tells of its connections, to say why none came free: Kysely's PostgresPool type leaves it out. */
export interface PoolCounts {
  readonly idleCount?: number;
  /** Connects still waiting for their client: pg-pool hands an idle client to the first of them on the next tick. */
  readonly waitingCount?: number;
  readonly options?: { readonly max?: number };
}

/** What outageAwarePool needs besides the pool: where the database is, how to tell its failures, and the pool's state. */
export interface PoolWatch {
  /** `host:port/database`, no password. */
  readonly where: string;
  /** A failure's text for a message, without secrets. */
  readonly describe: (error: unknown) => string;
  readonly outages: OutageLog;
  /** How long pg-pool waits for a connection, new or pooled, before failing the connect (0: no limit). */
  readonly connectTimeoutMs: number;
  /** How many of the pool's connections the server has not taken yet (see countingConnects). */
  readonly connecting: () => number;
}

/**
 * `pool` as Kysely reads it, with a lost or refused connection to the server failing the query
 * UNAVAILABLE, saying which database (`where`, no password) and why (`describe`), and naming `postgres` as the failed
 * service: a handler passing it on answers its caller 503 through the gateway, not an INTERNAL
 * "internal error", and the caller does not send the call to another node, which shares the
 * database. The first such failure of an outage is logged, and so is the first query answered
 * after it, as the registry and the broker say they are back; the pool reconnects by itself.
 * A query that waited pg-pool's connect timeout for a connection fails so too, saying whether
 * all of the pool's connections were in use or the server did not take a new one.
 *
 * A query made while serving a call with a deadline waits for a connection and for its answer no
 * longer than the call's queryBudget, so a database that does not answer (frozen, a dead link, every
 * connection busy) fails the call before its caller gives up, naming `postgres`, rather than the
 * caller reading "no answer from" the service: UNAVAILABLE when no connection came (the query was
 * not sent), DEADLINE_EXCEEDED when the query was sent and not answered, since a write may then
 * have been applied, which that code says and UNAVAILABLE, safe to retry, would not. Such a query
 * is an outage only when the server does not answer its cancel request either, nor another query
 * meanwhile: else it was slow, and its call's failure line says so. A call whose
 * caller cancels stops its queries' waits for a connection, as its deadline does, and the queries
 * it sent and is waiting on, which the server is asked to stop too (see watched).
 */
export function outageAwarePool(pool: PostgresPool & PoolCounts, watch: PoolWatch): PostgresPool {
  const { where, outages } = watch;
  const failed = (error: unknown, waitedSince = outages.recoveries): never => {
    if (isPoolWaitTimeout(error)) throw noConnection(pool, watch, { ms: watch.connectTimeoutMs, waitedSince });
    if (!isConnectionFailure(error)) throw error;
    const reason = watch.describe(error);
    outages.failing(reason, "the database cannot be reached; calls that use it fail UNAVAILABLE");
    throw postgresFailure(Code.UNAVAILABLE, `the PostgreSQL server at ${where} cannot be reached (${reason})`, error);
  };
  // One wrapper per pooled client, so Kysely, which keeps a connection per client, finds its own again.
  const wrappers = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
  return {
    async connect() {
      // What the wait began in: one that a recovery ended was the outage's, whatever it then met.
      const waitedSince = outages.recoveries;
      const client = await connectFor(pool, watch, waitedSince).catch((error: unknown) => failed(error, waitedSince));
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = watched(client, watch, failed);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

/** A failure of the database, naming `postgres` as the service whose call failed. */
function postgresFailure(code: Code, message: string, cause?: unknown): TsmicroError {
  return nameFailedService(new TsmicroError(code, message, { cause }), "postgres") as TsmicroError;
}

/** pg-pool's failure of a connect that waited its connectionTimeoutMillis in the queue (the pool was full). */
function isPoolWaitTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === "timeout exceeded when trying to connect";
}

/**
 * pool.connect() for a query, with the wait for a connection ended by the call it serves, if any:
 * given up after its budget with UNAVAILABLE naming `postgres` (the query was not sent), or failed
 * with the call's own cancel (or deadline) once its signal aborts: nobody waits for the answer any
 * more. A connection that comes later goes back to the pool, and a failure to make it is the pool's
 * to log. Without a call, pg-pool's connect timeout ends the wait (see outageAwarePool).
 */
async function connectFor(
  pool: PostgresPool & PoolCounts,
  watch: PoolWatch,
  waitedSince: number,
): Promise<PostgresPoolClient> {
  const budget = queryBudget();
  const signal = unansweredServedCall()?.signal;
  if (budget && budget.ms <= 0) throw deadlinePassed(budget, watch.where);
  if (signal?.aborted) throw notSent(signal, `the PostgreSQL server at ${watch.where}`);
  // An idle connection not yet promised to an earlier connect (pg-pool hands them out a tick later, in
  // order) is this one's (most queries): no timer to race it against. Two queries at once with one idle
  // connection both see it idle; the second waits for a new or a busy connection, bounded below.
  if ((!budget && !signal) || (pool.idleCount ?? 0) > (pool.waitingCount ?? 0)) return pool.connect();
  const connecting = pool.connect();
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  let gaveUp = false;
  const givenUp = new Promise<never>((_, reject) => {
    const giveUp = (error: TsmicroError) => {
      gaveUp = true;
      reject(error);
    };
    if (budget) timer = setTimeout(() => giveUp(noConnection(pool, watch, { ...budget, waitedSince })), budget.ms);
    if (signal)
      onAbort = () =>
        giveUp(
          budget && deadlineCame(signal)
            ? noConnection(pool, watch, { ...budget, waitedSince })
            : stoppedWaiting(signal, watch.where),
        );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([connecting, givenUp]);
  } catch (error) {
    // Only a wait given up before the connection came leaves it to no one: back to the pool, once. A
    // cancel that lands after the connection came but before this wait saw it (a cancel run from a
    // promise's continuation) is too late: the query has the connection, and it is not released twice.
    if (gaveUp)
      void connecting.then(
        (client) => client.release(),
        () => undefined,
      );
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * UNAVAILABLE naming `postgres` for a query that waited `wait.ms` for a connection (what was left of
 * the call's deadline, or pg-pool's connect timeout) and got none, saying which it was: a pool slot
 * still waiting for the server to take its connection (frozen, a dead link: as for a new connection
 * of our own), or every connection pooled and busy. Logged once for the outage; all busy is not,
 * for a wait that began before the end of an outage (`waitedSince`, OutageLog.recoveries then).
 */
function noConnection(
  pool: PoolCounts,
  watch: PoolWatch,
  wait: { ms: number; path?: string; waitedSince: number },
): TsmicroError {
  const { where, outages } = watch;
  const within = wait.path
    ? `within ${wait.ms} ms, what was left of the call's deadline`
    : `within ${wait.ms / 1000} s, the connect timeout (connect_timeout in the database URL)`;
  const whose = wait.path ? ` of ${wait.path}` : "";
  if (watch.connecting() > 0) {
    outages.failing(
      `no new connection taken ${within}${whose}`,
      "the database cannot be reached; calls that use it fail UNAVAILABLE",
    );
    return postgresFailure(
      Code.UNAVAILABLE,
      `the PostgreSQL server at ${where} did not take a new connection ${within}: is it running and reachable?`,
    );
  }
  const max = pool.options?.max ?? 10;
  // Every connection in use may be a frozen server's stuck queries: said once that is known (see OutageLog.busy).
  // A wait an outage's end came in was that outage's: the calls queued behind its stuck queries, not a new one.
  if (outages.recoveries === wait.waitedSince)
    outages.busy(
      `none came free ${within}${whose}`,
      "every pooled database connection is in use; calls that wait for one fail UNAVAILABLE",
    );
  return postgresFailure(
    Code.UNAVAILABLE,
    `no connection to the PostgreSQL server at ${where} came free ${within}: all ${max} of the pool's ` +
      "connections are in use (queries that take long, or a server that stopped answering)",
  );
}

/**
 * Whether `signal` aborted because its call's deadline came, not because the caller cancelled. A
 * query with a budget meets it only when its own timer, due first, ran late (an event loop held past
 * the answer's reserve may see the caller's cancel at the deadline first): the database did not
 * give a connection or an answer within the budget, and is named as it would have been.
 */
function deadlineCame(signal: AbortSignal): boolean {
  return abortedBy(signal.reason, "a query").code === Code.DEADLINE_EXCEEDED;
}

/** A query not sent because the call it serves was cancelled (or its deadline passed) while it waited: its caller's doing. */
function stoppedWaiting(signal: AbortSignal, where: string): TsmicroError {
  return abortedBy(
    signal.reason,
    `a query stopped waiting for a connection to the PostgreSQL server at ${where} (not sent)`,
  );
}

/** A query not sent because the call it serves is past its deadline: the database is not to blame. */
function deadlinePassed(budget: QueryBudget, where: string): TsmicroError {
  return new TsmicroError(
    Code.DEADLINE_EXCEEDED,
    `deadline exceeded serving ${budget.path} before a query was sent to the PostgreSQL server at ${where}`,
  );
}

/**
 * `client` with a query whose connection fails passed to `failed`, and one answered reported to
 * the outage log. Under a call with a deadline a query is sent with node-postgres's query_timeout
 * of its budget. A query the call stops waiting for (not answered within that budget, or the
 * call's caller cancelled, or its deadline passed, while it ran) is stopped on the server with a
 * CancelRequest, as Go's pgx does on a context's cancel: else the server would run it to its end
 * (a long report, a lock wait) holding the connection, for nobody. Its connection, still waiting
 * on it, fails the queries that follow (a transaction's rollback) with the same error and is
 * closed, not pooled, when released: the cancel, which lands when it lands, must not stop the next
 * caller's query on it, and closing the connection also ends the transaction it was in.
 */
function watched(client: PostgresPoolClient, watch: PoolWatch, failed: (error: unknown) => never): PostgresPoolClient {
  const { where, outages } = watch;
  let stuck: TsmicroError | undefined;
  // One query runs on a connection at a time, and once stopped the connection runs no other: one cancel.
  const stop = (why: TsmicroError, unanswered?: (cancel: string) => void): TsmicroError => {
    if (stuck) return stuck;
    stuck = why;
    const waitMs = watch.connectTimeoutMs || cancelTimeoutMs;
    const answers = outages.answers;
    const backendAnswered = stoppedQueryAnswered(client as StoppedClient, waitMs);
    void Promise.all([sendCancelRequest(client as CancelTarget, waitMs), backendAnswered]).then(
      ([outcome, answered]) => {
        // The server answers: it stopped the query (a slow one), or it answered a query on another connection
        // while the cancel waited (only the cancel's connection did not: a proxy, a link mended since), and
        // an outage said now would come after its end. A cancel's connection closed is no answer by itself:
        // a proxy (or anything in between) that takes it and closes it does so for a frozen server too.
        if (outcome === "unsent" || outages.answers !== answers) return;
        if (answered) {
          outages.answered();
          return;
        }
        unanswered?.(
          outcome === "refused"
            ? "nor to its cancel request, whose connection was refused or could not be made"
            : `nor to its cancel request within ${waitMs / 1000} s`,
        );
      },
    );
    return why;
  };
  // A query its call's deadline cut is the caller's deadline, not an outage: a slow query (a report, a
  // lock wait) on a server that answers. Only a server that does not answer the cancel either (frozen,
  // a dead link, gone) is logged as one, and its first answer after as the end of it.
  const noAnswer = (budget: QueryBudget, cause?: unknown): TsmicroError =>
    stop(unanswered(budget, where, cause), (cancel) =>
      outages.failing(
        `no answer to a query within ${budget.ms} ms, what was left of the deadline of ${budget.path}, ${cancel}`,
        "the database did not answer in time; calls that wait for it fail DEADLINE_EXCEEDED",
      ),
    );
  // A query refused on a connection held for a transaction (one outside it is refused before taking a
  // connection: see connectFor) leaves the transaction open, its rollback refused too: the connection
  // is closed, not pooled, which rolls it back on the server. Kysely's own transactions discard a
  // connection whose rollback failed; this also holds for a `begin` sent on db.connection().
  const refuse = (why: TsmicroError): Promise<never> => {
    stuck = why;
    return Promise.reject(why);
  };
  const query = (...args: unknown[]): unknown => {
    if (stuck) return Promise.reject(stuck);
    const sql = typeof args[0] === "string";
    const budget = sql ? queryBudget() : undefined;
    if (budget && budget.ms <= 0) return refuse(deadlinePassed(budget, where));
    const signal = sql ? unansweredServedCall()?.signal : undefined;
    if (signal?.aborted) return refuse(notSent(signal, `the PostgreSQL server at ${where}`));
    // node-postgres reads query_timeout from a query given as an object; a cursor (streamed query) comes as it is.
    if (budget) args[0] = { text: args[0], query_timeout: budget.ms };
    const result = (client.query as (...a: unknown[]) => unknown)(...args);
    if (!(result instanceof Promise)) return result;
    const answer = result.then(
      (rows: unknown) => {
        if (stuck) throw stuck;
        outages.answered();
        return rows;
      },
      (error: unknown) => {
        // Stopped by its call's cancel: the answer that comes after is the cancel's (or the closed connection's).
        if (stuck) throw stuck;
        if (!budget || !isQueryTimeout(error)) return failed(error);
        throw noAnswer(budget, error);
      },
    );
    if (!signal) return answer;
    return untilAborted(answer, signal, () =>
      budget && deadlineCame(signal) ? noAnswer(budget) : stop(cancelledSent(signal, where)),
    );
  };
  return {
    query: query as PostgresPoolClient["query"],
    release: (destroy) => client.release(destroy || stuck !== undefined),
  };
}

/** What stoppedQueryAnswered uses of pg's Client: its events, whether it waits for an answer, and its end. */
interface StoppedClient {
  readonly once?: (event: "drain" | "end" | "error", listener: () => void) => unknown;
  readonly removeListener?: (event: "drain" | "end" | "error", listener: () => void) => unknown;
  readonly readyForQuery?: boolean;
  end?: (callback?: () => void) => unknown;
  readonly connection?: { readonly stream?: { unref?: () => unknown } };
}

/**
 * Whether the server answers, within `waitMs`, the query running on `client` that is being stopped
 * with a cancel request: its backend's answer (the statement cancelled, 57014, or its result, had it
 * just ended) is the only proof that the server took the cancel, whose own connection the server
 * closes without a word, as anything between (a proxy) may do for a frozen server too. pg ends the
 * connection, once released, by destroying its socket while a query is active: that end waits for
 * the answer (or the wait's end), the socket no longer keeping the process alive; the pool is told
 * it ended at once. False at once for
 * a client that is not pg's (tests' stand-ins).
 */
function stoppedQueryAnswered(client: StoppedClient, waitMs: number): Promise<boolean> {
  const { once, removeListener, end } = client;
  if (once === undefined || removeListener === undefined || end === undefined) return Promise.resolve(false);
  // Answered before it was stopped (the answer and the budget's end in the same turn): pg waits for no answer.
  if (client.readyForQuery === true) return Promise.resolve(true);
  const answered = new Promise<boolean>((resolve) => {
    const settle = (answer: boolean) => () => {
      clearTimeout(timer);
      for (const [event, listener] of listeners) removeListener.call(client, event, listener);
      resolve(answer);
    };
    // pg emits drain once the server's ReadyForQuery ends the query and none waits behind it.
    const listeners = [
      ["drain", settle(true)],
      ["end", settle(false)],
      ["error", settle(false)],
    ] as const;
    for (const [event, listener] of listeners) once.call(client, event, listener);
    const timer = setTimeout(settle(false), waitMs);
    timer.unref();
  });
  // Only the socket's close waits: pg-pool, which freed the connection's slot before it called end, gives
  // the slot to a query waiting for one in end's callback, which is not held up for the answer.
  client.end = (callback) => {
    const ended = answered.then(() => end.call(client));
    if (callback === undefined) return ended;
    queueMicrotask(callback);
    return undefined;
  };
  client.connection?.stream?.unref?.();
  return answered;
}

/** How long a CancelRequest may wait for the server when the database URL sets no connect_timeout limit. */
const cancelTimeoutMs = 10_000;

/**
 * How long OutageLog.busy waits for a cause before saying every connection is in use: a frozen
 * server's stuck queries send their cancel requests when their calls' deadlines come, which may be
 * after the query that found no connection free gave up, and each waits `connectTimeoutMs` (10 s
 * if 0) for an answer: a few such waits leave room for both.
 */
export function busyVerdictMs(connectTimeoutMs: number): number {
  return 3 * (connectTimeoutMs || cancelTimeoutMs);
}

/**
 * A query sent and then stopped because the call it serves was cancelled (or its deadline passed):
 * the caller's doing, CANCELLED (or DEADLINE_EXCEEDED), naming no service; an autocommit write
 * may have been committed before the cancel landed.
 */
function cancelledSent(signal: AbortSignal, where: string): TsmicroError {
  return abortedBy(
    signal.reason,
    `a query sent to the PostgreSQL server at ${where} was cancelled (a write may have been applied)`,
  );
}

/** node-postgres's failure of a query its query_timeout passed. */
function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === "Query read timeout";
}

/** A query sent and not answered within its budget: DEADLINE_EXCEEDED naming `postgres` (see outageAwarePool). */
function unanswered(budget: QueryBudget, where: string, cause: unknown): TsmicroError {
  return postgresFailure(
    Code.DEADLINE_EXCEEDED,
    `the PostgreSQL server at ${where} did not answer a query within ${budget.ms} ms, what was left of the ` +
      "call's deadline: it is slow or not answering, and a write may have been applied",
    cause,
  );
}
