import { BinaryWriter } from "@bufbuild/protobuf/wire";
import type { MessageCodec } from "../definition/definition.js";

/**
 * One writer for every message this thread encodes. Encoding is synchronous,
 * so messages never share it at once, and it keeps its grown buffer between
 * messages: a message costs the one copy `finish()` returns, not a writer,
 * its buffer and that copy. Codecs that write into a writer they are given
 * (ts-proto's) use it; others encode as they do.
 */
const shared = new BinaryWriter();

/** The gRPC message prefix: not compressed, length filled in after. */
const identityPrefix = new Uint8Array(5);

/** `message` encoded. */
export function encodeBytes<T>(codec: MessageCodec<T>, message: T): Uint8Array {
  try {
    return codec.encode(message, shared).finish();
  } finally {
    shared.finish();
  }
}

/**
 * `message` encoded behind gRPC's 5-byte prefix (uncompressed, its length),
 * in one buffer when the codec writes into the shared writer.
 */
export function encodeFramed<T>(codec: MessageCodec<T>, message: T): Uint8Array {
  let framed: Uint8Array;
  try {
    shared.raw(identityPrefix);
    const writer = codec.encode(message, shared);
    if (writer !== shared) return withPrefix(writer.finish());
    framed = shared.finish();
  } finally {
    shared.finish();
  }
  writeLength(framed, framed.byteLength - 5);
  return framed;
}

function withPrefix(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(message.byteLength + 5);
  framed.set(message, 5);
  writeLength(framed, message.byteLength);
  return framed;
}

function writeLength(framed: Uint8Array, length: number): void {
  framed[0] = 0;
  framed[1] = length >>> 24;
  framed[2] = (length >>> 16) & 0xff;
  framed[3] = (length >>> 8) & 0xff;
  framed[4] = length & 0xff;
}
