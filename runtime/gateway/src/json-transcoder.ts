import { type DescEnum, type DescField, type DescMessage, type JsonObject, ScalarType } from "@bufbuild/protobuf";
import { base64Encode, BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/**
 * Proto3 JSON straight to the protobuf binary format and back, for the gateway's unary calls,
 * without protobuf-es's message objects in between (a third of protobuf-es's time per request). It
 * takes the common shapes only: scalars, enums, nested messages and repeated fields. Anything
 * else, and any value it is not sure of (maps, well-known types, bytes in requests, null, a
 * number written oddly, unknown names, a field given twice), it declines: it returns undefined
 * and the caller goes through protobuf-es, which converts it or names the problem. So it never
 * accepts what protobuf-es would refuse, and what it produces is what protobuf-es produces
 * (json-transcoder.test.ts compares the two on random messages of every golden proto).
 */

/** Thrown inside to give up; never leaves this module. */
const declined = new Error("declined");

/** Protobuf decoders stop at this nesting; deeper input goes to protobuf-es, which says so. */
const maxDepth = 100;

/**
 * One writer for every request: encoding is synchronous, and it keeps its grown buffer, so a
 * request costs the copy `finish()` returns. `finish()` also empties it after a decline.
 */
const shared = new BinaryWriter();

/** The request JSON as binary, or undefined when protobuf-es must convert it. */
export function jsonToBinary(desc: DescMessage, json: unknown): Uint8Array | undefined {
  try {
    writeMessage(planOf(desc), json, shared, 0);
    return shared.finish();
  } catch (error) {
    shared.finish();
    if (error === declined) return undefined;
    throw error;
  }
}

/** The response bytes as proto3 JSON (protobuf-es's `toJson` defaults, or proto field names), or undefined when protobuf-es must convert them. */
export function binaryToJson(desc: DescMessage, bytes: Uint8Array, useProtoNames = false): JsonObject | undefined {
  try {
    const reader = new BinaryReader(bytes);
    const json = readMessage(planOf(desc), reader, bytes.length, 0, useProtoNames);
    return reader.pos === bytes.length ? json : undefined;
  } catch {
    // Truncated or malformed bytes too: protobuf-es reads them again and reports them its own way.
    return undefined;
  }
}

// --- compiled messages ---

/** One field, compiled both ways. */
interface FieldPlan {
  readonly field: DescField;
  /** Index of its oneof among the message's, -1 when in none. */
  readonly oneof: number;
  /** Checks a JSON value and writes it; a zero value of a field without presence writes nothing, as protobuf-es. */
  readonly write: (writer: BinaryWriter, value: unknown, depth: number) => void;
  /** Reads one occurrence into `values[index]`. */
  readonly read: (reader: BinaryReader, wireType: WireType, values: unknown[], index: number, ctx: ReadContext) => void;
  /** The JSON of a value read; undefined leaves the field out (a zero value of a field without presence, an empty list). */
  readonly toJson: (value: unknown) => unknown;
}

/** One message, compiled both ways; its fields by number, the order protobuf-es writes fields and JSON keys in. */
interface MessagePlan {
  /**
   * A well-known type (its JSON form is its own), or with proto2 required fields (protobuf-es
   * checks them on encoding, and refuses JSON without them): left to protobuf-es both ways.
   */
  readonly declines: boolean;
  /** Has extension ranges: protobuf-es writes the extensions it knows into JSON, so reading is left to it. */
  readonly extendable: boolean;
  /** Field index by JSON name and by proto name. */
  readonly byName: Map<string, number>;
  /** Field index by field number. */
  readonly byNumber: Map<number, number>;
  readonly fields: FieldPlan[];
}

const plans = new WeakMap<DescMessage, MessagePlan>();

function planOf(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc);
  if (plan === undefined) {
    const sorted = [...desc.fields].sort((a, b) => a.number - b.number);
    const byName = new Map<string, number>();
    for (const [index, field] of sorted.entries()) {
      byName.set(field.jsonName, index);
      byName.set(field.name, index);
    }
    plan = {
      declines: isWellKnown(desc) || sorted.some((f) => f.presence === legacyRequired),
      extendable: desc.proto.extensionRange.length > 0,
      byName,
      byNumber: new Map(sorted.map((field, index) => [field.number, index])),
      fields: [],
    };
    // Registered before its fields are compiled, so a recursive message finds itself.
    plans.set(desc, plan);
    for (const field of sorted) plan.fields.push(fieldPlan(field, field.oneof ? desc.oneofs.indexOf(field.oneof) : -1));
  }
  return plan;
}

