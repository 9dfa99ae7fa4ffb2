/**
 * gRPC over HTTP/2 as PROTOCOL-HTTP2.md words it, for tsmicro's own
 * transport on `node:http2`: length-prefixed messages (read back from the
 * DATA chunks as they come), `grpc-timeout`, metadata as headers (`-bin`
 * values base64), and the status in trailers. Shared by the h2 client and
 * server; nothing here holds a connection.
 */
import type { Http2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import type { Compression, Metadata } from "../definition/call.js";
import type { MessageCodec } from "../definition/definition.js";
import { decodeStatus, encodeStatus, statusDetailsKey } from "../errors/error-details.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { writable } from "../platform/writable.js";
import { answerTooLargeKey, isSizeLimit, sizeLimitWording } from "./call-errors.js";
import { encodeBytes, encodeFramed } from "./message-bytes.js";

/** gRPC's default for the largest message a peer accepts: 4 MiB. */
const defaultMaxReceiveBytes = 4 * 1024 * 1024;

/** The limits and defaults every call of one client or server shares; -1: no limit. */
export interface WireLimits {
  readonly maxReceive: number;
  readonly maxSend: number;
  readonly gzip: boolean;
}

/** A transport's limits from its options, with gRPC's defaults: 4 MiB received, no limit sent, identity. */
export function wireLimits(options: {
  readonly maxReceiveMessageBytes?: number | undefined;
  readonly maxSendMessageBytes?: number | undefined;
  readonly compression?: Compression | undefined;
}): WireLimits {
  return {
    maxReceive: options.maxReceiveMessageBytes ?? defaultMaxReceiveBytes,
    maxSend: options.maxSendMessageBytes ?? -1,
    gzip: options.compression === "gzip",
  };
}

/** One message with its 5-byte prefix (compressed flag, big-endian length), gzipped when asked. */
export function frame(message: Uint8Array, gzip: boolean): Buffer {
  const body = gzip ? gzipSync(message) : message;
  const framed = Buffer.allocUnsafe(body.byteLength + 5);
  framed[0] = gzip ? 1 : 0;
  framed.writeUInt32BE(body.byteLength, 1);
  framed.set(body, 5);
  return framed;
}

/** How much of a message goes to node's HTTP/2 stream at a time (see writeFrame). */
const writeSlice = 64 * 1024;

/**
 * Writes one framed message on a stream: at once when it is small, as `stream.write` does, and
 * returns what that returned; a large one a slice at a time as the stream takes them, and the
 * promise resolves once the last is handed over or the stream closed. Handed over whole, a
 * message of a few MiB sat queued in node's HTTP/2 session; when the peer refused it early (over
 * its limit), its answer came while the message was still there, past the session's memory
 * allowance (10 MB by default), and the session refused that answer (ENHANCE_YOUR_CALM) instead
 * of reading RESOURCE_EXHAUSTED, and every later stream's too.
 */
export function writeFrame(stream: Http2Stream, framed: Uint8Array): boolean | Promise<void> {
  if (framed.length <= writeSlice) return stream.write(framed);
  return writeSlices(stream, framed);
}

/**
 * What to wait for after a writeFrame before the next message: nothing when the stream took it
 * and has room, else its drain (or close), or the last slice handed over.
 */
export function nextWrite(stream: Http2Stream, written: boolean | Promise<void>): Promise<void> | undefined {
  if (written === true) return undefined;
  return written === false ? writable(stream) : written;
}

async function writeSlices(stream: Http2Stream, framed: Uint8Array): Promise<void> {
  for (let at = 0; at < framed.length; at += writeSlice) {
    if (stream.destroyed) return;
    if (!stream.write(framed.subarray(at, at + writeSlice))) await writable(stream);
  }
}

/**
 * A message as it goes on the wire: encoded, checked against `maxSend`
 * bytes (-1: no limit; RESOURCE_EXHAUSTED past it), and framed, gzipped when
 * asked.
 */
export function encodeForWire<T>(
  codec: MessageCodec<T>,
  message: T,
  gzip: boolean,
  maxSend: number,
  what: "request" | "response",
): Uint8Array {
  if (gzip) {
    const bytes = encodeBytes(codec, message);
    checkSize(bytes.byteLength, maxSend, what);
    return frame(bytes, true);
  }
  const framed = encodeFramed(codec, message);
  checkSize(framed.byteLength - 5, maxSend, what);
  return framed;
}

function checkSize(size: number, maxSend: number, what: string): void {
  if (maxSend >= 0 && size > maxSend) {
    throw new TsmicroError(Code.RESOURCE_EXHAUSTED, `the ${what} of ${size} bytes is over the limit of ${maxSend}`);
  }
}

/**
 * Reads length-prefixed messages out of DATA chunks, which split and join
 * messages anywhere. A message over `maxBytes` (-1: no limit), or a
 * compressed one in an encoding the peer did not announce, is a
 * TsmicroError thrown from `push`.
 */
export class MessageReader {
  readonly #maxBytes: number;
  readonly #encoding: string | undefined;
  readonly #reader: "server" | "client";
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** `reader` says whose limit `maxBytes` is, for the error that names its flag. */
  constructor(maxBytes: number, encoding: string | undefined, reader: "server" | "client") {
    this.#maxBytes = maxBytes;
    this.#encoding = encoding;
    this.#reader = reader;
  }

  /** Takes a chunk; returns the messages it completes, in order. */
  push(chunk: Buffer): Uint8Array[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    const messages: Uint8Array[] = [];
    while (this.#pendingBytes >= 5) {
      const head = this.#peek(5);
      const length = head.readUInt32BE(1);
      if (this.#maxBytes >= 0 && length > this.#maxBytes) {
        throw this.#tooLarge(`a message of ${length} bytes`);
      }
      if (this.#pendingBytes < 5 + length) break;
      const bytes = this.#take(5 + length).subarray(5);
      messages.push(head[0] === 1 ? this.#inflate(bytes) : bytes);
    }
    return messages;
  }

  /** True when a message has begun and not ended: a stream that closes now was cut short. */
  get partial(): boolean {
    return this.#pendingBytes > 0;
  }

  #inflate(bytes: Buffer): Uint8Array {
    if (this.#encoding !== "gzip") {
      throw new TsmicroError(
        Code.INTERNAL,
        `received a compressed message with grpc-encoding ${this.#encoding ?? "identity"}: only gzip is read`,
      );
    }
    const message = gunzipSync(bytes);
    if (this.#maxBytes >= 0 && message.byteLength > this.#maxBytes) {
      throw this.#tooLarge(`a message of ${message.byteLength} bytes once decompressed`);
    }
    return message;
  }

  /** "the server received a message of 5242888 bytes, over its limit of 4194304 (--server_max_recv_msg_size)" */
  #tooLarge(what: string): TsmicroError {
    const reader = this.#reader;
    return new TsmicroError(
      Code.RESOURCE_EXHAUSTED,
      `the ${reader} received ${what}, over its limit of ${this.#maxBytes} (--${reader}_max_recv_msg_size)`,
      // The client's own refusal of an answer: a failure on the calling side (see answerTooLargeKey).
      { retryable: false, ...(reader === "client" ? { metadata: { [answerTooLargeKey]: "1" } } : {}) },
    );
  }

  #peek(bytes: number): Buffer {
    const first = this.#pending[0]!;
    return first.byteLength >= bytes ? first : Buffer.concat(this.#pending, this.#pendingBytes).subarray(0, bytes);
  }

  #take(bytes: number): Buffer {
    let first = this.#pending[0]!;
    if (first.byteLength < bytes) {
      first = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [first];
    }
    this.#pendingBytes -= bytes;
    if (first.byteLength === bytes) this.#pending.shift();
    else this.#pending[0] = first.subarray(bytes);
    return first.subarray(0, bytes);
  }
}

