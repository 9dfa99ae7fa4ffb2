import type { CallOptions, Caller } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import type { ClientCall, ClientTransport } from "../transport/transport.js";
import { invalidTimeout, refusedCall } from "./call-timeout.js";

/** Options of a caller bound to one address. */
export interface DirectCallerOptions {
  readonly transport: ClientTransport;
  /** `host:port`. */
  readonly address: string;
  /** Per-call timeout when the call sets none. Default 5 s. */
  readonly requestTimeoutMs?: number;
}

/**
 * A caller that sends every call to one address, with no registry, selector
 * or retries: for tools (`tsmicro call`, health checks) and tests that talk
 * to one node on purpose.
 */
export function createDirectCaller(options: DirectCallerOptions): Caller {
  const { transport, address } = options;
  const timeoutMs = options.requestTimeoutMs ?? 5_000;
  const resolve = (method: MethodDefinition, request: unknown, callOptions: CallOptions | undefined): ClientCall => ({
    service: address,
    method,
    request,
    metadata: callOptions?.metadata ?? {},
    // timeoutMs: Infinity makes an invalid Date, which the transport reads as no deadline.
    deadline: new Date(Date.now() + (callOptions?.timeoutMs ?? timeoutMs)),
    signal: callOptions?.signal,
    onHeader: callOptions?.onHeader,
    onTrailer: callOptions?.onTrailer,
    compression: callOptions?.compression,
    waitForReady: callOptions?.waitForReady,
  });
  // A call whose options are a mistake (see invalidTimeout) fails unsent.
  const call = (method: MethodDefinition, request: unknown, callOptions: CallOptions | undefined) => {
    const refused = invalidTimeout(method, callOptions);
    return refused
      ? refusedCall(method, request, refused)
      : transport.call(address, resolve(method, request, callOptions));
  };
  return {
    unary: <I, O>(method: MethodDefinition<I, O>, request: I, callOptions?: CallOptions) =>
      call(method as MethodDefinition, request, callOptions) as Promise<O>,
    serverStreaming: <I, O>(method: MethodDefinition<I, O>, request: I, callOptions?: CallOptions) =>
      call(method as MethodDefinition, request, callOptions) as AsyncIterable<O>,
    clientStreaming: <I, O>(method: MethodDefinition<I, O>, requests: AsyncIterable<I>, callOptions?: CallOptions) =>
      call(method as MethodDefinition, requests, callOptions) as Promise<O>,
    bidiStreaming: <I, O>(method: MethodDefinition<I, O>, requests: AsyncIterable<I>, callOptions?: CallOptions) =>
      call(method as MethodDefinition, requests, callOptions) as AsyncIterable<O>,
  };
}