function fieldPlan(field: DescField, oneof: number): FieldPlan {
  // Past 31 oneofs the bits writeMessage keeps run out: left to protobuf-es.
  const write = oneof >= 31 ? decline : fieldWriter(field);
  // A key protobuf-es writes as an own property of a null-prototype copy: left to it.
  const odd = field.name === "__proto__" || field.jsonName === "__proto__";
  return { field, oneof, write, ...(odd ? declinedReader : fieldReader(field, oneof)) };
}

// --- JSON to binary ---

function writeMessage(plan: MessagePlan, json: unknown, writer: BinaryWriter, depth: number): void {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw declined;
  if (depth > maxDepth || plan.declines) throw declined;
  const object = json as Record<string, unknown>;
  const values: unknown[] = new Array(plan.fields.length);
  // The oneofs given, a bit each: a second member of one is protobuf-es's to judge.
  let oneofs = 0;
  for (const key of Object.keys(object)) {
    const index = plan.byName.get(key);
    const value = object[key];
    // An unknown name, a field under both its names, and null (reset) are protobuf-es's to judge.
    if (index === undefined || values[index] !== undefined || value === null || value === undefined) throw declined;
    const { oneof } = plan.fields[index]!;
    const bit = oneof < 0 ? 0 : 1 << oneof;
    if ((oneofs & bit) !== 0) throw declined;
    oneofs |= bit;
    values[index] = value;
  }
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value !== undefined) plan.fields[i]!.write(writer, value, depth);
  }
}

function decline(): never {
  throw declined;
}

function fieldWriter(field: DescField): FieldPlan["write"] {
  const number = field.number;
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const scalar = scalarOf(field);
      if (!scalar) return decline;
      // A oneof member has presence whatever the field's own rule.
      const implicit = field.presence === implicitPresence && !field.oneof;
      const wireType = wireTypeOf(scalar.type);
      return (writer, json) => {
        const value = scalar.fromJson(json);
        if (implicit && scalar.isZero(value)) return;
        scalar.write(writer.tag(number, wireType), value);
      };
    }
    case "message": {
      if (!isPlainMessage(field)) return decline;
      const message = field.message;
      return (writer, json, depth) => {
        writer.tag(number, WireType.LengthDelimited).fork();
        writeMessage(planOf(message), json, writer, depth + 1);
        writer.join();
      };
    }
    case "list":
      return listWriter(field);
    default:
      return decline;
  }
}

function listWriter(field: DescField & { fieldKind: "list" }): FieldPlan["write"] {
  const number = field.number;
  if (field.listKind === "message") {
    if (!isPlainMessage(field)) return decline;
    const message = field.message;
    return (writer, json, depth) => {
      if (!Array.isArray(json)) throw declined;
      for (const item of json) {
        if (item === null) throw declined;
        writer.tag(number, WireType.LengthDelimited).fork();
        writeMessage(planOf(message), item, writer, depth + 1);
        writer.join();
      }
    };
  }
  const scalar = scalarOf(field);
  if (!scalar) return decline;
  const wireType = wireTypeOf(scalar.type);
  const packed = field.packed && wireType !== WireType.LengthDelimited;
  return (writer, json) => {
    if (!Array.isArray(json)) throw declined;
    if (json.length === 0) return;
    const values = json.map((item) => (item === null ? decline() : scalar.fromJson(item)));
    if (packed) {
      writer.tag(number, WireType.LengthDelimited).fork();
      for (const value of values) scalar.write(writer, value);
      writer.join();
    } else {
      for (const value of values) scalar.write(writer.tag(number, wireType), value);
    }
  };
}

// --- binary to JSON ---

interface ReadContext {
  readonly depth: number;
  readonly useProtoNames: boolean;
}

/** How a field is read. */
type FieldReader = Pick<FieldPlan, "read" | "toJson">;

function readMessage(
  plan: MessagePlan,
  reader: BinaryReader,
  end: number,
  depth: number,
  useProtoNames: boolean,
): JsonObject {
  if (depth > maxDepth || plan.declines || plan.extendable) throw declined;
  const values: unknown[] = new Array(plan.fields.length);
  const ctx: ReadContext = { depth, useProtoNames };
  let oneofs: number[] | undefined;
  while (reader.pos < end) {
    const [number, wireType] = reader.tag();
    const index = plan.byNumber.get(number);
    if (index === undefined) {
      // protobuf-es keeps unknown fields, and leaves them out of JSON.
      reader.skip(wireType, number);
      continue;
    }
    const field = plan.fields[index]!;
    if (field.oneof >= 0) {
      // Another member of the same oneof replaces the first: left to protobuf-es.
      oneofs ??= [];
      const set = oneofs[field.oneof];
      if (set !== undefined && set !== index) throw declined;
      oneofs[field.oneof] = index;
    }
    field.read(reader, wireType, values, index, ctx);
  }
  if (reader.pos !== end) throw declined;
  const json: JsonObject = {};
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === undefined) continue;
    const { field, toJson } = plan.fields[i]!;
    const written = toJson(value);
    if (written !== undefined) json[useProtoNames ? field.name : field.jsonName] = written as JsonObject[string];
  }
  return json;
}

