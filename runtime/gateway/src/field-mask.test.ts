import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ProfilesDefinition } from "../../../test/golden/19-gateway-parity/parity.micro.js";
import { fieldMaskJson, fieldMaskPaths, patchMaskFields } from "./field-mask.js";

const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(ProfilesDefinition.fileDescriptorSet, "base64")),
);
const profile = registry.getMessage("fixtures.parity.v1.Profile")!;
const updateRequest = registry.getMessage("fixtures.parity.v1.UpdateProfileRequest")!;
const createRequest = registry.getMessage("fixtures.parity.v1.CreateProfileRequest")!;

describe("fieldMaskPaths", () => {
  it.each([
    ["a scalar by JSON or proto name", { displayName: "a" }, ["display_name"]],
    ["the same field twice", { displayName: "a", display_name: "b" }, ["display_name"]],
    [
      "nested messages to their leaves",
      { address: { city: "x", geo: { lat: 1, lng: 2 } } },
      ["address.city", "address.geo.lat", "address.geo.lng"],
    ],
    ["an empty message or null as the field", { address: {}, settings: null }, ["address", "settings"]],
    ["lists and maps end the path", { tags: ["a"], labels: { k: "v" } }, ["labels", "tags"]],
    [
      "a Struct by its JSON keys",
      { settings: { a: { b: { c: 1 } }, d: [1], e: {} } },
      ["settings.a.b.c", "settings.d", "settings.e"],
    ],
    ["a Timestamp string as one field", { birthday: "2000-01-01T00:00:00Z" }, ["birthday"]],
    ["an empty body as no paths", {}, []],
  ])("%s", (_what, body, paths) => {
    expect(fieldMaskPaths(profile, body)).toEqual(paths);
  });
});

describe("patchMaskFields", () => {
  it("finds the body message and the update mask of a PATCH binding, and nothing for other bindings", () => {
    const patch = patchMaskFields(updateRequest, {
      method: "PATCH",
      path: "/v1/{profile.name=profiles/*}",
      body: "profile",
    });
    expect([patch?.body.name, patch?.mask.name]).toEqual(["profile", "update_mask"]);
    expect(patchMaskFields(updateRequest, { method: "PUT", path: "/x", body: "profile" })).toBeUndefined();
    expect(patchMaskFields(updateRequest, { method: "PATCH", path: "/x", body: "*" })).toBeUndefined();
    expect(patchMaskFields(createRequest, { method: "PATCH", path: "/x", body: "profile" })).toBeUndefined();
  });
});

describe("fieldMaskJson", () => {
  it("takes paths in proto field names or lowerCamel", () => {
    expect(fieldMaskJson("address.zip_code,display_name")).toBe("address.zipCode,displayName");
    expect(fieldMaskJson("address.zipCode,displayName")).toBe("address.zipCode,displayName");
  });
});