/**
 * A deadline as `grpc-timeout`: at most 8 digits, in the finest unit that
 * fits. Rounded down, so the server's deadline (from when the header
 * arrives) comes no later than the caller's, and a call that runs out is
 * DEADLINE_EXCEEDED on both sides rather than a cancel the server sees first.
 */
export function timeoutHeader(deadline: Date): string {
  const ms = Math.max(0, Math.floor(deadline.getTime() - Date.now()));
  if (ms < 1e8) return `${ms}m`;
  if (ms < 1e11) return `${Math.floor(ms / 1_000)}S`;
  if (ms < 6e12) return `${Math.floor(ms / 60_000)}M`;
  return `${Math.min(99_999_999, Math.floor(ms / 3_600_000))}H`;
}

const timeoutUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** The deadline a `grpc-timeout` header sets, from now; undefined when absent or malformed. */
export function deadlineOf(header: string | undefined): Date | undefined {
  const match = header === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(header);
  if (!match) return undefined;
  return new Date(Date.now() + Number(match[1]) * timeoutUnits[match[2]!]!);
}

/** Headers that are HTTP's or gRPC's own, never metadata. */
const reservedHeaders = new Set([
  "content-type",
  "te",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "grpc-status",
  "grpc-message",
  "connection",
  "host",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

const legalKey = /^[0-9a-z_.-]+$/;
const legalValue = /^[\x20-\x7e]*$/;

/** Metadata as HTTP/2 headers added to `headers`; a key or value gRPC cannot carry is INVALID_ARGUMENT. */
export function addMetadata(headers: OutgoingHttpHeaders, metadata: Metadata): OutgoingHttpHeaders {
  for (const key in metadata) {
    const value = metadata[key];
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (!legalKey.test(name)) throw new TsmicroError(Code.INVALID_ARGUMENT, `metadata key ${key} is not legal in gRPC`);
    if (reservedHeaders.has(name)) continue;
    const binary = name.endsWith("-bin");
    if (typeof value === "string" || value instanceof Uint8Array) headers[name] = headerValue(name, value, binary);
    else
      headers[name] =
        value.length === 1
          ? headerValue(name, value[0]!, binary)
          : value.map((item) => headerValue(name, item, binary));
  }
  return headers;
}

function headerValue(key: string, value: string | Uint8Array, binary: boolean): string {
  if (binary) return Buffer.from(typeof value === "string" ? Buffer.from(value) : value).toString("base64");
  if (typeof value !== "string") {
    throw new TsmicroError(Code.INVALID_ARGUMENT, `metadata ${key}: bytes need a key ending in -bin`);
  }
  if (!legalValue.test(value)) {
    throw new TsmicroError(Code.INVALID_ARGUMENT, `metadata ${key}: the value holds characters gRPC cannot carry`);
  }
  return value;
}

/** Incoming headers as metadata: pseudo-headers and gRPC's own left out, `-bin` values decoded, repeated keys as arrays. */
export function metadataOf(headers: IncomingHttpHeaders): Metadata {
  const metadata: Record<string, string | Uint8Array | (string | Uint8Array)[]> = {};
  for (const key in headers) {
    if (key.startsWith(":") || reservedHeaders.has(key)) continue;
    const value = headers[key];
    if (value === undefined) continue;
    const binary = key.endsWith("-bin");
    if (!binary && typeof value === "string") {
      metadata[key] = value;
      continue;
    }
    // node joins repeated headers with ", " except set-cookie; gRPC's comma-separated form reads the same.
    const items = (Array.isArray(value) ? value : [value]).flatMap((item) => (binary ? item.split(",") : [item]));
    const decoded = items.map((item) => (binary ? new Uint8Array(Buffer.from(item.trim(), "base64")) : item));
    metadata[key] = decoded.length === 1 ? decoded[0]! : decoded;
  }
  return metadata;
}

/** The stream events a call listens to (node's own listeners are on other events). */
const callEvents = ["response", "trailers", "wantTrailers", "data", "drain", "end", "error", "close"] as const;

/**
 * Drops a call's listeners from its stream once the stream has closed, so
 * the stream no longer reaches the call: its state, messages, metadata and
 * span. Under load a scavenge finds many streams that closed a moment before
 * still held by node, and moves them to the old generation with all they
 * reach; without their listeners the calls' objects die young (in one
 * process at 32 calls in flight, scavenges promoted 9.5 % of what was
 * allocated instead of 18 %). Errors after the close are ignored, as before it.
 */
export function releaseStream(stream: Http2Stream): void {
  for (const event of callEvents) stream.removeAllListeners(event);
  stream.on("error", ignoreError);
}

function ignoreError(): void {}

/**
 * `grpc-message` percent-encoded, as the protocol asks (anything outside
 * printable ASCII, and %), and spaces at either end too: HTTP/2 refuses a
 * header value that starts or ends with one, and the peer would read none.
 */
export function encodeMessage(message: string): string {
  return message
    .replace(/[^\x20-\x24\x26-\x7e]+/gu, (text) => encodeURIComponent(text))
    .replace(/^ +| +$/g, (spaces) => "%20".repeat(spaces.length));
}

export function decodeMessage(message: string | undefined): string {
  if (message === undefined) return "";
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

/**
 * The trailers of a status: `grpc-status`, `grpc-message`, the trailer
 * metadata and, for an error with details, `grpc-status-details-bin`.
 */
export function statusHeaders(
  code: Code,
  message: string,
  trailer: Metadata,
  error?: TsmicroError,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { "grpc-status": String(code) };
  if (message) headers["grpc-message"] = encodeMessage(message);
  addMetadata(headers, error ? { ...trailer, ...error.metadata } : trailer);
  if (error && error.details.length > 0) {
    headers[statusDetailsKey] = Buffer.from(encodeStatus(code, message, error.details)).toString("base64");
  }
  return headers;
}

/** The error a non-OK status in `headers` stands for: code, message, details and trailers as metadata. */
export function statusError(headers: IncomingHttpHeaders): TsmicroError {
  const code = Number(headers["grpc-status"]);
  const message = decodeMessage(headers["grpc-message"] as string | undefined);
  const trailer = metadataOf(headers) as Record<string, Metadata[string]>;
  const details = trailer[statusDetailsKey];
  delete trailer[statusDetailsKey];
  delete trailer.date;
  const status = details instanceof Uint8Array ? decodeStatus(details) : undefined;
  const known = Number.isInteger(code) && code > 0 && code <= 16 ? (code as Code) : Code.UNKNOWN;
  // A grpc-js server's words for a request over its limit, as tsmicro's own server puts them.
  const text = sizeLimitWording(known, message) ?? message;
  return new TsmicroError(known, text, {
    details: status?.details ?? [],
    metadata: trailer,
    // The same message is over the same limit on every node.
    ...(isSizeLimit(known, text) ? { retryable: false } : {}),
  });
}
