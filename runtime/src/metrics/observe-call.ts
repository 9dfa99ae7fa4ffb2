import type { MethodKind } from "../definition/definition.js";
import { Code } from "../errors/tsmicro-error.js";
import type { CallResult } from "../transport/transport.js";
import type { MethodStats } from "./rpc-stats.js";

/** How one side counts a call: which counter a request and a response message add to, and the code of a failure. */
export interface CallCounting<C = unknown> {
  /** A request message went by (received on the server, sent by the client). */
  readonly request: (stats: MethodStats) => void;
  /** A response message went by (sent by the server, received by the client). */
  readonly response: (stats: MethodStats) => void;
  /** The status code a failure ends the call with on this side. */
  readonly codeOf: (error: unknown, call: C) => number;
}

/** Sends `call` on with `request` in it (the same call when the request was not wrapped). */
export type Invoke<C> = (call: C, request: unknown) => CallResult;

/**
 * Sends `call` through `invoke` and records it in `stats`: started, each
 * message either way, and at its end the status code and the time taken.
 * Streams end when their last message went by, or failed, or the consumer
 * stopped early (CANCELLED). `onFailure` sees every failure. `invoke` and
 * `counting` are made once per middleware, so a call allocates little.
 */
export function observeCall<C>(
  stats: MethodStats,
  kind: MethodKind,
  call: C,
  request: unknown,
  invoke: Invoke<C>,
  counting: CallCounting<C>,
  onFailure?: FailureHook,
): CallResult {
  stats.started++;
  const start = performance.now();
  if (kind === "client_streaming" || kind === "bidi_streaming")
    request = countMessages(request as AsyncIterable<unknown>, stats, counting.request);
  else counting.request(stats);
  let result: CallResult;
  try {
    result = invoke(call, request);
  } catch (error) {
    failed(stats, start, error, counting, onFailure, call);
    throw error;
  }
  if (kind === "unary" || kind === "client_streaming") {
    // No closure over `start` besides these two: a per-call helper closure cost several times the rest here.
    return (result as Promise<unknown>).then(
      (response) => {
        counting.response(stats);
        stats.finish(Code.OK, secondsSince(start));
        return response;
      },
      (error: unknown) => {
        failed(stats, start, error, counting, onFailure, call);
        throw error;
      },
    );
  }
  return observeStream(result as AsyncIterable<unknown>, stats, start, counting, onFailure, call);
}

/** Sees every failed call with its code, such as the server's count of refusals by reason. */
export type FailureHook = (error: unknown, code: number, stats: MethodStats) => void;

function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

function failed<C>(
  stats: MethodStats,
  start: number,
  error: unknown,
  counting: CallCounting<C>,
  onFailure: FailureHook | undefined,
  call: C,
): void {
  const code = counting.codeOf(error, call);
  stats.finish(code, secondsSince(start));
  onFailure?.(error, code, stats);
}

/**
 * Counts request messages as the transport reads them. A plain iterator,
 * not a generator: when the call ends the transport calls `return()` while
 * a read may be waiting, and a generator would hold that back until its
 * next `yield`, leaving the caller's request stream open; this one passes
 * it to the caller's iterator at once.
 */
function countMessages(
  messages: AsyncIterable<unknown>,
  stats: MethodStats,
  count: (stats: MethodStats) => void,
): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<unknown> {
      const source = messages[Symbol.asyncIterator]();
      return {
        next: async () => {
          const result = await source.next();
          if (!result.done) count(stats);
          return result;
        },
        return: async (value?: unknown) => (await source.return?.(value)) ?? { done: true, value },
      };
    },
  };
}

async function* observeStream<C>(
  messages: AsyncIterable<unknown>,
  stats: MethodStats,
  start: number,
  counting: CallCounting<C>,
  onFailure: FailureHook | undefined,
  call: C,
): AsyncGenerator<unknown> {
  let ended = false;
  try {
    for await (const message of messages) {
      counting.response(stats);
      yield message;
    }
    ended = true;
    stats.finish(Code.OK, secondsSince(start));
  } catch (error) {
    ended = true;
    failed(stats, start, error, counting, onFailure, call);
    throw error;
  } finally {
    // The consumer stopped reading before the end: the call was cancelled from this side.
    if (!ended) stats.finish(Code.CANCELLED, secondsSince(start));
  }
}
