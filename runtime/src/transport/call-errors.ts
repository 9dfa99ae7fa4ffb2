/**
 * The errors a client transport makes itself, the same for every wire: a
 * call its caller's signal cancelled, and a stream that fails before its
 * first message.
 */
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import type { CallResult, ClientCall } from "./transport.js";

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A call the caller's signal cancelled fails with the signal's reason: its
 * code if it is a TsmicroError (a parent call's deadline or cancel),
 * DEADLINE_EXCEEDED for `AbortSignal.timeout`, else CANCELLED naming the reason.
 */
export function abortedError(call: ClientCall, what: string): TsmicroError {
  const reason: unknown = call.signal?.reason;
  if (isTsmicroError(reason)) {
    return new TsmicroError(reason.code, `${what}: ${reason.message}`, { cause: reason, retryable: false });
  }
  const timedOut = reason instanceof Error && reason.name === "TimeoutError";
  return new TsmicroError(timedOut ? Code.DEADLINE_EXCEEDED : Code.CANCELLED, `${what}: ${messageOf(reason)}`, {
    cause: reason,
    retryable: false,
  });
}

export function cancelledBeforeStart(call: ClientCall): TsmicroError {
  return abortedError(call, `${call.method.path} was cancelled before it was sent`);
}

/** The error the caller sees when its request stream throws: its own TsmicroError, or CANCELLED naming it. */
export function requestStreamError(error: unknown): TsmicroError {
  if (isTsmicroError(error)) return error;
  return new TsmicroError(Code.CANCELLED, `the request stream failed: ${messageOf(error)}`, { cause: error });
}

// biome-ignore lint/correctness/useYield: a stream that fails before its first message yields nothing.
export async function* failing(error: TsmicroError): AsyncGenerator<never> {
  throw error;
}

/** A call made after its transport closed: FAILED_PRECONDITION, as a rejection or a failing stream by the method's kind. */
export function afterClose(address: string, call: ClientCall): CallResult {
  const error = new TsmicroError(Code.FAILED_PRECONDITION, `call to ${address} after the client transport closed`);
  const streamsResponses = call.method.kind === "server_streaming" || call.method.kind === "bidi_streaming";
  return streamsResponses ? failing(error) : Promise.reject(error);
}
