import { createFileRegistry, type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { CatalogServiceDefinition } from "../../../test/golden/05-maps-repeated/maps.micro.js";
import { LibraryDefinition } from "../../../test/golden/16-gateway/gateway.micro.js";
import { oddNumberString } from "./number-strings.js";

function message(definition: { fileDescriptorSet: string }, typeName: string): DescMessage {
  const registry = createFileRegistry(
    fromBinary(FileDescriptorSetSchema, Buffer.from(definition.fileDescriptorSet, "base64")),
  );
  const desc = registry.getMessage(typeName);
  if (!desc) throw new Error(`no ${typeName}`);
  return desc;
}

const echo = message(LibraryDefinition, "fixtures.gateway.v1.EchoMessage");
const catalog = message(CatalogServiceDefinition, "fixtures.maps.v1.Catalog");

describe("oddNumberString", () => {
  it("finds a number in a string that is no JSON number, at any depth, naming where", () => {
    expect(oddNumberString(echo, { int64Value: "0x10" })).toMatchObject({ path: "int64Value", value: "0x10" });
    expect(oddNumberString(echo, { int64_list: ["1", "+2"] })).toMatchObject({ path: "int64_list[1]", value: "+2" });
    expect(oddNumberString(echo, { wrappedInt64: "1." })).toMatchObject({ path: "wrappedInt64", value: "1." });
    expect(oddNumberString(catalog, { itemsBySlot: { "3": { quantity: "0b1" } } })).toMatchObject({
      path: 'itemsBySlot["3"].quantity',
      value: "0b1",
    });
    expect(oddNumberString(catalog, { prices: { tea: ".5" } })).toMatchObject({ path: 'prices["tea"]', value: ".5" });
    expect(oddNumberString(echo, { doubleValue: "Infinity " })).toEqual({
      path: "doubleValue",
      value: "Infinity ",
      expected:
        'expected a double: a number, or a string holding a JSON number such as "-3.5", "1e-3", "NaN" or "Infinity"',
    });
  });

  it("takes JSON numbers, NaN and infinities for floats, and what is not a number's to judge", () => {
    const fine = {
      int64Value: "-9223372036854775808",
      int32Value: "-1.0e1",
      doubleValue: "NaN",
      stringValue: "0x10",
      genre: "GENRE_SCIENCE",
      timestamp: "2024-01-01T00:00:00Z",
      structValue: { n: "0x10" },
      labels: { a: "+1" },
    };
    expect(oddNumberString(echo, { ...fine })).toBeUndefined();
    // Names it does not know are protobuf-es's to refuse.
    expect(oddNumberString(echo, { nope: "0x10", book: [] })).toBeUndefined();
  });

  it("rewrites a whole 64-bit integer written with a fraction or an exponent as its digits, in place", () => {
    const cases: [string, string][] = [
      ["1e3", "1000"],
      ["12.0", "12"],
      ["-2.5e1", "-25"],
      ["100e-2", "1"],
      ["0.0e5", "0"],
      ["9223372036854775807.000", "9223372036854775807"],
      // Not whole, or too long for 64 bits: as written, for protobuf-es to refuse.
      ["1.5", "1.5"],
      ["5e-1", "5e-1"],
      ["1e30", "1e30"],
    ];
    for (const [given, read] of cases) {
      const body = { int64Value: given, int64List: [given] };
      expect(oddNumberString(echo, body), given).toBeUndefined();
      expect(body, given).toEqual({ int64Value: read, int64List: [read] });
    }
    // A 32-bit integer or a double is left as written: protobuf-es reads those with Number().
    const body = { int32Value: "1e3" };
    oddNumberString(echo, body);
    expect(body).toEqual({ int32Value: "1e3" });
  });
});
