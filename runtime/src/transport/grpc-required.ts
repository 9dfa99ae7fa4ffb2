import type { DescMessage } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { ServiceDefinition } from "../definition/definition.js";
import { hasRequiredFields, missingRequiredField } from "../definition/required-fields.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { loadModule } from "../platform/lazy-module.js";

type Protobuf = typeof import("@bufbuild/protobuf");

/** Checks one request's bytes: the error to answer with, or undefined when every required field is there. */
export type RequiredFieldCheck = (bytes: Uint8Array) => TsmicroError | undefined;

/**
 * The proto2 required-field checks of a service's unary and server-streaming methods, by gRPC
 * path, for requests that can carry required fields: ts-proto's decoder reads a missing field
 * as its zero value, so without a check the handler could not tell. Descriptors are read only
 * when a file of the service other than descriptor.proto is proto2 or editions, so proto3
 * services pay a scan of the file headers and nothing per call.
 */
export function requiredFieldChecks(service: ServiceDefinition): ReadonlyMap<string, RequiredFieldCheck> {
  const checks = new Map<string, RequiredFieldCheck>();
  const set = Buffer.from(service.fileDescriptorSet, "base64");
  if (!mayDeclareRequired(set)) return checks;
  // Loaded only now: protobuf-es's registry and descriptor schemas cost a proto3 service nothing.
  const protobuf = loadModule<Protobuf>("@bufbuild/protobuf");
  const { FileDescriptorSetSchema } = loadModule<typeof import("@bufbuild/protobuf/wkt")>("@bufbuild/protobuf/wkt");
  const registry = protobuf.createFileRegistry(protobuf.fromBinary(FileDescriptorSetSchema, set));
  for (const method of Object.values(service.methods)) {
    if (method.kind !== "unary" && method.kind !== "server_streaming") continue;
    const desc = registry.getMessage(method.inputType);
    if (desc && hasRequiredFields(desc)) checks.set(method.path, requestCheck(desc, protobuf.fromBinary));
  }
  return checks;
}

function requestCheck(desc: DescMessage, fromBinary: Protobuf["fromBinary"]): RequiredFieldCheck {
  return (bytes) => {
    let missing: ReturnType<typeof missingRequiredField>;
    try {
      missing = missingRequiredField(desc, fromBinary(desc, bytes));
    } catch {
      // Malformed bytes are the generated decoder's to refuse, as for any other message.
      return undefined;
    }
    return missing
      ? new TsmicroError(
          Code.INVALID_ARGUMENT,
          `the request lacks ${missing.path} (${missing.field}), a required field: send it, even at its zero value`,
        )
      : undefined;
  };
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
