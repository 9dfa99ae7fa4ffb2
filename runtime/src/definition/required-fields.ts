/**
 * proto2 `required` fields, checked where tsmicro meets messages it did not build: the gateway
 * (protobuf-es refuses to encode a message missing one, which grpc-js reported as a 500
 * "Request message serialization failure") and the gRPC server (ts-proto's decoder reads a
 * missing field as its zero value). Both answer INVALID_ARGUMENT naming the field, as
 * grpc-gateway's decoder does.
 */
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";

/** The presence of a required field, as a constant: importing it would load protobuf-es's descriptor schemas. */
const legacyRequired: FeatureSet_FieldPresence.LEGACY_REQUIRED = 3;

/** True when `desc` or a message type reachable from it has a required field: only those are checked. */
export function hasRequiredFields(desc: DescMessage, seen = new Set<DescMessage>()): boolean {
  if (seen.has(desc)) return false;
  seen.add(desc);
  for (const field of desc.fields) {
    if (isRequired(field)) return true;
    const nested = field.fieldKind === "message" ? field.message : messageValue(field);
    if (nested && hasRequiredFields(nested, seen)) return true;
  }
  return false;
}

/**
 * The first required field `message` lacks, as a path of proto field names from the request
 * (`scope.level`, `items[2].id`, `labels["a"].id`), with the field's full name; undefined when
 * every required field is set.
 */
export function missingRequiredField(
  desc: DescMessage,
  message: Message,
): { readonly path: string; readonly field: string } | undefined {
  return missingIn(reflect(desc, message), "");
}

function missingIn(message: ReflectMessage, prefix: string): { path: string; field: string } | undefined {
  for (const field of message.fields) {
    const path = `${prefix}${field.name}`;
    if (isRequired(field) && !message.isSet(field)) return { path, field: `${message.desc.typeName}.${field.name}` };
    if (!message.isSet(field)) continue;
    if (field.fieldKind === "message") {
      const found = missingIn(message.get(field), `${path}.`);
      if (found) return found;
    } else if (field.fieldKind === "list" && field.listKind === "message") {
      let index = 0;
      for (const item of message.get(field)) {
        const found = missingIn(item as ReflectMessage, `${path}[${index++}].`);
        if (found) return found;
      }
    } else if (field.fieldKind === "map" && field.mapKind === "message") {
      for (const [key, value] of message.get(field)) {
        const found = missingIn(value as ReflectMessage, `${path}[${JSON.stringify(String(key))}].`);
        if (found) return found;
      }
    }
  }
  return undefined;
}

function isRequired(field: DescField): boolean {
  return field.presence === legacyRequired;
}

function messageValue(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map" && field.mapKind === "message") return field.message;
  return undefined;
}
