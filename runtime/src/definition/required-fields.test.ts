import { createFileRegistry, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ProfilesDefinition } from "../../../test/golden/19-gateway-parity/parity.micro.js";
import { hasRequiredFields, missingRequiredField, objectCheck } from "./required-fields.js";

// Fixture 19 embeds google/protobuf/descriptor.proto, whose UninterpretedOption.NamePart is proto2
// with two required fields, reached through a repeated field and from FileDescriptorProto's options.
const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(ProfilesDefinition.fileDescriptorSet, "base64")),
);
const option = registry.getMessage("google.protobuf.UninterpretedOption")!;

describe("hasRequiredFields", () => {
  it("is true for a message with required fields in itself or in message types it reaches", () => {
    expect(hasRequiredFields(registry.getMessage("google.protobuf.UninterpretedOption.NamePart")!)).toBe(true);
    expect(hasRequiredFields(option)).toBe(true);
    expect(hasRequiredFields(registry.getMessage("google.protobuf.FileDescriptorProto")!)).toBe(true);
  });

  it("is false for proto3 messages, recursive ones included", () => {
    expect(hasRequiredFields(registry.getMessage("fixtures.parity.v1.UpdateProfileRequest")!)).toBe(false);
    expect(hasRequiredFields(registry.getMessage("google.protobuf.Struct")!)).toBe(false);
  });
});

describe("missingRequiredField", () => {
  it.each([
    [{ name: [{ namePart: "a", isExtension: false }] }, undefined],
    [{ name: [{ namePart: "", isExtension: false }, { namePart: "b" }] }, "name[1].is_extension"],
    [{ name: [{ isExtension: true }] }, "name[0].name_part"],
    [{ identifierValue: "x" }, undefined],
  ] as [JsonValue, string | undefined][])("in %j: %s", (json, path) => {
    const missing = missingRequiredField(option, fromJson(option, json));
    expect(missing?.path).toBe(path);
    if (path) expect(missing?.field).toBe(`google.protobuf.UninterpretedOption.NamePart.${path.split(".").at(-1)}`);
  });
});

describe("objectCheck", () => {
  it.each([
    [{ name: [{ namePart: "a", isExtension: false }] }, undefined],
    [{ name: [{ namePart: "", isExtension: false }, { namePart: "b" }] }, "name[1].is_extension"],
    [{ name: [{ isExtension: true, namePart: null }] }, "name[0].name_part"],
    [{ identifierValue: "x" }, undefined],
  ] as [object, string | undefined][])("in the plain object %j: %s", (value, path) => {
    expect(objectCheck(option)(value)?.path).toBe(path);
  });

  it("walks no message type that reaches no required field", () => {
    const struct = registry.getMessage("google.protobuf.Struct")!;
    expect(objectCheck(struct)({ fields: { a: new Date() } })).toBeUndefined();
  });
});
