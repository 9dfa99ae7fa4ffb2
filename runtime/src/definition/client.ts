import type { CallOptions, CallContext, Caller } from "./call.js";
import type { DeepPartial, MethodDefinition, MethodKind, ServiceDefinition } from "./definition.js";

/** Requests a client may stream: any iterable of partial messages. */
export type RequestStream<I> = AsyncIterable<DeepPartial<I>> | Iterable<DeepPartial<I>>;

/** The client signature of one method, from its kind. */
export type ClientMethod<M> =
  M extends MethodDefinition<infer I, infer O, infer K extends MethodKind>
    ? K extends "unary"
      ? (request: DeepPartial<I>, options?: CallOptions) => Promise<O>
      : K extends "server_streaming"
        ? (request: DeepPartial<I>, options?: CallOptions) => AsyncIterable<O>
        : K extends "client_streaming"
          ? (requests: RequestStream<I>, options?: CallOptions) => Promise<O>
          : (requests: RequestStream<I>, options?: CallOptions) => AsyncIterable<O>
    : never;

/** The handler signature of one method, from its kind. */
export type HandlerMethod<M> =
  M extends MethodDefinition<infer I, infer O, infer K extends MethodKind>
    ? K extends "unary"
      ? (request: I, context: CallContext) => Promise<O>
      : K extends "server_streaming"
        ? (request: I, context: CallContext) => AsyncIterable<O>
        : K extends "client_streaming"
          ? (requests: AsyncIterable<I>, context: CallContext) => Promise<O>
          : (requests: AsyncIterable<I>, context: CallContext) => AsyncIterable<O>
    : never;

/** A typed client for a service definition. */
export type ClientOf<S extends ServiceDefinition> = { [K in keyof S["methods"]]: ClientMethod<S["methods"][K]> };

/** What a server needs to serve a service definition. */
export type HandlerOf<S extends ServiceDefinition> = { [K in keyof S["methods"]]: HandlerMethod<S["methods"][K]> };

async function* completeAll<I>(method: MethodDefinition<I>, requests: RequestStream<I>): AsyncIterable<I> {
  for await (const request of requests) yield method.input.fromPartial(request);
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
