import type { MethodKind } from "../definition/definition.js";
import { Code } from "../errors/tsmicro-error.js";
import type { CallResult } from "../transport/transport.js";
import type { MethodStats } from "./rpc-stats.js";

/** How one side counts a call: which counter a request and a response message add to, and the code of a failure. */
export interface CallCounting {
  /** A request message went by (received on the server, sent by the client). */
  readonly request: (stats: MethodStats) => void;
  /** A response message went by (sent by the server, received by the client). */
  readonly response: (stats: MethodStats) => void;
  /** The status code a failure ends the call with on this side. */
  readonly codeOf: (error: unknown) => number;
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
  counting: CallCounting,
  onFailure?: (error: unknown, code: number, stats: MethodStats) => void,
): CallResult {
  stats.started++;
  const start = performance.now();
  const end = (code: number) => stats.finish(code, (performance.now() - start) / 1000);
  const fail = (error: unknown) => {
    const code = counting.codeOf(error);
    end(code);
    onFailure?.(error, code, stats);
  };
  const streamsRequests = kind === "client_streaming" || kind === "bidi_streaming";
  if (streamsRequests) request = countMessages(request as AsyncIterable<unknown>, stats, counting.request);
  else counting.request(stats);
  let result: CallResult;
  try {
    result = invoke(call, request);
  } catch (error) {
    fail(error);
    throw error;
  }
  if (kind === "unary" || kind === "client_streaming") {
    return (result as Promise<unknown>).then(
      (response) => {
        counting.response(stats);
        end(Code.OK);
        return response;
      },
      (error: unknown) => {
        fail(error);
        throw error;
      },
    );
  }
  return observeStream(result as AsyncIterable<unknown>, stats, counting, end, fail);
}

async function* countMessages(
  messages: AsyncIterable<unknown>,
  stats: MethodStats,
  count: (stats: MethodStats) => void,
): AsyncGenerator<unknown> {
  for await (const message of messages) {
    count(stats);
    yield message;
  }
}

async function* observeStream(
  messages: AsyncIterable<unknown>,
  stats: MethodStats,
  counting: CallCounting,
  end: (code: number) => void,
  fail: (error: unknown) => void,
): AsyncGenerator<unknown> {
  let ended = false;
  try {
    for await (const message of messages) {
      counting.response(stats);
      yield message;
    }
    ended = true;
    end(Code.OK);
  } catch (error) {
    ended = true;
    fail(error);
    throw error;
  } finally {
    // The consumer stopped reading before the end: the call was cancelled from this side.
    if (!ended) end(Code.CANCELLED);
  }
}
