import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/**
 * Numbers written as strings in a request body, read as grpc-gateway's protojson reads them: the
 * string must hold a JSON number (`"12"`, `"-3.5"`, `"1e3"`; for floats also `"NaN"`,
 * `"Infinity"`, `"-Infinity"`). protobuf-es reads it with Number() or BigInt() instead, which take
 * `"0x10"`, `"0b11"`, `"+5"`, `"007"` and `" 5"` as 16, 3, 5, 7 and 5, and refuses `"1e3"` for an
 * int64 as out of range. The fast transcoder takes plain decimal strings only and leaves every
 * other to protobuf-es, so this runs on that slower path alone.
 */

/** A number in a string that protojson would refuse: where (`book.pages`), the string, and what it should be. */
export interface OddNumberString {
  readonly path: string;
  readonly value: string;
  /** `expected an int64: a number, or a string holding a JSON number such as "12", "-3" or "1e3"`. */
  readonly expected: string;
}

/**
 * The first number in a string under `desc`'s fields in `json` that is no JSON number, or
 * undefined. A 64-bit integer written with a fraction or an exponent that is still whole
 * (`"1e3"`, `"12.0"`) is rewritten in place as its digits (`"1000"`, `"12"`), as protojson takes it.
 */
export function oddNumberString(desc: DescMessage, json: unknown, path = ""): OddNumberString | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json) || isWellKnown(desc)) return undefined;
  const object = json as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const field = fieldNamed(desc, key);
    if (field === undefined) continue;
    const at = path === "" ? key : `${path}.${key}`;
    const odd = oddIn(field, object, key, at);
    if (odd) return odd;
  }
  return undefined;
}

