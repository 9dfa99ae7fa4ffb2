import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  createFileRegistry,
  type DescField,
  type DescMessage,
  fromBinary,
  fromJson,
  type FileRegistry,
  type JsonValue,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { binaryToJson, jsonToBinary } from "./json-transcoder.js";

// Every message type of the golden protos: scalars of each type, enums, nesting, oneofs, maps,
// proto3 optional, proto2 (defaults, required, groups, extensions), well-known types.
const goldenDir = fileURLToPath(new URL("../../../test/golden/", import.meta.url));
const registries: FileRegistry[] = [];
for (const dir of readdirSync(goldenDir)
  .filter((d) => /^\d\d-/.test(d))
  .sort()) {
  for (const file of readdirSync(`${goldenDir}${dir}`).filter((f) => f.endsWith(".micro.ts"))) {
    const module = (await import(`${goldenDir}${dir}/${file}`)) as Record<string, { fileDescriptorSet?: unknown }>;
    for (const value of Object.values(module)) {
      if (typeof value?.fileDescriptorSet !== "string") continue;
      registries.push(
        createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(value.fileDescriptorSet, "base64"))),
      );
    }
  }
}
const messages = registries.flatMap((registry) =>
  [...registry].filter((type): type is DescMessage => type.kind === "message").map((desc) => ({ desc, registry })),
);

/** A small seeded generator, so a failure replays. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random JSON for `desc`: mostly valid, sometimes odd in the ways requests are (strings for numbers, both names, null, unknown keys). */
function randomJson(desc: DescMessage, next: () => number, depth: number): Record<string, unknown> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const json: Record<string, unknown> = {};
  for (const field of desc.fields) {
    if (next() < 0.45) continue;
    const name = next() < 0.8 ? field.jsonName : field.name;
    json[name] = next() < 0.03 ? null : fieldJson(field, next, depth, pick);
  }
  if (next() < 0.03) json.noSuchField = 1;
  return json;
}

function fieldJson(field: DescField, next: () => number, depth: number, pick: <T>(items: readonly T[]) => T): unknown {
  const one = () => singleJson(field, next, depth, pick);
  switch (field.fieldKind) {
    case "list":
      return Array.from({ length: Math.floor(next() * 4) }, one);
    case "map":
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 3) }, (_, i) => [String(i), one()]));
    default:
      return one();
  }
}

