/**
 * What the gRPC server and client transports share: codecs as grpc-js
 * serializers, metadata between tsmicro's plain records and grpc-js's class,
 * status conversion, and waiting out backpressure.
 */
import type { Metadata as GrpcMetadata, MetadataOptions, ServiceError } from "@grpc/grpc-js";
import { lazily, lazyModule } from "../platform/lazy-module.js";
import type { EventEmitter } from "node:events";
import { type OutgoingHttpHeaders, sensitiveHeaders } from "node:http2";
import type { Metadata } from "../definition/call.js";
import type { MessageCodec } from "../definition/definition.js";
import { decodeStatus, encodeStatus, statusDetailsKey } from "../errors/error-details.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import { answerTooLargeKey, isSizeLimit, messageOf, sizeLimitWording } from "./call-errors.js";
import { encodeBytes } from "./message-bytes.js";
import { perCallHeaders } from "./per-call-headers.js";
import { socketMeaning } from "./socket-failure.js";

/** @grpc/grpc-js, loaded by the first grpc transport made: importing the runtime, or serving on h2 only, does not load it. */
export const grpcJs = lazyModule<typeof import("@grpc/grpc-js")>("@grpc/grpc-js");

/** A codec as grpc-js wants it: messages to Buffers and back. */
export interface GrpcCodec<T> {
  readonly serialize: (message: T) => Buffer;
  readonly deserialize: (bytes: Buffer) => T;
}

/** Wraps a message codec for grpc-js; built once per method, never per call. */
export function grpcCodec<T>(codec: MessageCodec<T>): GrpcCodec<T> {
  return {
    // grpc-js copies the bytes into its frame with Buffer methods, so it needs a
    // Buffer: a view over the encoder's memory costs no copy.
    serialize: (message) => asBuffer(encodeBytes(codec, message)),
    // Buffer is a Uint8Array, so decoders take grpc-js's frame as it comes.
    deserialize: (bytes) => codec.decode(bytes),
  };
}

/** A Buffer over the same memory as `bytes`, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Incoming grpc-js metadata as a plain record: one value as itself, repeated keys as arrays, `-bin` values as bytes. */
export function fromGrpcMetadata(metadata: GrpcMetadata): Metadata {
  // toJSON hands over grpc-js's value arrays without copying them; only
  // single values are unwrapped, in place.
  const record: Record<string, string | Uint8Array | (string | Uint8Array)[]> = metadata.toJSON();
  for (const key in record) {
    const values = record[key] as (string | Uint8Array)[];
    if (values.length === 1) record[key] = values[0] as string | Uint8Array;
  }
  return record;
}

/** Outgoing metadata for grpc-js; a key grpc-js refuses is the caller's mistake, so INVALID_ARGUMENT. */
export function toGrpcMetadata(record: Metadata, options?: MetadataOptions): GrpcMetadata {
  return filled(new (grpcJs().Metadata)(options), record);
}

/** A call's metadata for grpc-js, as toGrpcMetadata; its perCallHeaders go never-indexed, as the h2 client sends them. */
export function callMetadata(record: Metadata, options?: MetadataOptions): GrpcMetadata {
  return filled(new (neverIndexingMetadata())(options), record);
}

/**
 * grpc-js's Metadata, sending perCallHeaders never-indexed: grpc-js copies a call's metadata with
 * clone() on its way to the wire, and writes it with toHttp2Headers(), so both are its own.
 */
const neverIndexingMetadata = lazily(() => {
  const { Metadata: GrpcJsMetadata } = grpcJs();
  return class NeverIndexingMetadata extends GrpcJsMetadata {
    override clone(): NeverIndexingMetadata {
      const copy = new NeverIndexingMetadata(this.getOptions());
      copy.merge(this);
      return copy;
    }

    override toHttp2Headers(): OutgoingHttpHeaders {
      const headers = super.toHttp2Headers();
      // Node's types leave out the symbol key it reads the list from.
      (headers as Record<symbol, unknown>)[sensitiveHeaders] = perCallHeaders;
      return headers;
    }
  };
});