/** The odd number string in `holder[key]`, the value of `field`, at `path`. */
function oddIn(
  field: DescField,
  holder: Record<string, unknown>,
  key: string,
  path: string,
): OddNumberString | undefined {
  const value = holder[key];
  switch (field.fieldKind) {
    case "scalar":
      return oddScalar(field.scalar, holder, key, path);
    case "message":
      return oddInMessage(field.message, holder, key, path);
    case "list": {
      if (!Array.isArray(value)) return undefined;
      const items = value as unknown as Record<string, unknown>;
      for (let i = 0; i < value.length; i++) {
        const at = `${path}[${i}]`;
        const odd =
          field.listKind === "scalar"
            ? oddScalar(field.scalar, items, String(i), at)
            : field.listKind === "message"
              ? oddInMessage(field.message, items, String(i), at)
              : undefined;
        if (odd) return odd;
      }
      return undefined;
    }
    case "map": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
      const entries = value as Record<string, unknown>;
      for (const mapKey of Object.keys(entries)) {
        const at = `${path}[${JSON.stringify(mapKey)}]`;
        const odd =
          field.mapKind === "scalar"
            ? oddScalar(field.scalar, entries, mapKey, at)
            : field.mapKind === "message"
              ? oddInMessage(field.message, entries, mapKey, at)
              : undefined;
        if (odd) return odd;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** A message's value: its fields, or a wrapper's (`google.protobuf.Int64Value`) number. */
function oddInMessage(
  message: DescMessage,
  holder: Record<string, unknown>,
  key: string,
  path: string,
): OddNumberString | undefined {
  const wrapped = wrapperScalar(message);
  if (wrapped !== undefined) return oddScalar(wrapped, holder, key, path);
  return oddNumberString(message, holder[key], path);
}

/** Checks (and for 64-bit integers, rewrites) one scalar value given as a string. */
function oddScalar(
  scalar: ScalarType,
  holder: Record<string, unknown>,
  key: string,
  path: string,
): OddNumberString | undefined {
  const value = holder[key];
  if (typeof value !== "string" || !isNumeric(scalar) || plainInteger.test(value)) return undefined;
  const float = scalar === ScalarType.DOUBLE || scalar === ScalarType.FLOAT;
  if (float && (value === "NaN" || value === "Infinity" || value === "-Infinity")) return undefined;
  const number = jsonNumber.exec(value);
  if (number === null) return { path, value, expected: expectedNumber(scalar, float) };
  if (is64Bit(scalar)) {
    const digits = wholeDigits(number);
    // Not whole (`"1.5"`): left as written, for protobuf-es to refuse.
    if (digits !== undefined) holder[key] = digits;
  }
  return undefined;
}

/** What a field of this number type takes, said where a string holds none. */
function expectedNumber(scalar: ScalarType, float: boolean): string {
  const type = ScalarType[scalar].toLowerCase();
  const unsigned = /^u|^fixed/.test(type);
  const examples = float ? '"-3.5", "1e-3", "NaN" or "Infinity"' : unsigned ? '"12" or "1e3"' : '"12", "-3" or "1e3"';
  // Said as written: an int64, an sint32, an sfixed64; a uint64, a fixed32, a double.
  const article = /^(int|sint|sfixed)/.test(type) ? "an" : "a";
  return `expected ${article} ${type}: a number, or a string holding a JSON number such as ${examples}`;
}

/** What most numbers in strings are: nothing to check. */
const plainInteger = /^-?(0|[1-9]\d{0,17})$/;
/** RFC 8259's number: sign, integer part, fraction, exponent. */
const jsonNumber = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** The digits of a JSON number that is whole (`1.20e1` is `12`); undefined when it is not, or too long to be an integer of 64 bits. */
function wholeDigits([, sign, integer, fraction = "", exponent = "0"]: RegExpExecArray): string | undefined {
  const shift = Number(exponent) - fraction.length;
  let digits = `${integer}${fraction}`.replace(/^0+(?=\d)/, "");
  if (shift >= 0) {
    // Past 20 digits no 64-bit integer fits: left for protobuf-es to say it is out of range.
    if (digits !== "0" && digits.length + shift > 20) return undefined;
    digits = digits === "0" ? "0" : digits + "0".repeat(shift);
  } else {
    const dropped = digits.slice(shift);
    if (!/^0*$/.test(dropped)) return undefined;
    digits = digits.slice(0, shift).replace(/^0+(?=\d)/, "") || "0";
  }
  return digits === "0" ? "0" : `${sign}${digits}`;
}

function isNumeric(scalar: ScalarType): boolean {
  return scalar !== ScalarType.STRING && scalar !== ScalarType.BOOL && scalar !== ScalarType.BYTES;
}

function is64Bit(scalar: ScalarType): boolean {
  return (
    scalar === ScalarType.INT64 ||
    scalar === ScalarType.UINT64 ||
    scalar === ScalarType.SINT64 ||
    scalar === ScalarType.FIXED64 ||
    scalar === ScalarType.SFIXED64
  );
}

function isWellKnown(desc: DescMessage): boolean {
  return desc.typeName.startsWith("google.protobuf.");
}

/** The number type of a wrapper (`google.protobuf.Int64Value`: int64), undefined for any other message. */
function wrapperScalar(message: DescMessage): ScalarType | undefined {
  if (!isWellKnown(message) || !message.typeName.endsWith("Value")) return undefined;
  const [value] = message.fields;
  return message.fields.length === 1 && value?.name === "value" && value.fieldKind === "scalar"
    ? value.scalar
    : undefined;
}

const fieldsByKey = new WeakMap<DescMessage, Map<string, DescField>>();

/** The field a JSON key names, by its JSON name or its proto name. */
function fieldNamed(desc: DescMessage, key: string): DescField | undefined {
  let byKey = fieldsByKey.get(desc);
  if (byKey === undefined) {
    byKey = new Map();
    for (const field of desc.fields) {
      byKey.set(field.name, field);
      byKey.set(field.jsonName, field);
    }
    fieldsByKey.set(desc, byKey);
  }
  return byKey.get(key);
}
