/**
 * gzip for responses of the grpc-js server. grpc-js reads compressed
 * requests itself (gzip and deflate) and its client compresses requests by
 * channel option, but its server frames every response uncompressed. This
 * module swaps one call's framing for gzip; it relies on a grpc-js internal
 * (`serializeMessage` of the call under the handler's call object), so it
 * checks for it and, when it is missing, the call answers uncompressed,
 * which every gRPC client accepts.
 */
import { gzipSync } from "node:zlib";

/** The grpc-js channel option value for gzip (`CompressionAlgorithms.gzip`). */
export const gzipChannelAlgorithm = 2;

/** The grpc-js internal that frames one response message. */
interface FramingCall {
  serializeMessage(value: unknown): Buffer;
}

/**
 * Makes the call under a grpc-js server call object gzip each response
 * message it frames. Returns false, changing nothing, when this grpc-js has
 * no such internal; the caller then must not announce `grpc-encoding: gzip`.
 */
export function gzipResponses(serverCall: object, serialize: (message: unknown) => Buffer): boolean {
  const inner = (serverCall as { call?: Partial<FramingCall> }).call;
  if (!inner || typeof inner.serializeMessage !== "function") return false;
  inner.serializeMessage = (value: unknown) => gzipFrame(serialize(value));
  return true;
}

/**
 * One gRPC length-prefixed message, gzip-compressed: flag byte 1, the
 * compressed length, the bytes. Synchronous because grpc-js frames
 * synchronously; a large message blocks the event loop while it compresses.
 */
function gzipFrame(message: Uint8Array): Buffer {
  const compressed = gzipSync(message);
  const frame = Buffer.allocUnsafe(compressed.byteLength + 5);
  frame.writeUInt8(1, 0);
  frame.writeUInt32BE(compressed.byteLength, 1);
  compressed.copy(frame, 5);
  return frame;
}
