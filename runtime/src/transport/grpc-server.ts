import type {
  Metadata as GrpcMetadata,
  ServerDuplexStream,
  ServerOptions,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
} from "@grpc/grpc-js";
import type { Compression, Metadata } from "../definition/call.js";
import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import { StandardServices } from "./standard-services.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { gzipResponses } from "./grpc-compression.js";
import { requiredFieldChecks } from "./grpc-required.js";
import {
  fromGrpcMetadata,
  grpcCodec,
  grpcJs,
  isEmptyMetadata,
  messageOf,
  toGrpcMetadata,
  toServiceStatus,
  untilWritable,
} from "./grpc-wire.js";
import type { ServerCall, ServerHandler, ServerTransport } from "./transport.js";
import { type CallsInFlight, logHandlerFailure, ServerCallContext } from "./server-context.js";
import { type ServerKeepaliveOptions, serverKeepalive } from "./keepalive.js";

/** Where the server reports handler failures, and what handlers log through: a pino-style logger. */
export type ServerErrorLogger = Logger;

/** Options of createGrpcServerTransport. */
export interface GrpcServerTransportOptions extends ServerKeepaliveOptions {
  /**
   * Receives handler failures that are not TsmicroErrors, with their stack;
   * each call's `context.logger` is a child of it naming the method. Default: pino on stdout.
   */
  readonly logger?: ServerErrorLogger;
  /** Serves grpc.health.v1.Health; every service starts NOT_SERVING until `setServing(true)`. */
  readonly health?: boolean;
  /** Serves gRPC server reflection (v1 and v1alpha) for the added services. */
  readonly reflection?: boolean;
  /** Compresses every response message (gzip); requests arrive in any encoding grpc-js reads. Default identity. */
  readonly compression?: Compression;
  /** The largest request message accepted, in bytes; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB; -1 for no limit. */
  readonly maxReceiveMessageBytes?: number;
  /** The largest response message sent, in bytes; larger ones fail RESOURCE_EXHAUSTED. Default no limit (-1). */
  readonly maxSendMessageBytes?: number;
  /** grpc-js server options; the message size fields above win over the same keys here. */
  readonly serverOptions?: ServerOptions;
}

/** A gRPC server transport, with the health status a service flips as it starts and drains. */
export interface GrpcServerTransport extends ServerTransport {
  /** Sets the health status of the server ("") and of every added service; no effect without `health`. */
  setServing(serving: boolean): void;
  /**
   * Adds descriptors reflection serves by file and symbol besides the added
   * services' (a base64 FileDescriptorSet, such as an events definition's),
   * so tools and the gateway find messages no RPC uses; they name no
   * service. Before `listen`; no effect without `reflection`.
   */
  reflect(fileDescriptorSet: string): void;
}

/** What a caller sees when a handler fails with anything but a TsmicroError: nothing of the failure itself. */
const internalStatus = Object.freeze({ code: Code.INTERNAL, details: "internal error" });
const internalError = new TsmicroError(Code.INTERNAL, internalStatus.details);

/**
 * Serves service definitions over gRPC with @grpc/grpc-js: messages through
 * the generated codecs, each call through the handler given to `add`, and,
 * on request, the standard health and reflection services.
 */