function filled(metadata: GrpcMetadata, record: Metadata): GrpcMetadata {
  for (const key in record) {
    const value = record[key];
    try {
      if (typeof value === "string" || value instanceof Uint8Array) {
        metadata.set(key, toGrpcValue(value));
      } else if (value !== undefined) {
        for (const item of value) metadata.add(key, toGrpcValue(item));
      }
    } catch (error) {
      throw new TsmicroError(Code.INVALID_ARGUMENT, `metadata ${key}: ${messageOf(error)}`, { cause: error });
    }
  }
  return metadata;
}

function toGrpcValue(value: string | Uint8Array): string | Buffer {
  return typeof value === "string" ? value : asBuffer(value);
}

/** True when a metadata record has no keys. */
export function isEmptyMetadata(record: Metadata): boolean {
  for (const _ in record) return false;
  return true;
}

/**
 * The status a TsmicroError answers with: `trailer` (what the handler set)
 * and the error's own metadata as trailers, details as
 * `grpc-status-details-bin`. Throws INVALID_ARGUMENT for a key grpc-js refuses.
 */
export function toServiceStatus(
  error: TsmicroError,
  trailer?: Metadata,
): { code: number; details: string; metadata?: GrpcMetadata } {
  const withTrailer = trailer !== undefined && !isEmptyMetadata(trailer);
  const withOwn = !isEmptyMetadata(error.metadata);
  if (error.details.length === 0 && !withTrailer && !withOwn) return { code: error.code, details: error.message };
  const metadata = toGrpcMetadata(
    withTrailer && withOwn ? { ...trailer, ...error.metadata } : withOwn ? error.metadata : (trailer ?? {}),
  );
  if (error.details.length > 0) {
    metadata.set(statusDetailsKey, Buffer.from(encodeStatus(error.code, error.message, error.details)));
  }
  return { code: error.code, details: error.message, metadata };
}

/**
 * A failed call's grpc-js error as a TsmicroError with its details; retryable follows the code.
 * `call`, the method's path and the node's address, names the call where grpc-js words a failure
 * itself (see ownWording).
 */
export function fromServiceError(error: unknown, call?: CalledNode): TsmicroError {
  if (isTsmicroError(error)) return error;
  if (isServiceError(error)) {
    const [bytes] = error.metadata?.get(statusDetailsKey) ?? [];
    const status = bytes instanceof Uint8Array ? decodeStatus(bytes) : undefined;
    // A size-limit failure grpc-js made itself (a status of its own has no metadata at all, not
    // even a server's content-type) is this client refusing an answer: worded and marked as the
    // h2 client's own refusal.
    const refusedAnswer = clientRefusalWording(error.code, error.details, error.metadata);
    const message = refusedAnswer ?? ownWording(error.code, error.details, call);
    return new TsmicroError(error.code as Code, message, {
      cause: error,
      // The same message is over the same limit on every node.
      ...(isSizeLimit(error.code, message) ? { retryable: false } : {}),
      // grpc-js fails a call this way only when no connection to the node was ever made for it.
      unprocessed: error.code === Code.UNAVAILABLE && error.details.startsWith("No connection established"),
      mayHaveBeenApplied: endedWithoutAnswer(error.code, error.details),
      details: status?.details ?? [],
      // The trailers, so callers read what the server set with the failure.
      ...(error.metadata ? { metadata: trailersOf(error.metadata) } : {}),
      ...(refusedAnswer === undefined ? {} : { metadata: { [answerTooLargeKey]: "1" } }),
    });
  }
  return new TsmicroError(Code.INTERNAL, messageOf(error), { cause: error });
}

/** A call and the node it went to, as a failure names them. */
export interface CalledNode {
  readonly path: string;
  readonly address: string;
}

/**
 * A status grpc-js made up itself, worded as the h2 transport words it (what a gateway's error
 * body quotes): no connection, one that dropped under the call, a message over a size limit,
 * and a deadline that passed; any other status as it came.
 */
