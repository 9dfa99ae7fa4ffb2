import type { Logger } from "../logging/logger.js";
import type { MethodDefinition } from "./definition.js";

/** gRPC metadata (headers or trailers): lower-case keys; `-bin` keys carry bytes. */
export type Metadata = Record<string, string | Uint8Array | ReadonlyArray<string | Uint8Array>>;

/** How messages are compressed on the wire: `gzip`, or `identity` for not at all. */
export type Compression = "gzip" | "identity";

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
  /** The caller's address, `host:port` as grpc-js names peers: `127.0.0.1:53122`, `[::1]:53122`. */
  readonly peer: string;
  /** The service's logger, naming the method. */
  readonly logger: Logger;
  /**
   * The response's header metadata so far. Handlers and middleware may read
   * and change it until it is sent (with the first response message, the
   * status, or `sendHeader`); after that it is frozen.
   */
  readonly responseHeader: Metadata;
  /** The response's trailer metadata so far, sent with the status (also a failed one); changeable until then. */
  readonly responseTrailer: Metadata;
  /**
   * Adds header metadata to the response (each key replaces the same key set
   * before), as grpc-go's `SetHeader`. Throws once the header was sent.
   */
  setHeader(metadata: Metadata): void;
  /**
   * Sends the header now, with `metadata` added: for streams that wait before
   * their first message. Throws if the header was already sent.
   */
  sendHeader(metadata?: Metadata): void;
  /** Adds trailer metadata to the response (each key replaces the same key set before), as grpc-go's `SetTrailer`. */
  setTrailer(metadata: Metadata): void;
  /**
   * Compresses this call's responses (`gzip`) or not (`identity`), over the
   * server's `--server_compression`, as grpc-go's `SetSendCompressor`.
   * Throws once the header was sent.
   */
  setCompression(compression: Compression): void;
}

/** Per-call options of a client. */
export interface CallOptions {
  /** Metadata sent with the request. */
  readonly metadata?: Metadata;
  /**
   * Milliseconds before the call fails with DEADLINE_EXCEEDED; `Infinity`
   * for no deadline (a parent call's deadline still applies).
   */
  readonly timeoutMs?: number;
  /** Cancels the call; the error the caller gets names the signal's reason. */
  readonly signal?: AbortSignal;
  /** Receives the response's header metadata, once it arrives (not at all for a call that fails before it). */
  readonly onHeader?: (metadata: Metadata) => void;
  /** Receives the response's trailer metadata with the status, for a failed call too. */
  readonly onTrailer?: (metadata: Metadata) => void;
  /** Compresses this call's requests; default the client's setting (`--client_compression`). */
  readonly compression?: Compression;
  /**
   * Waits for the server to become reachable instead of failing at once with
   * UNAVAILABLE when it is not (until the deadline), as gRPC's wait-for-ready;
   * through the registry, also for the service to register a node.
   */
  readonly waitForReady?: boolean;
  /**
   * The call being served when this call is made from a handler: its
   * remaining deadline and cancellation pass on to this call. Inside a
   * service's handlers this is found automatically until the handler has
   * answered (work it leaves running keeps only the call's passed-on
   * metadata); pass it where that cannot work (in a callback of an emitter
   * made outside the handler), or to bound such work by the call after all.
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
