import { createFileRegistry, fromJson } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  file_google_protobuf_field_mask,
  file_google_protobuf_timestamp,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { messageShape, requestShape } from "./message-shape.js";

/** A file with every kind of field the form must show, built as protoc would describe it. */
const registry = createFileRegistry(
  fromJson(FileDescriptorProtoSchema, {
    name: "shape.proto",
    package: "shape.v1",
    syntax: "proto3",
    dependency: ["google/protobuf/timestamp.proto", "google/protobuf/field_mask.proto"],
    enumType: [
      {
        name: "Genre",
        value: [
          { name: "GENRE_UNSPECIFIED", number: 0 },
          { name: "GENRE_FICTION", number: 1 },
        ],
      },
    ],
    messageType: [
      {
        name: "Book",
        field: [
          { name: "title", number: 1, label: "LABEL_OPTIONAL", type: "TYPE_STRING", jsonName: "title" },
          { name: "page_count", number: 2, label: "LABEL_OPTIONAL", type: "TYPE_INT64", jsonName: "pageCount" },
          {
            name: "genre",
            number: 3,
            label: "LABEL_OPTIONAL",
            type: "TYPE_ENUM",
            typeName: ".shape.v1.Genre",
            jsonName: "genre",
          },
          { name: "tags", number: 4, label: "LABEL_REPEATED", type: "TYPE_STRING", jsonName: "tags" },
          {
            name: "published",
            number: 5,
            label: "LABEL_OPTIONAL",
            type: "TYPE_MESSAGE",
            typeName: ".google.protobuf.Timestamp",
            jsonName: "published",
          },
          {
            name: "sequel",
            number: 6,
            label: "LABEL_OPTIONAL",
            type: "TYPE_MESSAGE",
            typeName: ".shape.v1.Book",
            jsonName: "sequel",
          },
          {
            name: "subtitle",
            number: 7,
            label: "LABEL_OPTIONAL",
            type: "TYPE_STRING",
            jsonName: "subtitle",
            proto3Optional: true,
            oneofIndex: 0,
          },
        ],
        oneofDecl: [{ name: "_subtitle" }],
      },
      {
        name: "UpdateBookRequest",
        field: [
          {
            name: "book",
            number: 1,
            label: "LABEL_OPTIONAL",
            type: "TYPE_MESSAGE",
            typeName: ".shape.v1.Book",
            jsonName: "book",
          },
          {
            name: "update_mask",
            number: 2,
            label: "LABEL_OPTIONAL",
            type: "TYPE_MESSAGE",
            typeName: ".google.protobuf.FieldMask",
            jsonName: "updateMask",
          },
        ],
      },
    ],
  }),
  (name) => [file_google_protobuf_timestamp, file_google_protobuf_field_mask].find((file) => file.proto.name === name),
);

describe("messageShape", () => {
  it("spells out every field at its zero value in JSON names, stopping a recursive message", () => {
    const shape = messageShape(registry.getMessage("shape.v1.Book")!) as Record<string, unknown>;
    expect(Object.keys(shape)).toEqual(["title", "pageCount", "genre", "tags", "published", "sequel", "subtitle"]);
    expect(shape).toMatchObject({
      title: "",
      pageCount: "0",
      genre: "GENRE_UNSPECIFIED",
      tags: [""],
      published: "1970-01-01T00:00:00Z",
    });
    let depth = 0;
    for (
      let book = shape;
      book.sequel && Object.keys(book.sequel).length > 0;
      book = book.sequel as Record<string, unknown>
    )
      depth++;
    // Four levels in all: the message and three nested ones, the last empty.
    expect(depth).toBe(3);
  });

  it("is a request the method accepts as it stands", () => {
    const book = registry.getMessage("shape.v1.Book")!;
    expect(() => fromJson(book, messageShape(book), { registry })).not.toThrow();
  });
});

describe("requestShape", () => {
  it("fills an update request's resource with its scalar fields alone, at zero, which an omitted mask leaves as stored", () => {
    const update = registry.getMessage("shape.v1.UpdateBookRequest")!;
    expect(requestShape(update)).toEqual({
      book: { title: "", pageCount: "0", genre: "GENRE_UNSPECIFIED" },
      updateMask: "",
    });
    expect(() => fromJson(update, requestShape(update), { registry })).not.toThrow();
  });

  it("is the message's shape for any other request", () => {
    const book = registry.getMessage("shape.v1.Book")!;
    expect(requestShape(book)).toEqual(messageShape(book));
  });
});
