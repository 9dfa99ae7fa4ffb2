import type { Attributes, Span } from "@opentelemetry/api";
import type { MethodDefinition } from "../definition/definition.js";
import { failureCode } from "../errors/failure-code.js";
import { Code } from "../errors/tsmicro-error.js";
import type { OtelApiModule } from "./otel-api.js";
import { RecordingSpan } from "./recording-span.js";

const spanNames = new WeakMap<MethodDefinition, string>();

/** An RPC span's name per OTel's RPC conventions: `package.Service/Method`; one string per method, which spans share. */
export function rpcSpanName(method: MethodDefinition): string {
  let name = spanNames.get(method);
  if (name === undefined) {
    name = method.path.slice(1);
    spanNames.set(method, name);
  }
  return name;
}

const methodAttributes = new WeakMap<MethodDefinition, Attributes>();

/** `rpc.system`, `rpc.service` and `rpc.method` of a method: one frozen object per method, which spans share. */
export function rpcAttributes(method: MethodDefinition): Attributes {
  let attributes = methodAttributes.get(method);
  if (!attributes) {
    const path = method.path.slice(1);
    const slash = path.lastIndexOf("/");
    attributes = Object.freeze({
      "rpc.system": "grpc",
      "rpc.service": path.slice(0, slash),
      "rpc.method": path.slice(slash + 1),
    });
    methodAttributes.set(method, attributes);
  }
  return attributes;
}

/**
 * `build`'s result for each key, built once and then shared: a traced call
 * does not build and parse its span's attribute sets again. At most `max`
 * keys are kept (peers come and go); when full it starts over.
 */
export function cachedByKey<T>(build: (key: string) => T, max = 256): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      if (cache.size >= max) cache.clear();
      value = build(key);
      cache.set(key, value);
    }
    return value;
  };
}

/** Attribute sets by method and address (a node, or a peer), each built once and frozen: spans share them. */
export function attributesByAddress(
  build: (method: MethodDefinition, address: string) => Attributes,
): (method: MethodDefinition, address: string) => Attributes {
  const byMethod = new WeakMap<MethodDefinition, (address: string) => Attributes>();
  return (method, address) => {
    let byAddress = byMethod.get(method);
    if (!byAddress) {
      byAddress = cachedByKey((key) => Object.freeze(build(method, key)));
      byMethod.set(method, byAddress);
    }
    return byAddress(address);
  };
}

/**
 * Ends an RPC span with `rpc.grpc.status_code` (0 for success) and, on
 * failure, status ERROR carrying the error's message: on a CLIENT span for
 * every code but OK; on a SERVER span only for the codes that say the
 * server failed, as OpenTelemetry's gRPC conventions have it (a NOT_FOUND
 * or INVALID_ARGUMENT answered is the server working, and Jaeger does not
 * paint it red).
 */
export function endRpcSpan(
  api: OtelApiModule,
  span: Span,
  failed: boolean,
  error?: unknown,
  signal?: AbortSignal,
): void {
  const code = failed ? failureCode(error, signal) : Code.OK;
  const recording = span instanceof RecordingSpan;
  if (recording && sharesStatus(span)) span.shareAttributes(withStatusCode(span.baseAttributes!, code));
  else span.setAttribute(statusKey, code);
  const serverSide = recording && span.kind === api.SpanKind.SERVER;
  if (failed && (!serverSide || serverErrors.has(code)))
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}

/** The codes that make a SERVER span's status ERROR: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const serverErrors: ReadonlySet<number> = new Set([
  Code.UNKNOWN,
  Code.DEADLINE_EXCEEDED,
  Code.UNIMPLEMENTED,
  Code.INTERNAL,
  Code.UNAVAILABLE,
  Code.DATA_LOSS,
]);

const statusKey = "rpc.grpc.status_code";

/** Whether a span's attributes are a shared set, with no status code of its own that would win over the set's. */
function sharesStatus(span: RecordingSpan): boolean {
  const base = span.baseAttributes;
  return base !== undefined && Object.isFrozen(base) && !(span.ownAttributes && statusKey in span.ownAttributes);
}

const withStatusCodes = new WeakMap<Attributes, Map<number, Attributes>>();

/**
 * A shared attribute set and `rpc.grpc.status_code`, as one frozen set built
 * once per set and code: spans that end alike share it (and its encoding)
 * rather than each making and writing its own attribute.
 */
function withStatusCode(base: Attributes, code: number): Attributes {
  let byCode = withStatusCodes.get(base);
  if (!byCode) {
    byCode = new Map();
    withStatusCodes.set(base, byCode);
  }
  let attributes = byCode.get(code);
  if (!attributes) {
    attributes = Object.freeze({ ...base, [statusKey]: code });
    byCode.set(code, attributes);
  }
  return attributes;
}

/**
 * Host and port of `127.0.0.1:50051`, `[::1]:50051` or a grpc-js peer such as
 * `ipv4:127.0.0.1:53122`; undefined parts when it is neither.
 */
export function hostAndPort(address: string): { host: string; port: number | undefined } {
  const bare = address.replace(/^(ipv4|ipv6|dns|unix):/, "");
  const colon = bare.lastIndexOf(":");
  const port = Number(bare.slice(colon + 1));
  // An IPv6 address without brackets (`::1`) has colons but no port.
  const unbracketedV6 = bare.indexOf(":") !== colon && !bare.startsWith("[");
  if (colon < 0 || !Number.isInteger(port) || unbracketedV6) return { host: unbracketed(bare), port: undefined };
  return { host: unbracketed(bare.slice(0, colon)), port };
}

function unbracketed(host: string): string {
  return host.replace(/^\[|\]$/g, "");
}
