import { Code, TsmicroError } from "../errors/tsmicro-error.js";

/** The parts of an HTTP request that become the RPC's request message. */
export interface RequestFieldsInput {
  /** Captured path variables by dotted field path in proto names (`book.name`). */
  readonly variables: Readonly<Record<string, string>>;
  /** The query string (with or without its "?") or parsed parameters. */
  readonly query?: string | URLSearchParams;
  /** The parsed JSON body, when the binding has one. */
  readonly body?: unknown;
  /** The binding's `body`: undefined or "" for none, "*" for the whole message, else a field name. */
  readonly bodyField?: string;
  /**
   * Maps one proto field name to its proto3 JSON name. Defaults to lowerCamelCase, which leaves
   * JSON names unchanged, so query parameters may use either (`page_size` or `pageSize`).
   */
  readonly jsonName?: (protoName: string) => string;
  /**
   * True for a repeated field (by dotted JSON path), so a parameter given once still becomes an
   * array. Without it only a parameter given more than once becomes an array.
   */
  readonly isRepeated?: (jsonPath: string) => boolean;
  /**
   * Resolves a query parameter or path variable (as written: `filter.author`, `page_size`) against
   * the request's type: its JSON path, whether it repeats, and how to convert its strings.
   * Returning undefined drops a query parameter that names no field. Without it, names are
   * converted by `jsonName` and values stay strings.
   */
  readonly field?: (name: string) => ResolvedField | undefined;
}

/** A request field a query parameter or path variable sets, as `RequestFieldsInput.field` resolves it. */
export interface ResolvedField {
  readonly jsonPath: readonly string[];
  readonly repeated: boolean;
  readonly convert: (value: string) => unknown;
}

/**
 * The well-known message types a query parameter (or path variable) may set from one string,
 * as grpc-gateway allows; no other message field is set from the query, and neither is a map.
 */
