/**
 * proto2 `required` fields, checked wherever a message crosses the wire and tsmicro did not
 * build it: the gateway (protobuf-es refuses to encode a message missing one, which grpc-js
 * reported as a 500 "Request message serialization failure"), the gRPC servers (ts-proto's
 * decoder reads a missing field as its zero value), a typed client (a partial request whose
 * required field is unset would be sent at its zero value, where protobuf's build() refuses;
 * a response missing one would read as zero) and `tsmicro call`. A request lacking one is
 * INVALID_ARGUMENT naming the field, as grpc-gateway's decoder says; a response lacking one is
 * the server's fault, INTERNAL, as grpc-java's marshaller reports a message it cannot parse.
 */
import type { DescField, DescMessage, Message, Registry } from "@bufbuild/protobuf";
import type { ReflectMessage } from "@bufbuild/protobuf/reflect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { loadModule } from "../platform/lazy-module.js";
import type { ServiceDefinition } from "./definition.js";

type Protobuf = typeof import("@bufbuild/protobuf");

/** A required field a message lacks: its path from the message (`scope.level`) and its full name. */
export interface MissingField {
  readonly path: string;
  readonly field: string;
}

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
export function missingRequiredField(desc: DescMessage, message: Message): MissingField | undefined {
  // Loaded here: typed clients import this module, and most never meet a required field.
  const { reflect } = loadModule<typeof import("@bufbuild/protobuf/reflect")>("@bufbuild/protobuf/reflect");
  return missingIn(reflect(desc, message), "");
}

function missingIn(message: ReflectMessage, prefix: string): MissingField | undefined {
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

/**
 * The descriptors of a service's files, when one of them besides descriptor.proto is proto2 or
 * editions (so may declare required fields); undefined otherwise. A proto3 service pays a scan
 * of the file headers, and protobuf-es's registry and descriptor schemas are loaded only here.
 */
export function requiredFieldRegistry(service: ServiceDefinition): Registry | undefined {
  const set = Buffer.from(service.fileDescriptorSet, "base64");
  if (!mayDeclareRequired(set)) return undefined;
  const protobuf = loadModule<Protobuf>("@bufbuild/protobuf");
  const { FileDescriptorSetSchema } = loadModule<typeof import("@bufbuild/protobuf/wkt")>("@bufbuild/protobuf/wkt");
  return protobuf.createFileRegistry(protobuf.fromBinary(FileDescriptorSetSchema, set));
}

/** The error for a request lacking a required field, wherever it is found. */
export function missingInRequest(missing: MissingField, what = "the request"): TsmicroError {
  return new TsmicroError(
    Code.INVALID_ARGUMENT,
    `${what} lacks ${missing.path} (${missing.field}), a required field: send it, even at its zero value`,
  );
}

/** The error for a response lacking a required field: the server sent a message its proto does not allow. */
export function missingInResponse(missing: MissingField): TsmicroError {
  return new TsmicroError(
    Code.INTERNAL,
    `the response lacks ${missing.path} (${missing.field}), a required field: the server sent an incomplete message`,
  );
}

/**
 * Checks a message's bytes: the error `toError` makes of the first required field they lack, or
 * undefined when every one is there. Malformed bytes pass: they are the generated decoder's to
 * refuse, as for any other message.
 */
export function binaryCheck(
  desc: DescMessage,
  toError: (missing: MissingField) => TsmicroError,
): (bytes: Uint8Array) => TsmicroError | undefined {
  const { fromBinary } = loadModule<Protobuf>("@bufbuild/protobuf");
  return (bytes) => {
    let missing: MissingField | undefined;
    try {
      missing = missingRequiredField(desc, fromBinary(desc, bytes));
    } catch {
      return undefined;
    }
    return missing && toError(missing);
  };
}

/**
 * Checks a message given as a plain object, as ts-proto types it (a request a typed client is
 * about to complete with defaults): the first required field left undefined or null, by the
 * same path as missingRequiredField; undefined when none is. Only message types that reach a
 * required field are walked.
 */
export function objectCheck(desc: DescMessage): (value: unknown) => MissingField | undefined {
  const walked = new Map<DescMessage, boolean>();
  const needed = (message: DescMessage): boolean => {
    let need = walked.get(message);
    if (need === undefined) {
      need = hasRequiredFields(message);
      walked.set(message, need);
    }
    return need;
  };
  const missing = (message: DescMessage, value: Record<string, unknown>, prefix: string): MissingField | undefined => {
    for (const field of message.fields) {
      const path = `${prefix}${field.name}`;
      const set = fieldValue(field, value);
      if (set === undefined || set === null) {
        if (isRequired(field)) return { path, field: `${message.typeName}.${field.name}` };
        continue;
      }
      const nested = field.fieldKind === "message" ? field.message : messageValue(field);
      if (!nested || !needed(nested)) continue;
      if (field.fieldKind === "message") {
        const found = missing(nested, set as Record<string, unknown>, `${path}.`);
        if (found) return found;
      } else if (field.fieldKind === "list") {
        let index = 0;
        for (const item of set as Iterable<Record<string, unknown>>) {
          const found = missing(nested, item, `${path}[${index++}].`);
          if (found) return found;
        }
      } else {
        const entries = set instanceof Map ? [...set] : Object.entries(set as Record<string, unknown>);
        for (const [key, item] of entries) {
          const found = missing(nested, item as Record<string, unknown>, `${path}[${JSON.stringify(String(key))}].`);
          if (found) return found;
        }
      }
    }
    return undefined;
  };
  return (value) =>
    needed(desc) && typeof value === "object" && value !== null
      ? missing(desc, value as Record<string, unknown>, "")
      : undefined;
}

/** A field's value in a ts-proto object: its property, or inside its oneof's `{ $case, value }` union. */
function fieldValue(field: DescField, value: Record<string, unknown>): unknown {
  if (!field.oneof) return value[field.localName];
  const union = value[field.oneof.localName] as { $case?: unknown; value?: unknown } | undefined | null;
  return union?.$case === field.localName ? union.value : undefined;
}

/** True when a FileDescriptorSet holds a file, besides descriptor.proto, whose syntax allows required fields. */
function mayDeclareRequired(set: Uint8Array): boolean {
  const reader = new BinaryReader(set);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    const file = new BinaryReader(reader.bytes());
    let name = "";
    let syntax = "";
    while (file.pos < file.len) {
      const [number, type] = file.tag();
      if (number === 1 && type === WireType.LengthDelimited) name = file.string();
      else if (number === 12 && type === WireType.LengthDelimited) syntax = file.string();
      else file.skip(type, number);
    }
    // An empty syntax is proto2; "editions" may declare fields LEGACY_REQUIRED.
    if (syntax !== "proto3" && name !== "google/protobuf/descriptor.proto") return true;
  }
  return false;
}
