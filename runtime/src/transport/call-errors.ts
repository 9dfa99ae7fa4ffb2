/**
 * The errors a client transport makes itself, the same for every wire: a
 * call its caller's signal cancelled, and a stream that fails before its
 * first message.
 */
import { abortedBy } from "../errors/aborted.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import type { CallResult, ClientCall } from "./transport.js";

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A call the caller's signal cancelled fails with the signal's reason (see abortedBy). */
export function abortedError(call: ClientCall, what: string): TsmicroError {
  return abortedBy(call.signal?.reason, what);
}

/**
 * Closes the request stream of a call refused before it was sent (a client-streaming or bidi
 * call's): the caller's generator or pipe ends, its `finally` blocks run, as when a call that was
 * sent ends first, rather than waiting for a next() that never comes.
 */
export function closeRequests(call: Pick<ClientCall, "request">): void {
  const { request } = call;
  if (typeof request !== "object" || request === null) return;
  const iterable = request as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  const iterator = iterable[Symbol.asyncIterator]?.() ?? iterable[Symbol.iterator]?.();
  if (iterator?.return) void Promise.resolve(iterator.return()).catch(() => undefined);
}

/** A call cancelled before it was sent: its request stream is closed (see closeRequests). */
export function cancelledBeforeStart(call: ClientCall): TsmicroError {
  closeRequests(call);
  return abortedError(call, `${call.method.path} was cancelled before it was sent`);
}

/**
 * The failure of a call whose deadline has passed before it is sent, undefined while time is
 * left: DEADLINE_EXCEEDED, not sent, so never applied; its request stream is closed (see closeRequests). Sent, it would expire on the wire once a
 * server may have started it, and read as a call that may have been applied.
 */
export function deadlinePassedBeforeSending(call: ClientCall): TsmicroError | undefined {
  const { deadline } = call;
  // An invalid Date (an infinite timeout) is no deadline: NaN is never <= now.
  if (deadline === undefined || !(deadline.getTime() <= Date.now())) return undefined;
  closeRequests(call);
  return new TsmicroError(
    Code.DEADLINE_EXCEEDED,
    `Deadline exceeded: ${call.method.path} was not sent, its deadline had passed`,
    { unprocessed: true, retryable: false },
  );
}

/** Fails a call whose deadline has passed before it is sent (see deadlinePassedBeforeSending). */
export function throwIfLate(call: ClientCall): void {
  const late = deadlinePassedBeforeSending(call);
  if (late) throw late;
}

/** deadlinePassedBeforeSending's wording, with the method's path as its first group. */
export const notSentWording = /^Deadline exceeded: (\S+) was not sent, its deadline had passed/;

/**
 * Whether `error` is the failure of a call not sent because its deadline had passed: it says
 * nothing of the callee, so neither a breaker nor the selector counts it as a timeout.
 */
export function isNotSentForDeadline(error: unknown): boolean {
  return (
    isTsmicroError(error) &&
    error.code === Code.DEADLINE_EXCEEDED &&
    error.unprocessed &&
    notSentWording.test(error.message)
  );
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

/**
 * Whether a failure is a message over a size limit (`--server_max_recv_msg_size` or
 * `--client_max_recv_msg_size`), as either transport words it. Such a failure is the same on
 * every node of the service, so it is never retried; nor is it the callee being in trouble, so
 * it never opens a breaker.
 */
export function isSizeLimitFailure(error: unknown): boolean {
  return isTsmicroError(error) && isSizeLimit(error.code, error.message);
}

/**
 * Metadata a client transport sets on the failure it makes itself when an answer is over its own
 * `--client_max_recv_msg_size`: a failure on the calling side, not the callee's RESOURCE_EXHAUSTED
 * (a rate limit, a quota), so a gateway tells its public client in public words (a 502), not 429.
 */
export const answerTooLargeKey = "tsmicro-answer-too-large";

/** Whether a failure is an answer over its caller's own receive limit (see answerTooLargeKey), here or down a chain. */
export function isAnswerTooLarge(error: unknown): boolean {
  return isTsmicroError(error) && error.code === Code.RESOURCE_EXHAUSTED && error.metadata[answerTooLargeKey] === "1";
}

/** Whether a status of `code` with `message` is a size-limit failure (see isSizeLimitFailure). */
export function isSizeLimit(code: number, message: string): boolean {
  return code === Code.RESOURCE_EXHAUSTED && overSizeLimit.test(message);
}

/** The end of every size-limit message: its flag, or both (see sizeLimitWording). */
const overSizeLimit = /_max_recv_msg_size(?: for answers)?\)$/;

/**
 * grpc-js's words for a message over a size limit ("Received message larger than max (5242888 vs
 * 4194304)", from a grpc-js client or server) as tsmicro's transports put them, naming the
 * flags; undefined for any other status message.
 */
export function sizeLimitWording(code: number, details: string): string | undefined {
  if (code !== Code.RESOURCE_EXHAUSTED) return undefined;
  const tooLarge = /^Received message larger than max \((\d+) vs (\d+)\)$/.exec(details);
  if (!tooLarge) return undefined;
  return (
    `a message of ${tooLarge[1]} bytes is over its receiver's limit of ${tooLarge[2]} ` +
    "(--server_max_recv_msg_size for requests, --client_max_recv_msg_size for answers)"
  );
}