export const queryStringMessages: ReadonlySet<string> = new Set([
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** A request message as a plain proto3 JSON object, ready for the generated `fromJSON`. */
export type RequestFields = Record<string, unknown>;

/**
 * Builds the request message from path variables, query and body as grpc-gateway does:
 * `body: "*"` makes the body the message and ignores the query; `body: "field"` puts the body
 * in that field and fills the rest from the query; without a body everything comes from path
 * and query. Path variables are set last and win. A query parameter naming a field bound by the
 * path or body (or a field inside one) is ignored. Values stay strings: proto3 JSON accepts
 * strings for numbers, and the caller's `fromJSON` converts them.
 */
export function buildRequestFields(input: RequestFieldsInput): RequestFields {
  const jsonName = input.jsonName ?? lowerCamel;
  const toJsonPath = (dotted: string): string[] => dotted.split(".").map(jsonName);
  // The dotted JSON path of a dotted name; lowerCamel leaves a name without "_" as it is.
  const toJsonDotted = (dotted: string): string =>
    jsonName === lowerCamel && !dotted.includes("_") ? dotted : toJsonPath(dotted).join(".");
  const bodyField = input.bodyField ?? "";
  let message: RequestFields = {};

  if (bodyField === "*") {
    if (input.body !== undefined) {
      if (!isPlainObject(input.body))
        throw new TsmicroError(Code.INVALID_ARGUMENT, "the request body must be a JSON object");
      message = { ...input.body };
    }
  } else {
    const params =
      typeof input.query === "string" ? (input.query === "" ? undefined : parseQuery(input.query)) : input.query;
    // What the path and body bind, needed only when there are parameters to check against it.
    const bound =
      params === undefined || params.size === 0
        ? []
        : [...Object.keys(input.variables), ...(bodyField === "" ? [] : [bodyField])].map(toJsonDotted);
    for (const name of new Set(params?.keys() ?? [])) {
      const resolved = input.field ? input.field(name) : undefined;
      if (input.field && !resolved) continue;
      const path = resolved?.jsonPath ?? toJsonPath(name);
      const dotted = path.join(".");
      if (bound.some((b) => dotted === b || isInside(dotted, b) || isInside(b, dotted))) continue;
      const raw = params?.getAll(name) ?? [];
      if (typeof input.query === "string") checkUtf8(name, raw, input.query);
      const values = raw.map((v) => (resolved ? resolved.convert(v) : v));
      const repeated = values.length > 1 || (resolved?.repeated ?? input.isRepeated?.(dotted) ?? false);
      setField(message, path, repeated ? values : values[0], name);
    }
    if (bodyField !== "" && input.body !== undefined) setField(message, toJsonPath(bodyField), input.body, bodyField);
  }

  for (const name in input.variables) {
    const value = input.variables[name] as string;
    const resolved = input.field?.(name);
    setField(message, resolved?.jsonPath ?? toJsonPath(name), resolved ? resolved.convert(value) : value, name);
  }
  return message;
}

/**
 * The parameters of a query string. A %-escape without two hex digits is INVALID_ARGUMENT, as
 * grpc-gateway (Go's url.ParseQuery) has it: URLSearchParams would keep `%zz` as typed.
 */
function parseQuery(query: string): URLSearchParams {
  if (query.includes("%") && badEscape.test(query))
    throw new TsmicroError(Code.INVALID_ARGUMENT, `the query ${JSON.stringify(query)} has a malformed %-escape`);
  return new URLSearchParams(query);
}

const badEscape = /%(?![0-9A-Fa-f]{2})/;

/**
 * Refuses values of a field whose %-escapes are bytes that are not UTF-8 (`caf%E9`, Latin-1),
 * which URLSearchParams reads as U+FFFD, and the service would store so; a query that spells
 * U+FFFD itself is taken as it is. Parameters that set no field are not looked at, as
 * grpc-gateway, which ignores them, does not.
 */
function checkUtf8(name: string, values: readonly string[], query: string): void {
  if (!values.some((value) => value.includes("\uFFFD")) || spellsReplacement.test(query)) return;
  throw new TsmicroError(
    Code.INVALID_ARGUMENT,
    `query parameter ${name} has %-escapes of bytes that are not UTF-8: send its text as UTF-8`,
  );
}

const spellsReplacement = /%EF%BF%BD|\uFFFD/i;

// Names like "__proto__" would reach Object.prototype instead of the message.
const unsafeKeys = new Set(["__proto__", "constructor", "prototype"]);

function setField(message: RequestFields, path: readonly string[], value: unknown, name: string): void {
  if (!safeKeys(path) || !(name.includes(".") ? safeKeys(name.split(".")) : safeKey(name)))
    throw new TsmicroError(Code.INVALID_ARGUMENT, `${JSON.stringify(name)} is not a field name`);
  // Objects on the way are copied, not changed: they may be the caller's parsed body.
  let target = message;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = target[key] ?? {};
    if (!isPlainObject(next))
      throw new TsmicroError(Code.INVALID_ARGUMENT, `${name} sets a field inside ${key}, which already has a value`);
    const copy = { ...next };
    target[key] = copy;
    target = copy;
  }
  target[path.at(-1) as string] = value;
}

/** Whether the dotted path `inner` names a field inside `outer` (`a.b` inside `a`), without building `outer + "."`. */
function isInside(inner: string, outer: string): boolean {
  return inner.length > outer.length && inner.charCodeAt(outer.length) === 0x2e && inner.startsWith(outer);
}

/** No key is empty or one that would reach Object.prototype. */
function safeKeys(keys: readonly string[]): boolean {
  for (const key of keys) if (!safeKey(key)) return false;
  return true;
}

function safeKey(key: string): boolean {
  return key !== "" && !unsafeKeys.has(key);
}

/** A JSON object: not null, not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The proto3 JSON name of a proto field name: `page_size` -> `pageSize`. */
export function lowerCamel(protoName: string): string {
  if (!protoName.includes("_")) return protoName;
  return protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