export function createGrpcServerTransport(options: GrpcServerTransportOptions = {}): GrpcServerTransport {
  const logger = options.logger ?? createLogger();
  const server = new (grpcJs().Server)(serverOptionsOf(options));
  const gzip = options.compression === "gzip";
  const standard = new StandardServices(options);
  let listening = false;
  let stopping: Promise<void> | undefined;

  const fail: Fail = (error, context) => {
    logHandlerFailure(context, error);
    try {
      // Trailers the handler set go out with any status, a failure's too.
      return toServiceStatus(isTsmicroError(error) ? error : internalError, context.responseTrailer);
    } catch (metadataError) {
      logger.error(
        { err: metadataError, method: context.method.path, peer: context.peer },
        "invalid trailer metadata; answered INTERNAL",
      );
      return internalStatus;
    }
  };

  /** Registers each method of a definition with grpc-js, through `handler`. */
  const serve = (service: ServiceDefinition, handler: ServerHandler) => {
    const checks = requiredFieldChecks(service);
    for (const method of Object.values(service.methods)) {
      const codec = grpcCodec(method.output);
      const input = grpcCodec(method.input);
      const check = checks.get(method.path);
      // A request lacking a proto2 required field decodes to the error it gets, which the
      // handler below throws (or a request stream, at that message): grpc-js answers a
      // deserializer's own throw with INTERNAL.
      const deserialize = check ? (bytes: Buffer) => check(bytes) ?? input.deserialize(bytes) : input.deserialize;
      const bound = bind(service, method, check ? refusingInvalid(handler) : handler, fail, logger, {
        serialize: codec.serialize,
        gzip,
        inFlight: standard.inFlight,
      });
      if (!server.register(method.path, bound.func, codec.serialize, deserialize, bound.type)) {
        throw new Error(`${method.path} is served twice: add ${service.typeName} once`);
      }
    }
  };
  for (const [definition, handler] of standard.health()) serve(definition, handler);

  return {
    add(service, handler) {
      if (listening) throw new Error(`add(${service.typeName}) after listen: add every service before listening`);
      serve(service, handler);
      standard.added(service);
    },

    async listen(address) {
      if (listening) throw new Error(`listen(${address}): the server is already listening`);
      listening = true;
      for (const [definition, handler] of standard.reflection()) serve(definition, handler);
      const port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(address, grpcJs().ServerCredentials.createInsecure(), (error, boundPort) => {
          if (error) reject(new Error(`cannot listen on ${address}: ${error.message}`, { cause: error }));
          else resolve(boundPort);
        });
      });
      return `${address.slice(0, address.lastIndexOf(":"))}:${port}`;
    },

    stop(graceMs) {
      if (!stopping) standard.stopping();
      stopping ??= new Promise<void>((resolve) => {
        // tryShutdown refuses new calls and waits for the ones in flight; the
        // timer bounds that wait and then cancels what is left, which aborts
        // those handlers' signals.
        const timer = setTimeout(() => {
          standard.cutting(graceMs, logger);
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return stopping;
    },

    setServing(value) {
      standard.setServing(value);
    },

    reflect(fileDescriptorSet) {
      standard.reflect(fileDescriptorSet);
    },
  };
}

/** A handler that answers a request the deserializer refused (a TsmicroError in its place) with that error. */
function refusingInvalid(handler: ServerHandler): ServerHandler {
  return (call) => {
    if (call.request instanceof TsmicroError) throw call.request;
    return handler(call);
  };
}

/** What every kind of grpc-js server call offers that a context needs. */
type SurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getDeadline" | "getPeer" | "sendMetadata"> & {
  once(event: "cancelled", listener: () => void): unknown;
};

/** Turns a handler's failure into the status the caller gets, logging what the caller must not see. */
type Fail = (error: unknown, context: ServerCallContext) => { code: number; details: string; metadata?: GrpcMetadata };

/** How a method's responses are framed: its serializer, and whether the server gzips them by default. */
/** How a method's calls answer (framing, compression), and the server's count of them. */
interface ResponseFraming {
  readonly serialize: (message: unknown) => Buffer;
  readonly gzip: boolean;
  readonly inFlight: CallsInFlight;
}

type Bound =
  | { type: "unary"; func: handleUnaryCall<unknown, unknown> }
  | { type: "serverStream"; func: handleServerStreamingCall<unknown, unknown> }
  | { type: "clientStream"; func: handleClientStreamingCall<unknown, unknown> }
  | { type: "bidi"; func: handleBidiStreamingCall<unknown, unknown> };

/** The grpc-js handler of one method: built once at `add`, so a call allocates only its context. */
function bind(
  service: ServiceDefinition,
  method: MethodDefinition,
  handler: ServerHandler,
  fail: Fail,
  logger: Logger,
  responses: ResponseFraming,
): Bound {
  const methodLogger = logger.child({ method: method.path });
  switch (method.kind) {
    case "unary":
      return {
        type: "unary",
        func: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          const context = grpcCallContext(method, call, methodLogger, responses);
          void answer(handler, { service, method, request: call.request, context }, context, callback, fail);
        },
      };
    case "server_streaming":
      return {
        type: "serverStream",
        func: (call: ServerWritableStream<unknown, unknown>) => {
          const context = grpcCallContext(method, call, methodLogger, responses);
          void answerStream(handler, { service, method, request: call.request, context }, context, call, fail);
        },
      };
    case "client_streaming":
      return {
        type: "clientStream",
        func: (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          const context = grpcCallContext(method, call, methodLogger, responses);
          const refused: RefusedRequest = {};
          const request = readRequests(call, context, refused);
          void answer(handler, { service, method, request, context }, context, callback, fail, refused);
        },
      };
    case "bidi_streaming":
      return {
        type: "bidi",
        func: (call: ServerDuplexStream<unknown, unknown>) => {
          const context = grpcCallContext(method, call, methodLogger, responses);
          const refused: RefusedRequest = {};
          const request = readRequests(call, context, refused);
          void answerStream(handler, { service, method, request, context }, context, call, fail, refused);
        },
      };
  }
}

