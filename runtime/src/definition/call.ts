import type { Logger } from "../logging/logger.js";
import type { MethodDefinition } from "./definition.js";

/** Request metadata (gRPC headers): lower-case keys; `-bin` keys carry bytes. */
export type Metadata = Record<string, string | Uint8Array | ReadonlyArray<string | Uint8Array>>;

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** The method being served. */
  readonly method: MethodDefinition;
  /** Metadata the caller sent. */
  readonly metadata: Metadata;
  /** When the caller stops waiting; absent when it set no deadline. */
  readonly deadline: Date | undefined;
  /** Aborted when the caller cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** The caller's address, such as `ipv4:127.0.0.1:53122`. */
  readonly peer: string;
  /** The service's logger, naming the method. */
  readonly logger: Logger;
}

/** Per-call options of a client. */
export interface CallOptions {
  /** Metadata sent with the request. */
  readonly metadata?: Metadata;
  /** Milliseconds before the call fails with DEADLINE_EXCEEDED. */
  readonly timeoutMs?: number;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /**
   * The call being served when this call is made from a handler: its
   * remaining deadline and cancellation pass on to this call. Inside a
   * service's handlers this is found automatically; pass it where that
   * cannot work (in code a streaming handler runs after it has yielded).
   */
  readonly parent?: CallContext;
}

/**
 * Sends calls for clients: the transport, with its middleware, behind a
 * typed client. Requests arrive complete (defaults filled in).
 */
export interface Caller {
  unary<I, O>(method: MethodDefinition<I, O>, request: I, options?: CallOptions): Promise<O>;
  serverStreaming<I, O>(method: MethodDefinition<I, O>, request: I, options?: CallOptions): AsyncIterable<O>;
  clientStreaming<I, O>(method: MethodDefinition<I, O>, requests: AsyncIterable<I>, options?: CallOptions): Promise<O>;
  bidiStreaming<I, O>(
    method: MethodDefinition<I, O>,
    requests: AsyncIterable<I>,
    options?: CallOptions,
  ): AsyncIterable<O>;
}
