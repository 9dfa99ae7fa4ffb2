import { answerReserveMs } from "../errors/failed-service.js";
import { unansweredServedCall } from "../service/served-call.js";

/** What a query made while serving a call may wait for the database, and the call it serves. */
export interface QueryBudget {
  /** Milliseconds to wait for a connection or an answer; 0 or less when the call's deadline has passed already. */
  readonly ms: number;
  /** The method served, `/pkg.Service/Method`, for the lines that say whose deadline it was. */
  readonly path: string;
}

/**
 * The budget of a query made under a handler whose call has a deadline: the time left before it,
 * less a reserve (a fifth of it, at most 250 ms) for the failure to reach the caller before the
 * caller's own deadline passes, which runs a little ahead of the server's (its clock, grpc-timeout's
 * rounding, the event loop): then the caller reads that the database did not answer, rather than
 * "no answer from" the service. Undefined outside a call (start, migrations, a background job), for
 * a call without a deadline, or once the call is answered (work its handler left running): such
 * queries wait as long as the database takes.
 */
export function queryBudget(now = Date.now()): QueryBudget | undefined {
  const call = unansweredServedCall();
  if (call?.deadline === undefined) return undefined;
  const left = call.deadline.getTime() - now;
  const ms = left <= 0 ? 0 : Math.max(1, Math.floor(left - answerReserveMs(left)));
  return { ms, path: call.method.path };
}
