import type { IncomingHttpHeaders } from "node:http";
import type { Metadata } from "../definition/call.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { jwtMetadataKeys } from "./jwt-auth.js";

/**
 * gRPC metadata from HTTP headers, as grpc-gateway forwards them: `Grpc-Metadata-*` headers
 * without the prefix, `Authorization`, and `X-Forwarded-For`/`X-Request-Id`.
 */
export function forwardedMetadata(headers: IncomingHttpHeaders, ip: string): Metadata {
  const metadata: Record<string, string | Uint8Array> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(", ") : value;
    if (name.startsWith("grpc-metadata-")) {
      const key = name.slice("grpc-metadata-".length);
      // Claims come only from a verified token, never from the client.
      if (!(jwtMetadataKeys as readonly string[]).includes(key))
        metadata[key] = key.endsWith("-bin") ? binaryHeader(name, text) : text;
    } else if (name === "authorization" || name === "x-request-id") metadata[name] = text;
  }
  const forwarded = headers["x-forwarded-for"];
  metadata["x-forwarded-for"] = forwarded ? `${String(forwarded)}, ${ip}` : ip;
  return metadata;
}

/** A `-bin` metadata header's bytes: base64, standard or URL-safe, padded or not, as grpc-gateway reads it. */
function binaryHeader(name: string, value: string): Uint8Array {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text))
    throw new TsmicroError(Code.INVALID_ARGUMENT, `the ${name} header is not base64, as a -bin header must be`);
  return Buffer.from(text, "base64");
}
