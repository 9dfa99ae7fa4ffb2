import { connect, type Socket } from "node:net";

/**
 * What a CancelRequest needs of the connection whose query it stops: where the server is, and the
 * backend's process id and secret key it sent when the connection started. pg's Client keeps them
 * as these fields (not in its typings: the test "stops a query with PostgreSQL's CancelRequest" pins them).
 */
export interface CancelTarget {
  readonly host?: unknown;
  readonly port?: unknown;
  readonly processID?: unknown;
  readonly secretKey?: unknown;
}

/** The CancelRequest code of PostgreSQL's protocol, sent where a startup message's version would be. */
const cancelRequestCode = 80877102;

/**
 * What came of a CancelRequest: `closed` when the connection was taken and closed, as the server does
 * once it read the request, but also anything between that takes it and closes it (a proxy whose
 * server is frozen or gone): no proof the server answered (see stoppedQueryAnswered); `unanswered`
 * when the connection was not made or not closed within the timeout (frozen, a dead link); `refused`
 * when it failed at once (nothing listens there any more, the host cannot be reached); `unsent` when
 * the target told no key.
 */
export type CancelOutcome = "closed" | "unanswered" | "refused" | "unsent";

/**
 * Asks the server `target` is connected to to stop the statement its backend runs, as libpq's
 * PQcancel does: a new connection carrying only a CancelRequest (no authentication, so it needs no
 * free pooled connection), which the server closes. Not pg's Client.cancel: it reads the deprecated
 * `activeQuery` (a warning on the service's stderr, removed in pg 9) and crashes the process when
 * the server refuses the connection. Fire-and-forget: a server that does not take or close the
 * connection (frozen, a dead link) has it closed after `timeoutMs`, so nothing waits on it; the
 * promise, never rejected, says what came of it (see CancelOutcome).
 */
export function sendCancelRequest(target: CancelTarget, timeoutMs: number): Promise<CancelOutcome> {
  const request = cancelRequestOf(target);
  if (!request) return Promise.resolve("unsent");
  const socket = connectTo(target);
  // A cancel must not keep a stopping service alive.
  socket.unref();
  return new Promise((resolve) => {
    let sent = false;
    let timedOut = false;
    socket.setTimeout(timeoutMs, () => {
      timedOut = true;
      socket.destroy();
    });
    socket.once("connect", () => {
      sent = true;
      socket.end(request);
    });
    // The server closes the connection once it read the request; a refused or reset one ends it too.
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    socket.once("close", () => resolve(timedOut ? "unanswered" : sent ? "closed" : "refused"));
  });
}

/** The 16 bytes of a CancelRequest for `target`'s backend, if it has told its key. */
function cancelRequestOf(target: CancelTarget): Buffer | undefined {
  const { processID, secretKey } = target;
  if (typeof processID !== "number" || typeof secretKey !== "number") return undefined;
  const request = Buffer.alloc(16);
  request.writeInt32BE(16, 0);
  request.writeInt32BE(cancelRequestCode, 4);
  request.writeInt32BE(processID, 8);
  request.writeInt32BE(secretKey, 12);
  return request;
}

/** A connection to where `target` is connected: a Unix socket folder (a host starting with `/`), as pg reads it, or TCP. */
function connectTo(target: CancelTarget): Socket {
  const host = typeof target.host === "string" && target.host !== "" ? target.host : "localhost";
  const port = typeof target.port === "number" ? target.port : Number(target.port ?? 5432);
  if (host.startsWith("/")) return connect(`${host}/.s.PGSQL.${port}`);
  return connect(port, host);
}
