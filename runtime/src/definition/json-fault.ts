import { type DescField, type DescMessage, fromJson, type JsonValue, type Registry } from "@bufbuild/protobuf";
import { closestName } from "../errors/closest-name.js";
import { isPlainObject } from "../routing/request-fields.js";
import { messageOf } from "../transport/call-errors.js";

/** Where a request's JSON first fails to decode: the path as the caller wrote it, and the value there. */
export interface JsonFault {
  /** `book.tags[1]`, `labels["a b"]`: JSON keys as sent, list indexes, map keys. */
  readonly path: string;
  readonly value: unknown;
  /** protobuf-es's words for what is wrong with it. */
  readonly reason: string;
}

/**
 * The first field of `json` that does not decode as `desc`, found by decoding each field alone
 * and going down into the messages, lists and maps that fail: protobuf-es names the type that
 * refused a value (`cannot decode enum shop.v1.Color from JSON: "PURPLE"`,
 * `… Timestamp from JSON: invalid RFC 3339 string`) but not where in the request it was, nor
 * always the value; for a key that names no field it says only "key is unknown", where the
 * caller needs the field meant. Undefined when no single field is at fault (a oneof set twice).
 * Only failed requests pay for this.
 */
export function jsonFault(desc: DescMessage, json: unknown, registry: Registry, at = ""): JsonFault | undefined {
  if (!isPlainObject(json)) return undefined;
  // The key each field was first given under: a field under both its names decodes alone each time.
  const given = new Map<DescField, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    const path = `${at}${at ? "." : ""}${key}`;
    // A well-known type's JSON keys are not its fields (a Struct's are the caller's own).
    if (!field && !isWellKnown(desc)) return { path, value, reason: unknownField(desc, key) };
    if (!field) continue;
    const first = given.get(field);
    if (first !== undefined)
      return {
        path,
        value,
        reason: `${desc.typeName}.${field.name} is given twice, as ${first} and ${key}; send it once`,
      };
    given.set(field, key);
    const reason = refusal(desc, { [key]: value }, registry);
    if (reason !== undefined) return fieldFault(field, key, value, registry, path, reason);
  }
  return undefined;
}

/** The fault inside one field that failed alone: in the item or entry that fails, and further down a message. */
function fieldFault(
  field: DescField,
  key: string,
  value: unknown,
  registry: Registry,
  path: string,
  reason: string,
): JsonFault {
  const parent = field.parent;
  const inside = (item: unknown, itemPath: string, itemReason: string): JsonFault => {
    const message = messageIn(field);
    const deeper = message && !isWellKnown(message) ? jsonFault(message, item, registry, itemPath) : undefined;
    return deeper ?? { path: itemPath, value: item, reason: itemReason };
  };
  if (field.fieldKind === "list" && Array.isArray(value)) {
    // The whole list's reason, whose "list item #2" counts as the caller does; an item alone would be #1.
    for (const [index, item] of value.entries()) {
      if (refusal(parent, { [key]: [item] }, registry) !== undefined) return inside(item, `${path}[${index}]`, reason);
    }
  } else if (field.fieldKind === "map" && isPlainObject(value)) {
    for (const [mapKey, item] of Object.entries(value)) {
      const itemReason = refusal(parent, { [key]: { [mapKey]: item } }, registry);
      if (itemReason !== undefined) return inside(item, `${path}[${JSON.stringify(mapKey)}]`, itemReason);
    }
  }
  return inside(value, path, reason);
}

/**
 * What a key that names no field of `desc` was meant to be: a field of a close name, or a field of one of its
 * messages (`{"name": …}` for CreateShopRequest, whose name is in `shop`), else the fields there are.
 */
function unknownField(desc: DescMessage, key: string): string {
  const none = `${desc.typeName} has no field ${key}`;
  const meant = closestName(
    key,
    desc.fields.flatMap((f) => [f.jsonName, f.name]),
  );
  if (meant !== undefined) return `${none}; did you mean ${meant}?`;
  const holder = desc.fields.find(
    (f) => f.fieldKind === "message" && f.message.fields.some((inner) => inner.jsonName === key || inner.name === key),
  );
  if (holder) return `${none}; ${key} is a field of ${holder.jsonName}: send {"${holder.jsonName}": {"${key}": …}}`;
  const names = desc.fields.map((f) => f.jsonName);
  return names.length > 0 ? `${none}; its fields are ${names.join(", ")}` : `${none}; it has no fields`;
}

/** Why `json` does not decode as `desc`, or undefined when it does. */
function refusal(desc: DescMessage, json: Record<string, unknown>, registry: Registry): string | undefined {
  try {
    fromJson(desc, json as JsonValue, { registry });
    return undefined;
  } catch (error) {
    return messageOf(error);
  }
}

/** The message a field holds, one, a list or a map of them; undefined for scalars and enums. */
function messageIn(field: DescField): DescMessage | undefined {
  switch (field.fieldKind) {
    case "message":
      return field.message;
    case "list":
      return field.listKind === "message" ? field.message : undefined;
    case "map":
      return field.mapKind === "message" ? field.message : undefined;
    default:
      return undefined;
  }
}

/** Well-known types have JSON forms of their own (a Timestamp is a string): their fields are not the caller's. */
function isWellKnown(message: DescMessage): boolean {
  return message.typeName.startsWith("google.protobuf.");
}

/** `at book.tags[1] (5)`: a fault's place and value as an error message puts them, long values cut. */
export function faultPlace(fault: JsonFault): string {
  const text = JSON.stringify(fault.value) ?? String(fault.value);
  return `at ${fault.path} (${text.length > 60 ? `${text.slice(0, 57)}...` : text})`;
}
