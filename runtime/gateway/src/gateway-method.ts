import {
  ScalarType,
  type DescField,
  type DescMessage,
  type DescMethod,
  type FileRegistry,
  type JsonObject,
  type Message,
} from "@bufbuild/protobuf";
import { dynamicMethod, type HttpRule, type MethodDefinition } from "@tsmicro/runtime";
import { hasRequiredFields, queryStringMessages, type RequestFieldsInput } from "@tsmicro/runtime/internal";
import { fieldMaskJson } from "./field-mask.js";
import { binaryToJson } from "./json-transcoder.js";

/** One RPC the gateway can call, with what it needs to map HTTP to it: descriptors and codecs. */
export interface GatewayMethod {
  /** The registered service that serves it, such as `library`. */
  readonly service: string;
  /** The full RPC name, `fixtures.gateway.v1.Library.GetBook`. */
  readonly rpc: string;
  readonly desc: DescMethod;
  readonly definition: MethodDefinition<Message, Message>;
  /**
   * The same method for the gateway's unary calls: the request goes as the bytes the gateway
   * encoded, the response comes back as JSON when the transcoder could read it, else as a message.
   */
  readonly unary: MethodDefinition<Uint8Array, Message | TranscodedResponse>;
  /** Resolves `Any` and the fields' message types. */
  readonly registry: FileRegistry;
  /** The request can carry proto2 required fields (its own or nested), so the gateway checks them. */
  readonly checksRequired: boolean;
  /**
   * The request field a query parameter or path variable names (see queryFieldOf), as
   * buildRequestFields takes it; resolved once per name, not per request.
   */
  readonly requestField: (name: string) => RequestField | undefined;
}

/** A request field a query parameter or path variable sets, as buildRequestFields resolves it. */
export type RequestField = NonNullable<ReturnType<NonNullable<RequestFieldsInput["field"]>>>;

/**
 * How many names a method remembers. Names come from requests, and a recursive message has
 * endless dotted paths, so the memory is bounded; names past it are resolved each time.
 */
const maxRememberedFields = 256;

/** The methods of the proto service `typeName` served by the registered service `service`. */
export function gatewayMethods(service: string, typeName: string, registry: FileRegistry): GatewayMethod[] {
  const desc = registry.getService(typeName);
  if (!desc) return [];
  return desc.methods.map((method) => {
    const definition = dynamicMethod(method, registry);
    return {
      service,
      rpc: `${typeName}.${method.name}`,
      desc: method,
      definition,
      unary: overBytes(definition, method.output),
      registry,
      checksRequired: hasRequiredFields(method.input),
      requestField: requestFieldResolver(method.input),
    };
  });
}

/** A unary response read straight to proto3 JSON (default options), with its bytes for what needs more. */
export class TranscodedResponse {
  constructor(
    readonly json: JsonObject,
    readonly bytes: Uint8Array,
  ) {}
}

/**
 * `definition` taking requests already encoded, and reading responses to JSON where the
 * transcoder can (else with protobuf-es, failing as the method's own decoder fails).
 */
function overBytes(
  definition: MethodDefinition<Message, Message>,
  output: DescMessage,
): MethodDefinition<Uint8Array, Message | TranscodedResponse> {
  const decode = (bytes: Uint8Array) => {
    const json = binaryToJson(output, bytes);
    return json ? new TranscodedResponse(json, bytes) : definition.output.decode(bytes);
  };
  const asMessage = (value: Message | TranscodedResponse) =>
    value instanceof TranscodedResponse ? definition.output.decode(value.bytes) : value;
  return {
    ...definition,
    input: {
      encode: (bytes) => ({ finish: () => bytes }),
      decode: (bytes) => bytes,
      fromJSON: (json) => definition.input.encode(definition.input.fromJSON(json)).finish(),
      toJSON: (bytes) => definition.input.toJSON(definition.input.decode(bytes)),
      fromPartial: (bytes) => bytes as Uint8Array,
    },
    output: {
      encode: (value) => definition.output.encode(asMessage(value)),
      decode,
      fromJSON: (json) => definition.output.fromJSON(json),
      toJSON: (value) => (value instanceof TranscodedResponse ? value.json : definition.output.toJSON(value)),
      fromPartial: (value) => value as Message,
    },
  };
}

/** Resolves query parameter and path variable names against `input`, remembering each answer. */
function requestFieldResolver(input: DescMessage): (name: string) => RequestField | undefined {
  const known = new Map<string, RequestField | null>();
  return (name) => {
    const remembered = known.get(name);
    if (remembered !== undefined) return remembered ?? undefined;
    const found = queryFieldOf(input, name);
    const field: RequestField | undefined = found && {
      jsonPath: found.jsonPath,
      repeated: found.field.fieldKind === "list",
      convert: (value) => queryValue(found.field, value),
    };
    if (known.size < maxRememberedFields) known.set(name, field ?? null);
    return field;
  };
}

