import { type DescField, type DescMessage, fromJson, type JsonValue, type Registry } from "@bufbuild/protobuf";
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
 * always the value. Undefined when no single field is at fault (an unknown field, which
 * protobuf-es names, or a oneof set twice). Only failed requests pay for this.
 */
export function jsonFault(desc: DescMessage, json: unknown, registry: Registry, at = ""): JsonFault | undefined {
  if (!isPlainObject(json)) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) continue;
    const reason = refusal(desc, { [key]: value }, registry);
    if (reason !== undefined) return fieldFault(field, key, value, registry, `${at}${at ? "." : ""}${key}`, reason);
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