const declinedReader: FieldReader = { read: decline, toJson: decline };

function fieldReader(field: DescField, oneof: number): FieldReader {
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const scalar = scalarOf(field);
      if (!scalar) return declinedReader;
      const wireType = wireTypeOf(scalar.type);
      // A oneof member has presence whatever the field's own rule.
      const implicit = field.presence === implicitPresence && oneof < 0;
      return {
        read: (reader, got, values, index) => {
          if (got !== wireType) throw declined;
          values[index] = scalar.read(reader);
        },
        toJson: (value) => (implicit && scalar.isZero(value) ? undefined : scalar.toJson(value)),
      };
    }
    case "message": {
      if (!isPlainMessage(field)) return declinedReader;
      const message = field.message;
      return {
        read: (reader, got, values, index, ctx) => {
          // A message given twice is merged: left to protobuf-es.
          if (got !== WireType.LengthDelimited || values[index] !== undefined) throw declined;
          values[index] = readNested(message, reader, ctx);
        },
        toJson: (value) => value,
      };
    }
    case "list":
      return listReader(field);
    default:
      return declinedReader;
  }
}

function readNested(message: DescMessage, reader: BinaryReader, ctx: ReadContext): JsonObject {
  const length = reader.uint32();
  return readMessage(planOf(message), reader, reader.pos + length, ctx.depth + 1, ctx.useProtoNames);
}

function listReader(field: DescField & { fieldKind: "list" }): FieldReader {
  if (field.listKind === "message") {
    if (!isPlainMessage(field)) return declinedReader;
    const message = field.message;
    return {
      read: (reader, got, values, index, ctx) => {
        if (got !== WireType.LengthDelimited) throw declined;
        itemsAt(values, index).push(readNested(message, reader, ctx));
      },
      toJson: (value) => value,
    };
  }
  const scalar = scalarOf(field);
  if (!scalar) return declinedReader;
  const wireType = wireTypeOf(scalar.type);
  return {
    read: (reader, got, values, index) => {
      const items = itemsAt(values, index);
      if (got === wireType) {
        items.push(scalar.read(reader));
      } else if (got === WireType.LengthDelimited) {
        // Packed, whatever the field's own encoding says, as every decoder accepts.
        const end = reader.uint32() + reader.pos;
        while (reader.pos < end) items.push(scalar.read(reader));
        if (reader.pos !== end) throw declined;
      } else {
        throw declined;
      }
    },
    toJson: (value) => (value as unknown[]).map(scalar.toJson),
  };
}

function itemsAt(values: unknown[], index: number): unknown[] {
  let items = values[index] as unknown[] | undefined;
  if (items === undefined) {
    items = [];
    values[index] = items;
  }
  return items;
}

// --- scalars and enums ---

/** How one scalar or enum type reads and writes. */
interface ScalarCodec {
  readonly type: ScalarType;
  /** The value to write for a JSON value, or throws `declined`. */
  readonly fromJson: (json: unknown) => unknown;
  readonly write: (writer: BinaryWriter, value: unknown) => void;
  readonly isZero: (value: unknown) => boolean;
  readonly read: (reader: BinaryReader) => unknown;
  readonly toJson: (value: unknown) => unknown;
}

/** FeatureSet.FieldPresence.IMPLICIT: proto3's fields without `optional`. */
const implicitPresence = 2;
/** FeatureSet.FieldPresence.LEGACY_REQUIRED: proto2's `required`. */
const legacyRequired = 3;

const int32Text = /^-?(0|[1-9]\d{0,9})$/;
const int64Text = /^(0|-?[1-9]\d{0,17})$/;
const uint64Text = /^(0|[1-9]\d{0,18})$/;
const float32Max = 3.4028234663852886e38;

/** A message field transcoded here: not a well-known type (their JSON forms are protobuf-es's), not a group. */
function isPlainMessage(field: DescField): boolean {
  if (field.fieldKind === "message") return !field.delimitedEncoding && !isWellKnown(field.message);
  if (field.fieldKind === "list" && field.listKind === "message")
    return !field.delimitedEncoding && !isWellKnown(field.message);
  return false;
}

function isWellKnown(desc: DescMessage): boolean {
  return desc.typeName.startsWith("google.protobuf.");
}