/** A grpc-js call's context: its header goes out through grpc-js, gzipped by swapping the call's framing. */
function grpcCallContext(
  method: MethodDefinition,
  call: SurfaceCall,
  logger: Logger,
  framing: ResponseFraming,
): ServerCallContext {
  const deadline = call.getDeadline();
  const context = new ServerCallContext({
    method,
    metadata: fromGrpcMetadata(call.metadata),
    deadline: deadline instanceof Date ? deadline : deadline === Infinity ? undefined : new Date(deadline),
    peer: call.getPeer(),
    logger,
    gzip: framing.gzip,
    inFlight: framing.inFlight,
    // With nothing set and no compression, grpc-js sends its default header itself.
    // Metadata grpc-js refuses throws a plain Error, so INTERNAL.
    sendHeader: (header, gzip) => {
      const gzipped = gzip && gzipResponses(call, framing.serialize);
      if (isEmptyMetadata(header) && !gzipped) return;
      const metadata = responseMetadata(header, "header");
      if (gzipped) metadata.set("grpc-encoding", "gzip");
      call.sendMetadata(metadata);
    },
  });
  // grpc-js also emits `cancelled` after every call it completed normally;
  // the context ignores those once the handler has finished.
  call.once("cancelled", () => context.cancel());
  return context;
}

/** The trailer to send with an OK status, or undefined when none was set. */
function trailerOf(context: ServerCallContext): GrpcMetadata | undefined {
  return isEmptyMetadata(context.responseTrailer) ? undefined : responseMetadata(context.responseTrailer, "trailer");
}

/** Response metadata for grpc-js; a refused key is the handler's bug, so a plain Error (INTERNAL, logged). */
function responseMetadata(record: Metadata, what: string): GrpcMetadata {
  try {
    return toGrpcMetadata(record);
  } catch (error) {
    throw new Error(`invalid response ${what} metadata: ${messageOf(error)}`, { cause: error });
  }
}

/** The status of a failed call; sends a header set but not yet sent first, as grpc-go does. */
function failure(error: unknown, context: ServerCallContext, fail: Fail): ReturnType<Fail> {
  const status = fail(error, context);
  try {
    context.flushHeader();
  } catch {
    // The header is invalid: the failure's status still goes out, without it.
  }
  return status;
}

