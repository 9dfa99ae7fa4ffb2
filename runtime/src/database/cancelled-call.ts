import { abortedBy } from "../errors/aborted.js";
import type { TsmicroError } from "../errors/tsmicro-error.js";
import { unansweredServedCall } from "../service/served-call.js";

/**
 * The refusal of a query made while serving a call whose caller has cancelled it (or whose
 * deadline has passed), not answered yet: CANCELLED (or DEADLINE_EXCEEDED) as the call's signal
 * says, naming the call and no service, for it is the caller's doing. Nobody waits for its answer,
 * and what the handler goes on to do (its next query, a clean-up after catching the cancel) is not
 * to reach the database, as Go's database/sql refuses a query whose context is done before sending
 * it: a write after the cancel would be applied for a caller told its call was cancelled.
 * Undefined outside any call (start, migrations, a background job), once the call is answered
 * (work its handler left running is its own), and under withoutCancel (what the handler must do
 * whatever its caller does): those queries are sent. `to` is where it would go.
 */
export function refusedAfterCancel(to: string): TsmicroError | undefined {
  const signal = unansweredServedCall()?.signal;
  return signal?.aborted ? notSent(signal, to) : undefined;
}

/** A query not sent to `to` because `signal`, its call's, had aborted (see refusedAfterCancel). */
export function notSent(signal: AbortSignal, to: string): TsmicroError {
  return abortedBy(signal.reason, `a query to ${to} was not sent`);
}
