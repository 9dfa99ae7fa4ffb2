import { create } from "@bufbuild/protobuf";
import {
  DescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { changedFields, messagesOf } from "./changed-fields.js";

/** user/v1/user.proto with message Ask holding one field `name = 1` (`value` unless given) of `type`. */
const file = (type: Type, label = Label.OPTIONAL, name = "value") =>
  create(FileDescriptorProtoSchema, {
    name: "user/v1/user.proto",
    package: "user.v1",
    messageType: [
      create(DescriptorProtoSchema, { name: "Ask", field: [{ name, jsonName: name, number: 1, type, label }] }),
    ],
  });

const changes = (from: ReturnType<typeof file>, to: ReturnType<typeof file>) =>
  changedFields(new Map(messagesOf(from)), [to], "proto").map((line) => line.slice(0, line.search(/: (callers|gRPC)/)));

describe("changedFields", () => {
  it("names a field whose values no longer read as before: another wire encoding, or a number made a list", () => {
    expect(changes(file(Type.STRING), file(Type.INT64))).toEqual([
      "retyped: field value = 1 of user.v1.Ask in proto/user/v1/user.proto is int64, where it was string",
    ]);
    expect(changes(file(Type.INT32), file(Type.SINT32))).toHaveLength(1);
    expect(changes(file(Type.INT32), file(Type.INT32, Label.REPEATED))).toEqual([
      "retyped: field value = 1 of user.v1.Ask in proto/user/v1/user.proto is repeated int32, where it was int32",
    ]);
    // Renamed: the same on the wire, but JSON callers send the old name.
    expect(changes(file(Type.STRING), file(Type.STRING, Label.OPTIONAL, "amount"))).toEqual([
      "renamed: field value of user.v1.Ask in proto/user/v1/user.proto is now named amount",
    ]);
  });

  it("says nothing of changes protobuf reads the same: int32 to int64, string to bytes, a string made a list", () => {
    expect(changes(file(Type.INT32), file(Type.INT64))).toEqual([]);
    expect(changes(file(Type.STRING), file(Type.BYTES))).toEqual([]);
    expect(changes(file(Type.STRING), file(Type.STRING, Label.REPEATED))).toEqual([]);
  });
});
