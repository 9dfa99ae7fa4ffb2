import type { CallContext, Compression, Metadata } from "../definition/call.js";
import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";

/** A result of a call: one message, or a stream of them, by the method's kind. */
export type CallResult = Promise<unknown> | AsyncIterable<unknown>;

/** A call as server middleware and handlers see it. */
export interface ServerCall {
  readonly service: ServiceDefinition;
  readonly method: MethodDefinition;
  /** The request message (unary, server streaming) or the stream of them (client, bidi streaming). */
  readonly request: unknown;
  readonly context: CallContext;
}

/** Serves one call. */
export type ServerHandler = (call: ServerCall) => CallResult;

/** Server middleware: `(next) => (call) => result`; in `[a, b]`, a wraps b. */
export type ServerMiddleware = (next: ServerHandler) => ServerHandler;

/** A call as client middleware and transports see it, options resolved. */
export interface ClientCall {
  /** The registry name of the service called, such as `greeter`. */
  readonly service: string;
  readonly method: MethodDefinition;
  /** The request message, or an async iterable of them for client and bidi streaming. */
  readonly request: unknown;
  readonly metadata: Metadata;
  /** When the caller stops waiting; forwarded to the callee as the gRPC deadline. Undefined (or an invalid Date) for none. */
  readonly deadline: Date | undefined;
  readonly signal: AbortSignal | undefined;
  /** Receives the response's header metadata; middleware may wrap it to see or change what the caller gets. */
  readonly onHeader?: ((metadata: Metadata) => void) | undefined;
  /** Receives the response's trailer metadata, also for failed calls; wrappable like `onHeader`. */
  readonly onTrailer?: ((metadata: Metadata) => void) | undefined;
  /** Compresses the requests; default the transport's own setting. */
  readonly compression?: Compression | undefined;
  /** Waits for the server to be reachable (until the deadline) instead of failing at once. */
  readonly waitForReady?: boolean | undefined;
}

/** Sends one call. */
export type ClientHandler = (call: ClientCall) => CallResult;

/** Client middleware: `(next) => (call) => result`; in `[a, b]`, a wraps b. */
export type ClientMiddleware = (next: ClientHandler) => ClientHandler;

/** Wraps a handler in middleware, the first outermost. */
export function chain<H>(middleware: readonly ((next: H) => H)[], handler: H): H {
  return middleware.reduceRight((next, wrap) => wrap(next), handler);
}

/** Sends calls to one address at a time: the wire under the client. */
export interface ClientTransport {
  /** Calls `address` (`host:port`); rejects or throws a TsmicroError on failure. */
  call(address: string, call: ClientCall): CallResult;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** Serves service definitions on a port: the wire under the server. */
export interface ServerTransport {
  /** Serves a definition; each call goes through `handler`. Before `listen`. */
  add(service: ServiceDefinition, handler: ServerHandler): void;
  /** Binds and starts serving; resolves to the bound `host:port` (port 0 picks a free one). */
  listen(address: string): Promise<string>;
  /** Stops accepting calls, waits up to `graceMs` for calls in flight, then cancels the rest. */
  stop(graceMs: number): Promise<void>;
}
