import type { IncomingHttpHeaders } from "node:http";
import { Code, type Metadata, SetupError, TsmicroError } from "@tsmicro/runtime";
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
 * and `X-Forwarded-For`/`X-Request-Id`; and the headers `forwarding` names (`--forward_headers`),
 * under the keys it maps them to. A text value gRPC cannot carry (outside printable ASCII) is
 * left out and reported to `dropped`, rather than failing the whole request; a `-bin` value that
 * is not base64 is INVALID_ARGUMENT naming the header. A header sent more than once is as many
 * values, as grpc-gateway forwards it, when `distinct` (the request) has its `headersDistinct`,
 * read only then (`headers` has them joined with ", ").
 */
export function forwardedMetadata(
  headers: IncomingHttpHeaders,
  ip: string,
  dropped: (header: string) => void = () => {},
  distinct?: { readonly headersDistinct: Readonly<Record<string, readonly string[] | undefined>> },
  forwarding: ReadonlyMap<string, string> = noForwarding,
): Metadata {
  const metadata: Record<string, Metadata[string]> = {};
  // Every request passes here: for-in, without the array of entries Object.entries would build.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    let key: string | undefined;
    if (name.startsWith("grpc-metadata-")) {
      key = name.slice("grpc-metadata-".length);
      if (!isMetadataKey(key) || isReservedMetadataKey(key) || isGatewayKey(key)) continue;
    } else if (name === "authorization" || name === "x-request-id") key = name;
    const alias = forwarding.size === 0 ? undefined : forwarding.get(name);
    if (key === undefined && alias === undefined) continue;
    const joined = Array.isArray(value) ? value.join(", ") : value;
    // Only a value with a comma may be several: the common case looks no further.
    const listed = key !== name;
    const several = distinct !== undefined && listed && joined.includes(",");
    const values = several ? (distinct.headersDistinct[name] ?? [joined]) : [joined];
    let forwarded: Metadata[string];
    if ((key ?? alias)!.endsWith("-bin")) {
      const decoded = values.map((text) => binaryHeader(name, text));
      forwarded = decoded.length === 1 ? decoded[0]! : decoded;
    } else if (values.every(isMetadataText)) forwarded = values.length === 1 ? values[0]! : values;
    else {
      dropped(name);
      continue;
    }
    if (key !== undefined) metadata[key] = forwarded;
    if (alias !== undefined) metadata[alias] = forwarded;
  }
  const forwarded = headers["x-forwarded-for"];
  const chain = forwarded ? `${String(forwarded)}, ${ip}` : ip;
  if (isMetadataText(chain)) metadata["x-forwarded-for"] = chain;
  else {
    dropped("x-forwarded-for");
    metadata["x-forwarded-for"] = ip;
  }
  // As grpc-gateway: the host the client asked for, when no proxy in front named it.
  if (forwarding.has("x-forwarded-host") && metadata["x-forwarded-host"] === undefined) {
    const host = headers.host ?? headers[":authority"];
    if (typeof host === "string" && isMetadataText(host)) metadata["x-forwarded-host"] = host;
  }
  return metadata;
}

const noForwarding: ReadonlyMap<string, string> = new Map();

/**
 * grpc-gateway's permanent request headers (IANA's list), which its default header matcher
 * forwards as `grpcgateway-<name>` metadata.
 */
const permanentHeaders = [
  "accept",
  "accept-charset",
  "accept-language",
  "accept-ranges",
  "authorization",
  "cache-control",
  "content-type",
  "cookie",
  "date",
  "expect",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-schedule-tag-match",
  "if-unmodified-since",
  "max-forwards",
  "origin",
  "pragma",
  "referer",
  "user-agent",
  "via",
  "warning",
];

/**
 * `--forward_headers`: comma-separated header names, each forwarded as metadata of the same name
 * (as `micro api` forwards headers), and `grpcgateway` for what grpc-gateway forwards by default:
 * its permanent headers as `grpcgateway-<name>`, and `x-forwarded-host` (the `Host` the client
 * asked for, when no proxy sent one). A header the gateway forwards anyway, one whose key is
 * gRPC's, HTTP/2's or tsmicro's own, or a name metadata cannot carry is refused, saying why.
 */
export function forwardHeaders(value: string, source: string): ReadonlyMap<string, string> {
  const forwarding = new Map<string, string>();
  for (const entry of value.split(",")) {
    const name = entry.trim().toLowerCase();
    if (name === "") continue;
    if (name === "grpcgateway") {
      for (const header of permanentHeaders) forwarding.set(header, `grpcgateway-${header}`);
      forwarding.set("x-forwarded-host", "x-forwarded-host");
      continue;
    }
    const problem = forwardingProblem(name);
    if (problem !== undefined)
      throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), `${JSON.stringify(entry.trim())} ${problem}`);
    forwarding.set(name, name);
  }
  return forwarding;
}

/** Why a header cannot be forwarded as metadata of its own name; undefined when it can. */
function forwardingProblem(name: string): string | undefined {
  if (!isMetadataKey(name) || name.startsWith(":"))
    return "is no header name gRPC metadata can carry (lower-case letters, digits, -, _ and .)";
  if (name.startsWith("grpc-metadata-")) return "needs no flag: every Grpc-Metadata-* header is forwarded";
  if (name === "authorization" || name === "x-request-id" || name === "x-forwarded-for")
    return "needs no flag: the gateway always forwards it";
  if (isGatewayKey(name)) return "is a key only a verified token sets (see the route rules' auth)";
  if (name.startsWith("tsmicro-")) return "is a key tsmicro's processes set between themselves";
  if (isReservedMetadataKey(name))
    return permanentHeaders.includes(name)
      ? `is a header gRPC sets itself: --forward_headers=grpcgateway forwards it as grpcgateway-${name}, as grpc-gateway does`
      : "is a header HTTP/2 or gRPC keeps for itself, which no call may carry";
  return undefined;
}

/** A `-bin` metadata header's bytes: base64, standard or URL-safe, padded or not, as grpc-gateway reads it. */
function binaryHeader(name: string, value: string): Uint8Array {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text))
    throw new TsmicroError(Code.INVALID_ARGUMENT, `the ${name} header is not base64, as a -bin header must be`);
  return Buffer.from(text, "base64");
}