function singleJson(field: DescField, next: () => number, depth: number, pick: <T>(items: readonly T[]) => T): unknown {
  if (field.message) {
    if (field.message.typeName.startsWith("google.protobuf.")) return pick([{}, "2020-01-01T00:00:00Z", "1s", 1]);
    return depth > 3 ? {} : randomJson(field.message, next, depth + 1);
  }
  if (field.enum) {
    const values = field.enum.values;
    return pick([pick(values).name, pick(values).number, 0, 99, "NOT_A_VALUE"]);
  }
  switch (field.scalar) {
    case ScalarType.STRING:
      return pick(["", "a", "héllo wörld ✓", "x".repeat(200), 5]);
    case ScalarType.BOOL:
      return pick([true, false, "true", 0]);
    case ScalarType.BYTES:
      return pick(["", "aGVsbG8=", "aGVsbG8", "-_-_"]);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return pick([0, -0, 1.5, -2.25, 1e10, 3.5e38, 1e-7, "NaN", "Infinity", "1.5", 7]);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick([0, -0, 1, -1, 2147483647, -2147483648, 2147483648, 1.5, "12", "-7", "012", " 3", "0"]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick([0, 1, 4294967295, 4294967296, -1, "42", "0"]);
    default:
      return pick([
        0,
        -0,
        1,
        -1,
        9007199254740991,
        2 ** 53,
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "123456789012345678",
        "-5",
        "0",
        "-0",
        "007",
        1.5,
      ]);
  }
}

/** Random wire bytes for `desc`, as another implementation may send them: zero values written, fields repeated, lists packed or not, now and then a wrong wire type. */
function randomBinary(desc: DescMessage, next: () => number, depth: number): Uint8Array {
  const writer = new BinaryWriter();
  for (const field of desc.fields) {
    if (next() < 0.4) continue;
    const times = next() < 0.15 ? 2 : 1;
    for (let t = 0; t < times; t++) writeRandomField(writer, field, next, depth);
  }
  return writer.finish();
}

function writeRandomField(writer: BinaryWriter, field: DescField, next: () => number, depth: number): void {
  if (next() < 0.03) {
    writer.tag(field.number, WireType.Bit32).fixed32(7);
    return;
  }
  if (field.fieldKind === "map") return;
  if (field.message) {
    if (field.message.typeName.startsWith("google.protobuf.") || field.delimitedEncoding) return;
    const count = field.fieldKind === "list" ? Math.floor(next() * 3) : 1;
    for (let i = 0; i < count; i++)
      writer
        .tag(field.number, WireType.LengthDelimited)
        .bytes(depth > 3 ? new Uint8Array() : randomBinary(field.message, next, depth + 1));
    return;
  }
  const type = field.enum ? ScalarType.INT32 : field.scalar!;
  const value = (): [WireType, (w: BinaryWriter) => void] => {
    const small = Math.floor(next() * 3) - (next() < 0.5 ? 0 : 1);
    const zero = next() < 0.4;
    switch (type) {
      case ScalarType.STRING:
        return [WireType.LengthDelimited, (w) => w.string(zero ? "" : "s✓".repeat(small + 1))];
      case ScalarType.BYTES:
        return [
          WireType.LengthDelimited,
          (w) => w.bytes(zero ? new Uint8Array() : Uint8Array.from([1, 250, small & 255])),
        ];
      case ScalarType.BOOL:
        return [WireType.Varint, (w) => w.bool(!zero)];
      case ScalarType.DOUBLE:
        return [
          WireType.Bit64,
          (w) => w.double(zero ? (next() < 0.5 ? 0 : -0) : [1.5, Number.NaN, Infinity, -3][small + 1]!),
        ];
      case ScalarType.FLOAT:
        return [WireType.Bit32, (w) => w.float(zero ? 0 : [0.1, Number.NaN, -Infinity, 2][small + 1]!)];
      case ScalarType.FIXED32:
        return [WireType.Bit32, (w) => w.fixed32(zero ? 0 : 4294967295)];
      case ScalarType.SFIXED32:
        return [WireType.Bit32, (w) => w.sfixed32(zero ? 0 : small)];
      case ScalarType.FIXED64:
        return [WireType.Bit64, (w) => w.fixed64(zero ? 0 : "18446744073709551615")];
      case ScalarType.SFIXED64:
        return [WireType.Bit64, (w) => w.sfixed64(zero ? 0 : "-9223372036854775808")];
      case ScalarType.INT64:
        return [WireType.Varint, (w) => w.int64(zero ? 0 : small - 1)];
      case ScalarType.UINT64:
        return [WireType.Varint, (w) => w.uint64(zero ? 0 : "18446744073709551615")];
      case ScalarType.SINT64:
        return [WireType.Varint, (w) => w.sint64(zero ? 0 : small)];
      case ScalarType.SINT32:
        return [WireType.Varint, (w) => w.sint32(zero ? 0 : small)];
      case ScalarType.UINT32:
        return [WireType.Varint, (w) => w.uint32(zero ? 0 : 4000000000)];
      default:
        return [WireType.Varint, (w) => w.int32(zero ? 0 : field.enum ? [1, 2, 99, 3][small + 1]! : small)];
    }
  };
  if (field.fieldKind === "list") {
    const items = Array.from({ length: Math.floor(next() * 4) }, value);
    if (items.length > 0 && items[0]![0] !== WireType.LengthDelimited && next() < 0.5) {
      writer.tag(field.number, WireType.LengthDelimited).fork();
      for (const [, write] of items) write(writer);
      writer.join();
    } else for (const [wireType, write] of items) write(writer.tag(field.number, wireType));
    return;
  }
  const [wireType, write] = value();
  write(writer.tag(field.number, wireType));
}

/** protobuf-es's conversion, or the error it throws, as text. */
function viaProtobufEs(desc: DescMessage, registry: FileRegistry, json: unknown): Uint8Array | string {
  try {
    return toBinary(desc, fromJson(desc, json as JsonValue, { registry }));
  } catch (error) {
    return String(error);
  }
}

describe("jsonToBinary", () => {
  it("writes what protobuf-es writes, or declines, for random requests of every golden message type", () => {
    let compared = 0;
    for (const [index, { desc, registry }] of messages.entries()) {
      const next = random(index + 1);
      for (let round = 0; round < 40; round++) {
        const json = randomJson(desc, next, 0);
        const fast = jsonToBinary(desc, json);
        if (fast === undefined) continue;
        const expected = viaProtobufEs(desc, registry, json);
        expect(
          typeof expected === "string" ? expected : Buffer.from(expected).toString("hex"),
          JSON.stringify(json),
        ).toBe(Buffer.from(fast).toString("hex"));
        compared++;
      }
    }
    // Not a test that passes by declining everything.
    expect(compared).toBeGreaterThan(2000);
  });

  it("declines what it leaves to protobuf-es: unknown names, both names, null, maps, well-known types, bytes, odd numbers", () => {
    const scalars = messages.find(({ desc }) => desc.typeName === "fixtures.scalars.v1.Scalars")?.desc;
    expect(scalars).toBeDefined();
    const field = (type: ScalarType) => scalars!.fields.find((f) => f.fieldKind === "scalar" && f.scalar === type)!;
    const int32 = field(ScalarType.INT32);
    for (const json of [
      { nope: 1 },
      { [int32.jsonName]: 1, [int32.name]: 2 },
      { [int32.jsonName]: null },
      { [int32.jsonName]: "1e2" },
      { [int32.jsonName]: 1.5 },
      { [field(ScalarType.BYTES).jsonName]: "aGVsbG8=" },
      { [field(ScalarType.INT64).jsonName]: "007" },
      { [field(ScalarType.DOUBLE).jsonName]: "NaN" },
      [],
      "x",
    ])
      expect(jsonToBinary(scalars!, json), JSON.stringify(json)).toBeUndefined();
    expect(jsonToBinary(scalars!, { [int32.jsonName]: "12" })).toEqual(
      toBinary(scalars!, fromJson(scalars!, { [int32.jsonName]: 12 })),
    );
  });
});

describe("binaryToJson", () => {
  it("reads what protobuf-es reads, to the same JSON in the same key order, or declines", () => {
    let compared = 0;
    for (const [index, { desc, registry }] of messages.entries()) {
      const next = random(1000 + index);
      for (let round = 0; round < 40; round++) {
        const encoded =
          next() < 0.5 ? viaProtobufEs(desc, registry, randomJson(desc, next, 0)) : randomBinary(desc, next, 0);
        if (typeof encoded === "string") continue;
        const bytes = encoded;
        // Now and then a truncated or extended message: malformed, or with a field the type lacks.
        const input =
          next() < 0.1
            ? bytes.subarray(0, Math.floor(next() * bytes.length))
            : next() < 0.05
              ? Buffer.concat([bytes, Buffer.from([0xf8, 0x3f, 0x01])])
              : bytes;
        for (const useProtoFieldName of [false, true]) {
          const fast = binaryToJson(desc, input, useProtoFieldName);
          if (fast === undefined) continue;
          let expected: string;
          try {
            expected = JSON.stringify(toJson(desc, fromBinary(desc, input), { registry, useProtoFieldName }));
          } catch (error) {
            expected = String(error);
          }
          expect(JSON.stringify(fast)).toBe(expected);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(3000);
  });

  it("reads packed and unpacked repeated numbers alike, and declines malformed bytes", () => {
    const repeated = messages.find(({ desc }) =>
      desc.fields.some((f) => f.fieldKind === "list" && f.listKind === "scalar" && f.scalar === ScalarType.INT32),
    )!.desc;
    const list = repeated.fields.find((f) => f.fieldKind === "list" && f.scalar === ScalarType.INT32)!;
    const unpacked = new BinaryWriter()
      .tag(list.number, WireType.Varint)
      .int32(1)
      .tag(list.number, WireType.Varint)
      .int32(2);
    const packed = new BinaryWriter().tag(list.number, WireType.LengthDelimited).fork().int32(1).int32(2).join();
    expect(binaryToJson(repeated, unpacked.finish())?.[list.jsonName]).toEqual([1, 2]);
    expect(binaryToJson(repeated, packed.finish())?.[list.jsonName]).toEqual([1, 2]);
    expect(binaryToJson(repeated, new BinaryWriter().tag(list.number, WireType.Varint).finish())).toBeUndefined();
  });
});
