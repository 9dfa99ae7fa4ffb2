import type { CallContext } from "../definition/call.js";
import { failedService } from "../errors/failed-service.js";
import { Code, codeName, isTsmicroError, type TsmicroError } from "../errors/tsmicro-error.js";
import { isBreakerOpen } from "../middleware/breaker.js";

/**
 * Codes a handler answers when the service failed its caller, not when the caller asked for
 * something wrong: a call answered with one is logged (see logServedFailure). The others say the
 * caller's request was refused (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
 * UNAUTHENTICATED, FAILED_PRECONDITION, OUT_OF_RANGE, ABORTED), that the caller went away
 * (CANCELLED), or that it asked for more than it may have (RESOURCE_EXHAUSTED: a quota, a rate
 * limit, a message over a size limit), which the metrics count per code.
 */
const serviceFailureCodes: ReadonlySet<number> = new Set<number>([
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.UNIMPLEMENTED,
  Code.INTERNAL,
  Code.UNKNOWN,
  Code.DATA_LOSS,
]);

/** Codes that say the service itself is broken, when the failure is its own rather than passed on. */
const brokenCodes: ReadonlySet<number> = new Set<number>([Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS]);

/**
 * Logs a served call that failed its caller, once it is answered: `error` is what its handler
 * threw, undefined when it answered (after the call's deadline, else nothing is logged). One line
 * on the call's logger (which names the method) with the code, the message and the service whose
 * call failed when the handler passed on a failure of a call of its own, so a service whose
 * downstream is down says so where its operator looks, as the gateway does. Levels: error for
 * INTERNAL, UNKNOWN or DATA_LOSS of its own; debug for an open breaker's refusal (the breaker
 * logged its opening; a line per refused call would flood the log in an outage); warn otherwise.
 * Nothing for a caller's mistake (see serviceFailureCodes), for a call its caller cancelled or the
 * server's stop cut (which says so itself), nor for what is not a TsmicroError: the transport logs
 * that, with its stack, as INTERNAL.
 */
export function logServedFailure(context: CallContext, error: unknown): void {
  const failure = failureOf(context, error);
  if (failure === undefined || !serviceFailureCodes.has(failure.code)) return;
  const downstream = failedService(failure);
  const code = codeName(failure.code);
  const fields = { code, ...(downstream !== undefined ? { failedService: downstream } : {}), peer: context.peer };
  const passedOn = downstream !== undefined ? `, passing on the failure of its call of ${downstream}` : "";
  const line = `${context.method.path.slice(1)} answered ${code}${passedOn}: ${failure.message}`;
  if (isBreakerOpen(failure)) context.logger.debug(fields, line);
  else if (brokenCodes.has(failure.code) && downstream === undefined) context.logger.error(fields, line);
  else context.logger.warn(fields, line);
}

/**
 * The failure the caller of a served call got: the handler's, or once the call's signal aborted,
 * the deadline's (a handler's DEADLINE_EXCEEDED stays, naming the service it waited for); none
 * after its caller cancelled or the server's stop cut the call.
 */
function failureOf(context: CallContext, error: unknown): TsmicroError | undefined {
  const { signal } = context;
  if (!signal.aborted) return isTsmicroError(error) ? error : undefined;
  const reason: unknown = signal.reason;
  // A cancel's reason is CANCELLED, the server's stop's UNAVAILABLE: only a passed deadline is the service's.
  if (!isTsmicroError(reason) || reason.code !== Code.DEADLINE_EXCEEDED) return undefined;
  return isTsmicroError(error) && error.code === Code.DEADLINE_EXCEEDED ? error : reason;
}
