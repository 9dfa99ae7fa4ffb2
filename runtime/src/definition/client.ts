import type { CallOptions, CallContext, Caller } from "./call.js";
import type { DeepPartial, InputOf, MethodDefinition, MethodKind, OutputOf, ServiceDefinition } from "./definition.js";

/** Requests a client may stream: any iterable of partial messages. */
export type RequestStream<I> = AsyncIterable<DeepPartial<I>> | Iterable<DeepPartial<I>>;

/** The client signature of one method, from its kind. */
export type ClientMethod<M> = M extends { readonly kind: infer K extends MethodKind }
  ? K extends "unary"
    ? (request: DeepPartial<InputOf<M>>, options?: CallOptions) => Promise<OutputOf<M>>
    : K extends "server_streaming"
      ? (request: DeepPartial<InputOf<M>>, options?: CallOptions) => AsyncIterable<OutputOf<M>>
      : K extends "client_streaming"
        ? (requests: RequestStream<InputOf<M>>, options?: CallOptions) => Promise<OutputOf<M>>
        : (requests: RequestStream<InputOf<M>>, options?: CallOptions) => AsyncIterable<OutputOf<M>>
  : never;

/**
 * The handler signature of one method, from its kind. Types come from the codecs' `decode`:
 * matching `MethodDefinition<infer I, …>` fails for messages whose ts-proto `fromPartial` takes a
 * wider partial (64-bit fields and arrays together), which would type the handler as never.
 */
export type HandlerMethod<M> = M extends { readonly kind: infer K extends MethodKind }
  ? K extends "unary"
    ? (request: InputOf<M>, context: CallContext) => Promise<OutputOf<M>>
    : K extends "server_streaming"
      ? (request: InputOf<M>, context: CallContext) => AsyncIterable<OutputOf<M>>
      : K extends "client_streaming"
        ? (requests: AsyncIterable<InputOf<M>>, context: CallContext) => Promise<OutputOf<M>>
        : (requests: AsyncIterable<InputOf<M>>, context: CallContext) => AsyncIterable<OutputOf<M>>
  : never;

/** A typed client for a service definition. */
export type ClientOf<S extends ServiceDefinition> = { [K in keyof S["methods"]]: ClientMethod<S["methods"][K]> };

/** What a server needs to serve a service definition. */
export type HandlerOf<S extends ServiceDefinition> = { [K in keyof S["methods"]]: HandlerMethod<S["methods"][K]> };

/**
 * The caller's requests with defaults filled in. A hand-written iterator,
 * not a generator: a generator busy awaiting the caller's next request would
 * queue `return()` until that request came, while this one passes it on at
 * once, so a call that ends closes the caller's iterator (an `events.on`
 * stream, a queue) right away.
 */
function completeAll<I>(method: MethodDefinition<I>, requests: RequestStream<I>): AsyncIterable<I> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<I> {
      const inner: AsyncIterator<DeepPartial<I>> | Iterator<DeepPartial<I>> =
        Symbol.asyncIterator in requests ? requests[Symbol.asyncIterator]() : requests[Symbol.iterator]();
      return {
        async next(): Promise<IteratorResult<I>> {
          const result = await inner.next();
          return result.done
            ? { done: true, value: undefined }
            : { done: false, value: method.input.fromPartial(result.value) };
        },
        async return(): Promise<IteratorResult<I>> {
          await inner.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * Binds a service definition to a caller: each method fills in the request's
 * defaults and hands it to the caller by kind.
 */
export function createClient<S extends ServiceDefinition>(service: S, caller: Caller): ClientOf<S> {
  const client: Record<string, unknown> = {};
  for (const [localName, method] of Object.entries(service.methods)) {
    client[localName] = bindMethod(method, caller);
  }
  return client as ClientOf<S>;
}

function bindMethod<I, O>(method: MethodDefinition<I, O>, caller: Caller): unknown {
  switch (method.kind) {
    case "unary":
      return (request: DeepPartial<I>, options?: CallOptions) =>
        caller.unary(method, method.input.fromPartial(request), options);
    case "server_streaming":
      return (request: DeepPartial<I>, options?: CallOptions) =>
        caller.serverStreaming(method, method.input.fromPartial(request), options);
    case "client_streaming":
      return (requests: RequestStream<I>, options?: CallOptions) =>
        caller.clientStreaming(method, completeAll(method, requests), options);
    case "bidi_streaming":
      return (requests: RequestStream<I>, options?: CallOptions) =>
        caller.bidiStreaming(method, completeAll(method, requests), options);
  }
}