/** The bindings of a method: its `google.api.http` rules. */
export function httpRulesOf(method: GatewayMethod): readonly HttpRule[] {
  return method.definition.http;
}

/** What a query parameter may set: the field at a dotted path of JSON or proto names. */
export interface QueryField {
  readonly field: DescField;
  /** Where it goes in the request's JSON: JSON names, and a map entry's key last. */
  readonly jsonPath: readonly string[];
}

/**
 * Finds the field a query parameter names (`filter.author`, `page_size` or `pageSize`), or a
 * map's entry (`labels[team]`, as grpc-gateway takes them: a map of scalars or enums), or
 * undefined when it names no field a string can set (unknown names are ignored, as grpc-gateway
 * does, so cache busters like `?_=1` do no harm).
 */
export function queryFieldOf(message: DescMessage, name: string): QueryField | undefined {
  const entry = /^([^[\]]+)\[([^[\]]*)\]$/.exec(name);
  const found = fieldAt(message, entry ? entry[1]! : name);
  if (!found) return undefined;
  const { field, jsonPath } = found;
  if (entry)
    return field.fieldKind === "map" && field.mapKind !== "message"
      ? { field, jsonPath: [...jsonPath, entry[2]!] }
      : undefined;
  if (field.fieldKind === "map") return undefined;
  if (field.message && !queryStringMessages.has(field.message.typeName)) return undefined;
  return found;
}

/** The field at a dotted path of JSON or proto names, through singular message fields. */
function fieldAt(message: DescMessage, dotted: string): QueryField | undefined {
  let current: DescMessage = message;
  const jsonPath: string[] = [];
  const parts = dotted.split(".");
  for (const [index, part] of parts.entries()) {
    const field = current.fields.find((f) => f.name === part || f.jsonName === part);
    if (!field) return undefined;
    jsonPath.push(field.jsonName);
    if (index === parts.length - 1) return { field, jsonPath };
    if (field.fieldKind !== "message") return undefined;
    current = field.message;
  }
  return undefined;
}

/**
 * Converts a query or path string to the proto3 JSON value its field takes: booleans become
 * true/false (in every spelling grpc-gateway takes, Go's strconv.ParseBool's), the numbers of
 * an enum's values become numbers, and a Duration may be written as Go writes one (`90m`, `1h30m`, `500ms`), as
 * grpc-gateway reads it, besides proto3 JSON's `5400s`; everything else stays a string, which
 * proto3 JSON accepts for numbers, 64-bit integers, bytes and the well-known types; a
 * FieldMask's paths may be in proto field names or lowerCamel. A value that does not fit is left
 * as it is, so decoding names the field and the value.
 */
export function queryValue(field: DescField, value: string): unknown {
  const typeName = field.message?.typeName;
  if (typeName === "google.protobuf.FieldMask") return fieldMaskJson(value);
  if (typeName === "google.protobuf.Duration") return goDuration(value) ?? value;
  const isBool =
    (field.fieldKind !== "message" && field.scalar === ScalarType.BOOL) || typeName === "google.protobuf.BoolValue";
  if (isBool) return trueWords.has(value) ? true : falseWords.has(value) ? false : value;
  // A number no value of the enum declares stays text, so decoding refuses it, as grpc-gateway does.
  if (field.enum && /^-?\d+$/.test(value) && field.enum.values.some((v) => v.number === Number(value)))
    return Number(value);
  return value;
}

/** Go's strconv.ParseBool's spellings, which grpc-gateway's query parser takes. */
const trueWords: ReadonlySet<string> = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const falseWords: ReadonlySet<string> = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Nanoseconds per unit of Go's time.ParseDuration. */
const goUnits: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * A duration as Go's time.ParseDuration reads it (`1h30m`, `-1.5h`, `300ms`) in proto3 JSON
 * (`5400s`); undefined for anything else, a proto3 JSON duration (`1.5s` reads alike either way)
 * included when Go would not read it.
 */
export function goDuration(text: string): string | undefined {
  const match = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(text);
  if (!match) return text === "0" ? "0s" : undefined;
  let nanos = 0n;
  for (const [, whole, fraction = "", unit] of text.matchAll(/(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g)) {
    const scale = goUnits[unit!]!;
    // The fraction to nanosecond precision, as Go keeps it.
    const digits = fraction.slice(0, 18);
    nanos += BigInt(whole || "0") * scale + (BigInt(digits || "0") * scale) / 10n ** BigInt(digits.length);
  }
  const sign = match[1] === "-" && nanos > 0n ? "-" : "";
  const seconds = nanos / 1_000_000_000n;
  const rest = nanos % 1_000_000_000n;
  return `${sign}${seconds}${rest === 0n ? "" : `.${rest.toString().padStart(9, "0").replace(/0+$/, "")}`}s`;
}
