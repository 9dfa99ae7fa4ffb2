import { create, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import type { HttpRule } from "@tsmicro/runtime";
import { lowerCamel } from "@tsmicro/runtime/routing";

/** Messages whose JSON keys are data, not field names: their paths follow the JSON as it is. */
const dynamicMessages = new Set(["google.protobuf.Struct", "google.protobuf.Value"]);

/**
 * The request's update mask a PATCH binding fills from its body, as grpc-gateway does: for a
 * `PATCH` whose `body` is one singular message field, the request's FieldMask field named
 * `update_mask`, else its only FieldMask field. Undefined when the binding has no such pair.
 */
export function patchMaskFields(
  input: DescMessage,
  rule: HttpRule | undefined,
): { body: DescField; mask: DescField } | undefined {
  if (rule?.method.toUpperCase() !== "PATCH" || !rule.body || rule.body === "*") return undefined;
  const body = input.fields.find((f) => f.name === rule.body);
  if (body?.fieldKind !== "message") return undefined;
  const masks = input.fields.filter(
    (f) => f.fieldKind === "message" && f.message.typeName === "google.protobuf.FieldMask",
  );
  const mask = masks.find((f) => f.name === "update_mask") ?? (masks.length === 1 ? masks[0] : undefined);
  return mask ? { body, mask } : undefined;
}

/**
 * Sets the update mask of a PATCH request the client sent without one (or with an empty one)
 * to the fields present in the JSON body, so a service that follows AIP-134 updates only those
 * instead of clearing the rest. See fieldMaskPaths for the paths.
 */
export function fillUpdateMask(message: Message, fields: { body: DescField; mask: DescField }, body: unknown): void {
  const record = message as unknown as Record<string, { paths?: readonly string[] } | undefined>;
  if ((record[fields.mask.localName]?.paths?.length ?? 0) > 0) return;
  if (fields.body.fieldKind !== "message" || !isObject(body)) return;
  record[fields.mask.localName] = create(FieldMaskSchema, { paths: fieldMaskPaths(fields.body.message, body) });
}

/**
 * The field mask paths of a JSON object decoded as `desc`, in proto field names and sorted, as
 * grpc-gateway's FieldMaskFromRequestBody makes them: a nested message is followed to its
 * fields (`address.city`); a repeated field, a map, an `Any`, an empty object, `null` or any
 * other value ends a path; a `Struct` or `Value` is followed by its JSON keys
 * (`attributes.theme.color`). Keys naming no field are skipped (the body has already decoded).
 */
export function fieldMaskPaths(desc: DescMessage, json: Readonly<Record<string, unknown>>): string[] {
  const paths = new Set<string>();
  const walk = (message: DescMessage, object: Readonly<Record<string, unknown>>, prefix: string): void => {
    for (const [key, value] of Object.entries(object)) {
      const field = message.fields.find((f) => f.name === key || f.jsonName === key);
      if (!field) continue;
      const path = `${prefix}${field.name}`;
      if (field.fieldKind !== "message" || field.message.typeName === "google.protobuf.Any") paths.add(path);
      else if (dynamicMessages.has(field.message.typeName)) dataPaths(value, path, paths);
      else if (isObject(value) && Object.keys(value).length > 0) walk(field.message, value, `${path}.`);
      else paths.add(path);
    }
  };
  walk(desc, json, "");
  return [...paths].sort();
}

/** Paths inside a Struct or Value: one per leaf of the JSON, keys as they are. */
function dataPaths(value: unknown, path: string, paths: Set<string>): void {
  if (!isObject(value) || Object.keys(value).length === 0) {
    paths.add(path);
    return;
  }
  for (const [key, inner] of Object.entries(value)) dataPaths(inner, `${path}.${key}`, paths);
}

/**
 * A FieldMask given as a query parameter or path variable, as proto3 JSON takes it: each path
 * segment in lowerCamel, so `update_mask=address.zip_code,display_name` works as well as the
 * JSON form `address.zipCode,displayName`.
 */
export function fieldMaskJson(value: string): string {
  return value
    .split(",")
    .map((path) => path.trim().split(".").map(lowerCamel).join("."))
    .join(",");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
