import { toBinary } from "@bufbuild/protobuf";
import {
  CodeGeneratorRequestSchema,
  FieldDescriptorProto_Type,
  type CodeGeneratorRequest,
  type DescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { SetupError } from "@tsmicro/runtime/errors";

/**
 * Identifiers ts-proto's output uses unqualified. A top-level message or
 * enum with one of these names would shadow it and silently change the
 * types (a message named `Uint8Array` retypes every bytes field), so it is
 * refused with a clear error instead.
 */
const shadowedByMessages = new Set([
  "Uint8Array",
  "BigInt",
  "Math",
  "Partial",
  "ReadonlyArray",
  "globalThis",
  "Builtin",
  "DeepPartial",
  "Exact",
  "KeysOfUnion",
  "MessageFns",
  "BinaryReader",
  "BinaryWriter",
  "isSet",
  "isObject",
  "bytesFromBase64",
  "base64FromBytes",
  "toTimestamp",
  "fromTimestamp",
  "fromJsonTimestamp",
  "longToNumber",
  "protobufPackage",
  "protobufFileName",
]);

/**
 * Properties every JavaScript object has. A field generated as one (proto
 * `constructor`, `to_string`) is read by ts-proto's code from any object:
 * `fromJSON` of JSON without the field takes `Object`'s own `constructor`
 * function as its value, and no object literal fits the message's partial
 * type; so such a field is refused with a clear error instead.
 */
const objectProperties = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Spellings of special floating-point defaults in descriptors, as JavaScript. */
const specialFloats: Record<string, string> = { inf: "Infinity", "-inf": "-Infinity", nan: "NaN" };

/**
 * Checks a request and evens out what protoc and buf write differently, so
 * both produce identical files: floating-point defaults (`-1e+10` against
 * `-1e10`, `inf`) become canonical JavaScript numbers. Returns the bytes to
 * hand to ts-proto. `files` are the files that will be emitted.
 */
export function prepareRequest(request: CodeGeneratorRequest, files: ReadonlySet<string>): Uint8Array {
  for (const proto of request.protoFile) {
    if (!files.has(proto.name)) continue;
    for (const type of [...proto.messageType, ...proto.enumType]) {
      if (!shadowedByMessages.has(type.name)) continue;
      const kind = "field" in type ? "message" : "enum";
      const fullName = proto.package ? `${proto.package}.${type.name}` : type.name;
      throw new SetupError("TSM_ERR_SHADOWED_NAME", kind, fullName, proto.name, type.name, `${type.name}Message`);
    }
    for (const message of proto.messageType)
      checkFieldNames(message, proto.package ? `${proto.package}.` : "", proto.name);
    proto.messageType.forEach(normalizeDefaults);
  }
  request.compilerVersion = undefined;
  return toBinary(CodeGeneratorRequestSchema, request);
}

/** Refuses a field of `message` (or of a message nested in it) whose property would be one every object has. */
function checkFieldNames(message: DescriptorProto, prefix: string, file: string): void {
  const fullName = `${prefix}${message.name}`;
  for (const field of message.field) {
    const camel = lowerCamel(field.name);
    // The name that clashes: the camelCase property (`to_string`), or the name itself (`__proto__`).
    const property = objectProperties.has(camel) ? camel : objectProperties.has(field.name) ? field.name : undefined;
    if (property !== undefined)
      throw new SetupError("TSM_ERR_FIELD_NAME", field.name, fullName, file, property, renamed(field.name));
  }
  for (const nested of message.nestedType) checkFieldNames(nested, `${fullName}.`, file);
}

/** A name to suggest for such a field, in proto's lower_snake_case: `to_string_value`, `proto_value` for `__proto__`. */
function renamed(name: string): string {
  return `${name.replace(/^_+|_+$/g, "") || "field"}_value`;
}

/** A field's property name as ts-proto writes it: `to_string` becomes `toString`. */
function lowerCamel(name: string): string {
  return name.replace(/_+([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

function normalizeDefaults(message: DescriptorProto): void {
  for (const field of message.field) {
    const isFloat = field.type === FieldDescriptorProto_Type.DOUBLE || field.type === FieldDescriptorProto_Type.FLOAT;
    if (!isFloat || field.defaultValue === undefined) continue;
    field.defaultValue = specialFloats[field.defaultValue] ?? String(Number(field.defaultValue));
  }
  message.nestedType.forEach(normalizeDefaults);
}

/** The requested files and everything they import, transitively: what the output must contain to compile. */
export function filesToEmit(request: CodeGeneratorRequest): Set<string> {
  const byName = new Map(request.protoFile.map((file) => [file.name, file]));
  const emitted = new Set<string>();
  const visit = (name: string): void => {
    if (emitted.has(name)) return;
    emitted.add(name);
    byName.get(name)?.dependency.forEach(visit);
  };
  request.fileToGenerate.forEach(visit);
  return emitted;
}
