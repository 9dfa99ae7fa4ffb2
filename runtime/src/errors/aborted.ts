import { Code, TsmicroError, isTsmicroError } from "./tsmicro-error.js";

/**
 * What failed because a signal aborted, as the signal's reason says: its
 * code if it is a TsmicroError (a parent call's deadline or cancel),
 * DEADLINE_EXCEEDED for `AbortSignal.timeout`, else CANCELLED naming the
 * reason. Not to be retried: whoever aborted has stopped waiting.
 */
export function abortedBy(reason: unknown, what: string): TsmicroError {
  if (isTsmicroError(reason)) {
    return new TsmicroError(reason.code, `${what}: ${reason.message}`, { cause: reason, retryable: false });
  }
  const timedOut = reason instanceof Error && reason.name === "TimeoutError";
  const why = reason instanceof Error ? reason.message : String(reason);
  return new TsmicroError(timedOut ? Code.DEADLINE_EXCEEDED : Code.CANCELLED, `${what}: ${why}`, {
    cause: reason,
    retryable: false,
  });
}
