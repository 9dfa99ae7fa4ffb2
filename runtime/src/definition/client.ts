import type { Registry } from "@bufbuild/protobuf";
import type { CallOptions, CallContext, Caller } from "./call.js";
import type { DeepPartial, InputOf, MethodDefinition, MethodKind, OutputOf, ServiceDefinition } from "./definition.js";
import {
  binaryCheck,
  hasRequiredFields,
  missingInRequest,
  missingInResponse,
  objectCheck,
  requiredFieldRegistry,
  type MissingField,
} from "./required-fields.js";

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
function completeAll<I>(
  method: MethodDefinition<I>,
  requests: RequestStream<I>,
  check?: RequestCheck,
): AsyncIterable<I> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<I> {
      const inner: AsyncIterator<DeepPartial<I>> | Iterator<DeepPartial<I>> =
        Symbol.asyncIterator in requests ? requests[Symbol.asyncIterator]() : requests[Symbol.iterator]();
      let index = 0;
      return {
        async next(): Promise<IteratorResult<I>> {
          const result = await inner.next();
          if (result.done) return { done: true, value: undefined };
          const missing = check?.(result.value);
          // Thrown into the transport's read of the stream, which fails the call with it.
          if (missing) throw missingInRequest(missing, `request ${index} of the stream`);
          index++;
          return { done: false, value: method.input.fromPartial(result.value) };
        },
        async return(): Promise<IteratorResult<I>> {
          await inner.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** Finds the first required field a partial request leaves unset. */
type RequestCheck = (request: unknown) => MissingField | undefined;

/**
 * Binds a service definition to a caller: each method fills in the request's
 * defaults and hands it to the caller by kind. For a service whose messages
 * have proto2 required fields, a request that leaves one unset is refused
 * with INVALID_ARGUMENT before it is sent (as protobuf's build() refuses it,
 * rather than sending the zero value fromPartial would fill in), and a
 * response that lacks one fails INTERNAL, naming the field.
 */
export function createClient<S extends ServiceDefinition>(service: S, caller: Caller): ClientOf<S> {
  const client: Record<string, unknown> = {};
  const required = requiredFieldRegistry(service);
  for (const [localName, method] of Object.entries(service.methods)) {
    client[localName] = required ? bindChecked(method, caller, required) : bindMethod(method, caller);
  }
  return client as ClientOf<S>;
}

function bindMethod<I, O>(method: MethodDefinition<I, O>, caller: Caller, check?: RequestCheck): unknown {
  switch (method.kind) {
    case "unary":
      return (request: DeepPartial<I>, options?: CallOptions) => {
        const missing = check?.(request);
        if (missing) return Promise.reject(missingInRequest(missing));
        return caller.unary(method, method.input.fromPartial(request), options);
      };
    case "server_streaming":
      return (request: DeepPartial<I>, options?: CallOptions) => {
        const missing = check?.(request);
        if (missing) return refused(missingInRequest(missing));
        return caller.serverStreaming(method, method.input.fromPartial(request), options);
      };
    case "client_streaming":
      return (requests: RequestStream<I>, options?: CallOptions) =>
        caller.clientStreaming(method, completeAll(method, requests, check), options);
    case "bidi_streaming":
      return (requests: RequestStream<I>, options?: CallOptions) =>
        caller.bidiStreaming(method, completeAll(method, requests, check), options);
  }
}

/**
 * A method of a service with required fields: requests checked as given, and responses checked
 * on their bytes before the generated decoder reads a missing field as its zero value.
 */
function bindChecked<I, O>(method: MethodDefinition<I, O>, caller: Caller, registry: Registry): unknown {
  const input = registry.getMessage(method.inputType);
  const output = registry.getMessage(method.outputType);
  const check = input && hasRequiredFields(input) ? objectCheck(input) : undefined;
  if (!output || !hasRequiredFields(output)) return bindMethod(method, caller, check);
  const checkResponse = binaryCheck(output, missingInResponse);
  const decode = (bytes: Uint8Array): O => {
    const error = checkResponse(bytes);
    if (error) throw error;
    return method.output.decode(bytes);
  };
  return bindMethod({ ...method, output: { ...method.output, decode } }, caller, check);
}

// biome-ignore lint/correctness/useYield: a stream refused before its request was sent yields nothing.
async function* refused(error: Error): AsyncGenerator<never> {
  throw error;
}