/**
 * A request message of a stream the server refused (one lacking a required field): the handler's
 * request stream throws it, and the call fails with it even if the handler carried on.
 */
interface RefusedRequest {
  error?: TsmicroError;
}

/** Answers a unary or client-streaming call with the handler's one response. */
async function answer(
  handler: ServerHandler,
  call: ServerCall,
  context: ServerCallContext,
  callback: sendUnaryData<unknown>,
  fail: Fail,
  refused?: RefusedRequest,
): Promise<void> {
  let response: unknown;
  let trailer: GrpcMetadata | undefined;
  try {
    response = await handler(call);
    if (refused?.error) throw refused.error;
    context.finish();
    context.flushHeader();
    trailer = trailerOf(context);
  } catch (error) {
    context.finish();
    callback(failure(refused?.error ?? error, context, fail));
    return;
  }
  callback(null, response, trailer);
}

/** Answers a server- or bidi-streaming call: writes each response as the stream takes it, then ends. */
async function answerStream(
  handler: ServerHandler,
  call: ServerCall,
  context: ServerCallContext,
  stream: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  fail: Fail,
  refused?: RefusedRequest,
): Promise<void> {
  let trailer: GrpcMetadata | undefined;
  try {
    for await (const response of handler(call) as AsyncIterable<unknown>) {
      // Leaving the loop returns the handler's iterator, so its finally blocks run.
      if (stream.cancelled) break;
      context.flushHeader();
      if (!stream.write(response)) await untilWritable(stream);
    }
    if (refused?.error) throw refused.error;
    context.finish();
    if (stream.cancelled) return;
    context.flushHeader();
    trailer = trailerOf(context);
  } catch (error) {
    context.finish();
    // grpc-js turns an `error` event into the call's status.
    if (!stream.cancelled) stream.emit("error", failure(refused?.error ?? error, context, fail));
    return;
  }
  stream.end(trailer);
}

/**
 * The requests of a client- or bidi-streaming call; a cancelled call throws the signal's reason,
 * and a message the deserializer refused (a TsmicroError in its place) throws that error.
 */
async function* readRequests(
  stream: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  context: ServerCallContext,
  refused: RefusedRequest,
): AsyncIterable<unknown> {
  try {
    // A handler that stops reading must not destroy the stream: a bidi
    // handler may still be writing responses to it.
    for await (const request of stream.iterator({ destroyOnReturn: false })) {
      if (request instanceof TsmicroError) {
        refused.error = request;
        throw request;
      }
      yield request;
    }
    // A cancelling client closes its HTTP/2 stream with END_STREAM just
    // before RST_STREAM, so a cancel first looks like the end of the
    // requests. One turn of the event loop lets the reset land, so a
    // cancelled upload fails instead of passing for a complete one.
    await new Promise(setImmediate);
  } catch (error) {
    throw context.signal.aborted ? context.signal.reason : error;
  }
  if (context.signal.aborted) throw context.signal.reason;
}

/**
 * grpc-js server options: the given ones, with the message size limits set by their own fields.
 * Channelz stays on here (clients turn it off): without it grpc-js 1.14 does not track its
 * sessions, and forceShutdown leaves the calls still running after the grace period.
 */
function serverOptionsOf(options: GrpcServerTransportOptions): ServerOptions {
  const serverOptions: ServerOptions = { ...options.serverOptions };
  const keepalive = serverKeepalive(options);
  if (keepalive) {
    serverOptions["grpc.keepalive_time_ms"] = keepalive.intervalMs;
    serverOptions["grpc.keepalive_timeout_ms"] = keepalive.timeoutMs;
  }
  if (options.maxReceiveMessageBytes !== undefined) {
    serverOptions["grpc.max_receive_message_length"] = options.maxReceiveMessageBytes;
  }
  if (options.maxSendMessageBytes !== undefined) {
    serverOptions["grpc.max_send_message_length"] = options.maxSendMessageBytes;
  }
  return serverOptions;
}
