import type { Context, Span } from "@opentelemetry/api";
import type { OtelApiModule } from "./otel-api.js";
import { isAsyncIterable } from "../transport/call-result.js";
import { endRpcSpan } from "./rpc-span.js";

/**
 * Runs `send` (a call or a handler) with `span` active, when `active` is
 * given, and ends the span when the result settles, a stream when it ends.
 * A span that records nothing (ids only) has nothing to end: a unary result
 * is returned as it is, and a stream's steps still run in the span's context.
 */
export function traced<R>(
  api: OtelApiModule,
  span: Span,
  active: Context | undefined,
  send: () => R,
  /** A served call's signal: a failure after it aborted ends the span with the abort's code (see failureCode). */
  signal?: AbortSignal,
): R {
  if (!span.isRecording()) {
    const result = runIn(api, active, send);
    return (isAsyncIterable(result) ? tracedStream(result, stepsIn(api, active), ignore) : result) as R;
  }
  let result: R;
  try {
    result = runIn(api, active, send);
  } catch (error) {
    endRpcSpan(api, span, true, error, signal);
    throw error;
  }
  if (isAsyncIterable(result)) {
    const end = (failed: boolean, error?: unknown) => endRpcSpan(api, span, failed, error, signal);
    return tracedStream(result, stepsIn(api, active), end) as R;
  }
  return Promise.resolve(result).then(
    (response) => {
      endRpcSpan(api, span, false);
      return response;
    },
    (error: unknown) => {
      endRpcSpan(api, span, true, error, signal);
      throw error;
    },
  ) as R;
}

/** `step` run in `active` when given, else where it is called. */
function runIn<S>(api: OtelApiModule, active: Context | undefined, step: () => S): S {
  return active ? api.context.with(active, step) : step();
}

/** What runs a stream's steps: in `active` when given. */
function stepsIn(api: OtelApiModule, active: Context | undefined): <S>(step: () => S) => S {
  return active ? (step) => api.context.with(active, step) : runHere;
}

function ignore(): void {}

/** Runs a step where it is called. */
export function runHere<S>(step: () => S): S {
  return step();
}

/**
 * A stream that runs each step inside `run` (which makes the call's span the
 * active context: a generator's body runs when it is iterated, not when it is
 * made) and calls `end` once, when the stream finishes, fails or is closed
 * early by its consumer.
 */
export function tracedStream<T>(
  source: AsyncIterable<T>,
  run: <R>(step: () => R) => R,
  end: (failed: boolean, error?: unknown) => void,
): AsyncIterable<T> {
  let ended = false;
  const finish = (failed: boolean, error?: unknown) => {
    if (ended) return;
    ended = true;
    end(failed, error);
  };
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const iterator = run(() => source[Symbol.asyncIterator]());
      const step = async (next: () => Promise<IteratorResult<T>>): Promise<IteratorResult<T>> => {
        try {
          const result = await run(next);
          if (result.done) finish(false);
          return result;
        } catch (error) {
          finish(true, error);
          throw error;
        }
      };
      return {
        next: () => step(() => iterator.next()),
        return: (value?: unknown) =>
          step(async () => {
            const result = iterator.return ? await iterator.return(value) : { done: true as const, value: undefined };
            finish(false);
            return result as IteratorResult<T>;
          }),
        throw: (error?: unknown) =>
          step(() => (iterator.throw ? iterator.throw(error) : Promise.reject(error as Error))),
      };
    },
  };
}
