import type { IncomingHttpHeaders } from "node:http";
import { Code, type Metadata, TsmicroError } from "@tsmicro/runtime";
import { claimsMetadataKeys, isMetadataKey, isMetadataText, isReservedMetadataKey } from "@tsmicro/runtime/internal";

/**
 * Keys the gateway sets itself, which a client may not set through `Grpc-Metadata-*` (nor as
 * `-bin`): claims come only from a verified token, and `authorization` only from the header the
 * route rules verified (a second value would replace it), as the forwarding chain and the request
 * id come from their own headers.
 */
const gatewayKeys: ReadonlySet<string> = new Set([
  ...Object.values(claimsMetadataKeys),
  "authorization",
  "x-request-id",
  "x-forwarded-for",
]);

function isGatewayKey(key: string): boolean {
  return gatewayKeys.has(key.endsWith("-bin") ? key.slice(0, -4) : key);
}

/**
 * gRPC metadata from HTTP headers, as grpc-gateway forwards them: `Grpc-Metadata-*` headers
 * without the prefix (reserved keys dropped, `-bin` values base64-decoded), `Authorization`,
 * and `X-Forwarded-For`/`X-Request-Id`. A text value gRPC cannot carry (outside printable
 * ASCII) is left out and reported to `dropped`, rather than failing the whole request; a `-bin`
 * value that is not base64 is INVALID_ARGUMENT naming the header. A `Grpc-Metadata-*` header
 * sent more than once is as many values, as grpc-gateway forwards it, when `distinct` (the
 * request) has its `headersDistinct`, read only then (`headers` has them joined with ", ").
 */
export function forwardedMetadata(
  headers: IncomingHttpHeaders,
  ip: string,
  dropped: (header: string) => void = () => {},
  distinct?: { readonly headersDistinct: Readonly<Record<string, readonly string[] | undefined>> },
): Metadata {
  const metadata: Record<string, Metadata[string]> = {};
  // Every request passes here: for-in, without the array of entries Object.entries would build.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    let key: string;
    if (name.startsWith("grpc-metadata-")) {
      key = name.slice("grpc-metadata-".length);
      if (!isMetadataKey(key) || isReservedMetadataKey(key) || isGatewayKey(key)) continue;
    } else if (name === "authorization" || name === "x-request-id") key = name;
    else continue;
    const joined = Array.isArray(value) ? value.join(", ") : value;
    // Only a value with a comma may be several: the common case looks no further.
    const several = distinct !== undefined && name.startsWith("grpc-metadata-") && joined.includes(",");
    const values = several ? (distinct.headersDistinct[name] ?? [joined]) : [joined];
    if (key.endsWith("-bin")) {
      const decoded = values.map((text) => binaryHeader(name, text));
      metadata[key] = decoded.length === 1 ? decoded[0]! : decoded;
    } else if (values.every(isMetadataText)) metadata[key] = values.length === 1 ? values[0]! : values;
    else dropped(name);
  }
  const forwarded = headers["x-forwarded-for"];
  const chain = forwarded ? `${String(forwarded)}, ${ip}` : ip;
  if (isMetadataText(chain)) metadata["x-forwarded-for"] = chain;
  else {
    dropped("x-forwarded-for");
    metadata["x-forwarded-for"] = ip;
  }
  return metadata;
}

/** A `-bin` metadata header's bytes: base64, standard or URL-safe, padded or not, as grpc-gateway reads it. */
function binaryHeader(name: string, value: string): Uint8Array {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text))
    throw new TsmicroError(Code.INVALID_ARGUMENT, `the ${name} header is not base64, as a -bin header must be`);
  return Buffer.from(text, "base64");
}
