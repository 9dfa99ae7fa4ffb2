/**
 * What gRPC metadata may hold, for metadata that comes from outside a
 * program (the gateway's `Grpc-Metadata-*` headers, `tsmicro call
 * --metadata`): keys gRPC accepts (lower-case), text values it can carry,
 * and keys a sender may not set.
 */

const metadataKey = /^[0-9a-z_.-]+$/;
const metadataText = /^[\x20-\x7e]*$/;

/** A metadata key: lower-case letters, digits and `-_.`. */
export function isMetadataKey(key: string): boolean {
  return metadataKey.test(key);
}

/** A text value gRPC carries: printable ASCII. */
export function isMetadataText(value: string): boolean {
  return metadataText.test(value);
}

/**
 * Keys a sender may not set: HTTP/2 forbids connection-specific headers (one
 * makes the server reset the stream or drop the whole connection), and gRPC
 * owns the content headers; `grpc-*` keys are gRPC's too.
 */
export function isReservedMetadataKey(key: string): boolean {
  return key.startsWith("grpc-") || reservedKeys.has(key);
}

const reservedKeys = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "host",
  "http2-settings",
  "content-length",
  "content-type",
  "user-agent",
]);
