import { Code, isTsmicroError } from "./tsmicro-error.js";

/**
 * The gRPC status a failure ends a call with: a TsmicroError's own code. For any other error, when
 * the served call's `signal` had aborted (its caller left or its deadline passed; a handler that
 * passes its signal to a wait fails with the wait's AbortError), the code of the signal's reason,
 * CANCELLED for a reason without one; else INTERNAL, as the server answers it.
 */
export function failureCode(error: unknown, signal?: AbortSignal): number {
  if (isTsmicroError(error)) return error.code;
  if (!signal?.aborted) return Code.INTERNAL;
  return isTsmicroError(signal.reason) ? signal.reason.code : Code.CANCELLED;
}
