import type { MethodDefinition, MethodKind } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { CallResult } from "./transport.js";

/** True for kinds whose handlers return an AsyncIterable of responses rather than a Promise of one. */
export function streamsResponses(kind: MethodKind): boolean {
  return kind === "server_streaming" || kind === "bidi_streaming";
}

/** A call failed before it ran, in the shape its kind returns: a rejected Promise, or a stream that throws at once. */
export function failedCall(kind: MethodKind, error: unknown): CallResult {
  if (!streamsResponses(kind)) return Promise.reject(error);
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(error),
    }),
  };
}

/** True for a stream result, false for a promise (or a plain value). */
export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

/**
 * A middleware's or handler's calls, their results shaped as the layers around them and the
 * transports take them: for a streaming method, an `async` middleware's Promise becomes the
 * stream it resolves to (its rejection that stream's error, never an unhandled rejection), and
 * a synchronous throw a stream that fails. Code of the user's (serverMiddleware, clientMiddleware,
 * handlers) passes through this; tsmicro's own layers return the right shape already.
 */
export function shapedByKind<C extends { readonly method: MethodDefinition }>(
  handler: (call: C) => CallResult,
): (call: C) => CallResult {
  return (call) => {
    if (!streamsResponses(call.method.kind)) return handler(call);
    let result: unknown;
    try {
      result = handler(call);
    } catch (error) {
      return failedCall(call.method.kind, error);
    }
    return isAsyncIterable(result) ? result : streamOf(result, call.method);
  };
}

/** What a streaming method's code gave instead of an AsyncIterable: a Promise of one (awaited), or a mistake. */
function streamOf(result: unknown, method: MethodDefinition): AsyncIterable<unknown> {
  if (!isThenable(result)) return failedCall(method.kind, notAStream(result, method)) as AsyncIterable<unknown>;
  const settled = Promise.resolve(result);
  // Handled now: the stream may be dropped before anyone asks for its first message.
  settled.catch(() => undefined);
  return (async function* awaited() {
    const stream = await settled;
    if (!isAsyncIterable(stream)) throw notAStream(stream, method);
    yield* stream;
  })();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function notAStream(value: unknown, method: MethodDefinition): TsmicroError {
  const given = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
  return new TsmicroError(
    Code.INTERNAL,
    `${method.path.slice(1)} streams its responses, but a middleware or handler gave ${given} rather than an ` +
      "AsyncIterable (an async generator, or a Promise of one)",
  );
}

/** The user's middleware, each shaped by kind (see shapedByKind). */
export function ownMiddleware<C extends { readonly method: MethodDefinition }>(
  middleware: readonly ((next: (call: C) => CallResult) => (call: C) => CallResult)[] = [],
): ((next: (call: C) => CallResult) => (call: C) => CallResult)[] {
  return middleware.map((wrap) => (next) => shapedByKind(wrap(next)));
}
