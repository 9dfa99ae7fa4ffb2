import { ScalarType, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";

/** Well-known types whose proto3 JSON is a single value, shown as an example of it. */
const wellKnownExamples: Readonly<Record<string, JsonValue>> = {
  "google.protobuf.Timestamp": "1970-01-01T00:00:00Z",
  "google.protobuf.Duration": "0s",
  "google.protobuf.FieldMask": "",
  "google.protobuf.Struct": {},
  "google.protobuf.Value": null,
  "google.protobuf.ListValue": [],
  "google.protobuf.Any": {},
  "google.protobuf.Empty": {},
  "google.protobuf.DoubleValue": 0,
  "google.protobuf.FloatValue": 0,
  "google.protobuf.Int64Value": "0",
  "google.protobuf.UInt64Value": "0",
  "google.protobuf.Int32Value": 0,
  "google.protobuf.UInt32Value": 0,
  "google.protobuf.BoolValue": false,
  "google.protobuf.StringValue": "",
  "google.protobuf.BytesValue": "",
};

/** How deep nested messages are spelled out; a recursive message stops there with `{}`. */
const maxDepth = 4;

/**
 * A proto3 JSON example of `message` with every field at its zero value (lists with one
 * element, maps empty, enums at their first value), in JSON names: what the call form is
 * pre-filled with, and what the page shows as the request's and response's shape.
 */
export function messageShape(message: DescMessage, depth = 0): JsonValue {
  const known = wellKnownExamples[message.typeName];
  if (known !== undefined) return known;
  if (depth >= maxDepth) return {};
  const shape: Record<string, JsonValue> = {};
  for (const field of message.fields) {
    // A oneof shows its first member only: a request sets one of them.
    if (field.oneof && field.oneof.fields[0] !== field) continue;
    shape[field.jsonName] = fieldShape(field, depth);
  }
  return shape;
}

/**
 * What the call form is pre-filled with for a request: its shape, except that an update request
 * (one with a google.protobuf.FieldMask field) gets its resource's scalar and enum fields alone,
 * at zero, and an empty mask. A service that reads an omitted mask as AIP-134 does (a scaffolded
 * one) changes the fields set to other than zero, so what the form leaves as it came is kept; a
 * message, list or oneof filled in for show would count as set, and replace what is stored.
 */
export function requestShape(message: DescMessage): JsonValue {
  if (!message.fields.some(isFieldMask)) return messageShape(message);
  const shape: Record<string, JsonValue> = {};
  for (const field of message.fields) {
    if (field.fieldKind === "message" && !isFieldMask(field) && wellKnownExamples[field.message.typeName] === undefined)
      shape[field.jsonName] = scalarsOf(field.message);
    else if (field.fieldKind === "scalar" || field.fieldKind === "enum" || isFieldMask(field))
      shape[field.jsonName] = fieldShape(field, 0);
  }
  return shape;
}

function isFieldMask(field: DescField): boolean {
  return field.fieldKind === "message" && field.message.typeName === "google.protobuf.FieldMask";
}

/**
 * A message's scalar and enum fields at zero; oneof members and `optional` fields left out, which
 * count as set even at zero.
 */
function scalarsOf(message: DescMessage): JsonValue {
  const shape: Record<string, JsonValue> = {};
  for (const field of message.fields)
    if ((field.fieldKind === "scalar" || field.fieldKind === "enum") && !field.oneof && !field.proto.proto3Optional)
      shape[field.jsonName] = fieldShape(field, 0);
  return shape;
}

function fieldShape(field: DescField, depth: number): JsonValue {
  switch (field.fieldKind) {
    case "map":
      return {};
    case "list":
      return [elementShape(field.listKind === "message" ? field.message : undefined, field, depth)];
    default:
      return elementShape(field.fieldKind === "message" ? field.message : undefined, field, depth);
  }
}

function elementShape(message: DescMessage | undefined, field: DescField, depth: number): JsonValue {
  if (message) return messageShape(message, depth + 1);
  if (field.enum) return field.enum.values[0]?.name ?? 0;
  return field.scalar === undefined ? null : scalarShape(field.scalar);
}

function scalarShape(scalar: ScalarType): JsonValue {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return "";
    case ScalarType.BOOL:
      return false;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "0";
    default:
      return 0;
  }
}