function scalarOf(field: DescField): ScalarCodec | undefined {
  if (field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum"))
    return field.enum.typeName === "google.protobuf.NullValue" ? undefined : enumCodec(field.enum);
  if (field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar"))
    return scalarCodec(field.scalar, field.utf8Validation);
  return undefined;
}

function enumCodec(desc: DescEnum): ScalarCodec {
  const byName = new Map<string, number>();
  for (const value of desc.values) {
    byName.set(value.name, value.number);
    byName.set(value.jsonName, value.number);
  }
  const zero = desc.values[0]?.number ?? 0;
  return {
    type: ScalarType.INT32,
    fromJson: (json) => {
      const number = typeof json === "string" ? byName.get(json) : json;
      // Numbers only when the enum names them: an open enum's other values are protobuf-es's to take.
      if (typeof number !== "number" || desc.value[number] === undefined) throw declined;
      return number;
    },
    write: (writer, value) => writer.int32(value as number),
    isZero: (value) => value === zero,
    read: (reader) => reader.int32(),
    toJson: (value) => desc.value[value as number]?.jsonName ?? value,
  };
}

function scalarCodec(type: ScalarType, utf8Validation: boolean): ScalarCodec | undefined {
  switch (type) {
    case ScalarType.STRING:
      return {
        type,
        fromJson: (json) => (typeof json === "string" ? json : decline()),
        write: (writer, value) => writer.string(value as string),
        isZero: (value) => value === "",
        read: (reader) => reader.string(utf8Validation),
        toJson: identity,
      };
    case ScalarType.BOOL:
      return {
        type,
        fromJson: (json) => (typeof json === "boolean" ? json : decline()),
        write: (writer, value) => writer.bool(value as boolean),
        isZero: (value) => value === false,
        read: (reader) => reader.bool(),
        toJson: identity,
      };
    case ScalarType.BYTES:
      // Requests leave bytes to protobuf-es (base64 in its variants); responses are plain base64.
      return {
        type,
        fromJson: decline,
        write: decline,
        isZero: (value) => (value as Uint8Array).length === 0,
        read: (reader) => reader.bytes(),
        toJson: (value) => base64Encode(value as Uint8Array),
      };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT: {
      const max = type === ScalarType.FLOAT ? float32Max : Number.MAX_VALUE;
      return {
        type,
        fromJson: (json) =>
          typeof json === "number" && Math.abs(json) <= max && !Object.is(json, -0) ? json : decline(),
        write:
          type === ScalarType.FLOAT
            ? (writer, value) => writer.float(value as number)
            : (writer, value) => writer.double(value as number),
        isZero: (value) => Object.is(value, 0),
        read: type === ScalarType.FLOAT ? (reader) => reader.float() : (reader) => reader.double(),
        toJson: (value) =>
          Number.isNaN(value) ? "NaN" : value === Infinity ? "Infinity" : value === -Infinity ? "-Infinity" : value,
      };
    }
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32Codec(type, -0x80000000, 0x7fffffff);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return int32Codec(type, 0, 0xffffffff);
    default:
      return int64Codec(type);
  }
}

function int32Codec(type: ScalarType, min: number, max: number): ScalarCodec {
  const methods = {
    [ScalarType.INT32]: ["int32", "int32"],
    [ScalarType.SINT32]: ["sint32", "sint32"],
    [ScalarType.SFIXED32]: ["sfixed32", "sfixed32"],
    [ScalarType.UINT32]: ["uint32", "uint32"],
    [ScalarType.FIXED32]: ["fixed32", "fixed32"],
  } as const;
  const [put, get] = methods[type as keyof typeof methods];
  return {
    type,
    fromJson: (json) => {
      const number = typeof json === "string" && int32Text.test(json) ? Number(json) : json;
      if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) throw declined;
      if (Object.is(number, -0)) throw declined;
      return number;
    },
    write: (writer, value) => writer[put](value as number),
    isZero: (value) => value === 0,
    read: (reader) => reader[get](),
    toJson: identity,
  };
}

function int64Codec(type: ScalarType): ScalarCodec {
  const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
  const text = unsigned ? uint64Text : int64Text;
  const methods = {
    [ScalarType.INT64]: "int64",
    [ScalarType.SINT64]: "sint64",
    [ScalarType.SFIXED64]: "sfixed64",
    [ScalarType.UINT64]: "uint64",
    [ScalarType.FIXED64]: "fixed64",
  } as const;
  const method = methods[type as keyof typeof methods];
  return {
    type,
    fromJson: (json) => {
      if (typeof json === "string" && text.test(json)) return json;
      if (typeof json === "number" && Number.isSafeInteger(json) && !Object.is(json, -0) && (!unsigned || json >= 0))
        return String(json);
      throw declined;
    },
    write: (writer, value) => writer[method](value as string),
    isZero: (value) => value === "0",
    read: (reader) => String(reader[method]()),
    toJson: identity,
  };
}

function wireTypeOf(type: ScalarType): WireType {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

function identity(value: unknown): unknown {
  return value;
}