function ownWording(code: number, details: string, call: CalledNode | undefined): string {
  const path = call?.path;
  if (code === Code.UNAVAILABLE && details.startsWith("No connection established")) return unreachable(details, path);
  if (code === Code.UNAVAILABLE && details === "Connection dropped" && call)
    return `the connection to ${call.address} dropped during ${call.path}`;
  const sizeLimit = sizeLimitWording(code, details);
  if (sizeLimit !== undefined) return sizeLimit;
  // "Deadline exceeded after 0.295s,LB pick: 0.001s,remote_addr=10.0.0.7:50051"
  if (code === Code.DEADLINE_EXCEEDED && details.startsWith("Deadline exceeded after"))
    return `Deadline exceeded: ${path ?? "the call"} got no answer in time`;
  return details;
}

/**
 * grpc-js's "No connection established. Last error: Error: connect ECONNREFUSED 10.0.0.7:50051.
 * Resolution note: ": the node, the call, the socket's error and what it means for the node.
 */
function unreachable(details: string, path: string | undefined): string {
  const socket = /connect (E[A-Z]+) (\S+?)\.?(?:\s|$)/.exec(details);
  const call = path === undefined ? "" : ` for ${path}`;
  if (!socket) return `cannot reach the node${call}: ${details.replace(/\.?\s*Resolution note:.*$/s, "")}`;
  const [, code, address] = socket;
  const meaning = socketMeaning(code);
  return `cannot reach ${address}${call}: connect ${code} ${address}${meaning ? `: ${meaning}` : ""}`;
}

/**
 * A failure's trailers as the application set them: without the HTTP and
 * gRPC keys a trailers-only response also carries (content-type, date,
 * grpc-*), so rethrowing the error upstream does not forward them.
 */
/**
 * "the client received a message of 12 bytes, over its limit of 4 (--client_max_recv_msg_size)"
 * for grpc-js's own refusal of an answer over this client's limit; undefined for any other status.
 */
function clientRefusalWording(code: number, details: string, metadata: GrpcMetadata | undefined): string | undefined {
  if (code !== Code.RESOURCE_EXHAUSTED || (metadata !== undefined && Object.keys(metadata.getMap()).length > 0))
    return undefined;
  const tooLarge = /^Received message larger than max \((\d+) vs (\d+)\)$/.exec(details);
  return tooLarge
    ? `the client received a message of ${tooLarge[1]} bytes, over its limit of ${tooLarge[2]} (--client_max_recv_msg_size)`
    : undefined;
}

function trailersOf(metadata: GrpcMetadata): Metadata {
  const record = fromGrpcMetadata(metadata) as Record<string, Metadata[string]>;
  for (const key in record) {
    if (key === "content-type" || key === "date" || key.startsWith("grpc-")) delete record[key];
  }
  return record;
}

/**
 * Whether grpc-js made the status up itself for a call it had sent, with no
 * status from the server: the connection dropped or broke, the stream was
 * reset, or the deadline passed while the call was on a connection
 * (grpc-js names its `remote_addr` then).
 */
function endedWithoutAnswer(code: number, details: string): boolean {
  switch (code) {
    case Code.UNAVAILABLE:
      return details === "Connection dropped" || /\bE(CONNRESET|TIMEDOUT|PIPE)\b/.test(details);
    case Code.INTERNAL:
      return details.startsWith("Received RST_STREAM with code");
    case Code.CANCELLED:
      return details === "Call cancelled";
    case Code.DEADLINE_EXCEEDED:
      return details.startsWith("Deadline exceeded after") && details.includes("remote_addr=");
    default:
      return false;
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === "number" &&
    typeof (error as Partial<ServiceError>).details === "string"
  );
}

export { messageOf } from "./call-errors.js";

/**
 * Resolves when a stream that refused a write may take more: on `drain`, or
 * when it closes or its call ends, after which no `drain` would ever come.
 */
export function untilWritable(stream: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      stream.off("status", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
    stream.on("status", done);
  });
}
