import { create, createFileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { isTsmicroError } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import { type BackendService, findMethod } from "./backend-catalogue.js";
import { gatewayMethods } from "./gateway-method.js";

/** A proto file of package `pkg` with a `Catalog` service whose methods are `methods`, each Empty-like. */
function catalogFile(pkg: string, methods: string[]) {
  return create(FileDescriptorProtoSchema, {
    name: `${pkg.replaceAll(".", "/")}/catalog.proto`,
    package: pkg,
    syntax: "proto3",
    messageType: [{ name: "Item" }],
    service: [
      {
        name: "Catalog",
        method: methods.map((name) => ({ name, inputType: `.${pkg}.Item`, outputType: `.${pkg}.Item` })),
      },
    ],
  });
}

const registry = createFileRegistry(
  create(FileDescriptorSetSchema, {
    file: [catalogFile("acme.shop.v1", ["GetItem", "ListItems"]), catalogFile("acme.other.v1", ["GetItem"])],
  }),
);
const backend: BackendService = {
  name: "two",
  typeNames: ["acme.other.v1.Catalog", "acme.shop.v1.Catalog"],
  methods: [
    ...gatewayMethods("two", "acme.other.v1.Catalog", registry),
    ...gatewayMethods("two", "acme.shop.v1.Catalog", registry),
  ],
  descriptors: new Map(),
};

describe("findMethod", () => {
  it("finds a method by its service's short or full name, or by its name alone where only one service has it", () => {
    expect(findMethod(backend, "acme.shop.v1.Catalog.GetItem")?.rpc).toBe("acme.shop.v1.Catalog.GetItem");
    expect(findMethod(backend, "/acme.other.v1.Catalog/GetItem")?.rpc).toBe("acme.other.v1.Catalog.GetItem");
    expect(findMethod(backend, "Catalog.list_items")?.rpc).toBe("acme.shop.v1.Catalog.ListItems");
    expect(findMethod(backend, "ListItems")?.rpc).toBe("acme.shop.v1.Catalog.ListItems");
    expect(findMethod(backend, "Catalog.Missing")).toBeUndefined();
  });

  it("refuses to guess between two packages' services of one name, naming both", () => {
    let refusal: unknown;
    try {
      findMethod(backend, "Catalog.GetItem");
    } catch (error) {
      refusal = error;
    }
    expect(isTsmicroError(refusal) && refusal.code).toBe(3);
    expect((refusal as Error).message).toBe(
      "Catalog.GetItem is ambiguous on two: acme.other.v1.Catalog.GetItem and acme.shop.v1.Catalog.GetItem both match; " +
        "name one in full, such as acme.other.v1.Catalog.GetItem",
    );
  });
});
