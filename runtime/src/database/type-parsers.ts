/**
 * One mapping of Postgres values to JavaScript for PGlite and pg, so the
 * same repository code reads the same types from both: int8 as bigint (as
 * ts-proto's int64 fields; pg would give a string and PGlite a number when
 * small), bytea as a plain Uint8Array (pg gives a Buffer), timestamptz as
 * Date, json/jsonb parsed, numeric as a string (no lost digits), date as
 * its `YYYY-MM-DD` text (pg would make a local-midnight Date, PGlite a UTC
 * one) and interval as its text (pg would make an object).
 */
const int8Oid = 20;
const int8ArrayOid = 1016;
const byteaOid = 17;
const byteaArrayOid = 1001;
const textArrayOid = 1009;
const dateOid = 1082;
const dateArrayOid = 1182;
const intervalOid = 1186;
const intervalArrayOid = 1187;
const timestamptzOid = 1184;

type Parse = (value: string) => unknown;

/** Parsers for PGlite's `parsers` option, keyed by type oid (PGlite's arrays use them per element). */
export function pgliteParsers(): Record<number, Parse> {
  const text: Parse = (value) => value;
  return {
    [int8Oid]: (value) => BigInt(value),
    [dateOid]: text,
    [intervalOid]: text,
    [timestamptzOid]: parseTimestamptz,
  };
}

/** `2024-05-01 12:00:00.123456+00`, `0001-01-01 00:00:00+00`, `0044-03-15 12:00:00+00 BC`, as PostgreSQL writes timestamptz. */
const timestamptzText =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;

/**
 * A timestamptz as a Date, as pg's parser makes it. PGlite's own gives the text to `new Date`,
 * which reads years 1 to 99 as 1901 to 1999 (or 2000 to 2049), so `0001-01-01` came back as 2001.
 * `infinity` and `-infinity`, which no Date holds, are Invalid Dates, as `new Date` makes them.
 */
export function parseTimestamptz(value: string): Date {
  const parts = timestamptzText.exec(value);
  if (!parts) return new Date(value);
  const [, year, month, day, hour, minute, second, fraction, sign, offsetHours, offsetMinutes, offsetSeconds, bc] =
    parts;
  const date = new Date(0);
  // setUTCFullYear takes any year as it is; Date.UTC would add 1900 to 0-99. 1 BC is year 0.
  date.setUTCFullYear(bc ? 1 - Number(year) : Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), Number((fraction ?? "").padEnd(3, "0").slice(0, 3)));
  const offset = Number(offsetHours) * 3600 + Number(offsetMinutes ?? 0) * 60 + Number(offsetSeconds ?? 0);
  return new Date(date.getTime() - (sign === "-" ? -offset : offset) * 1000);
}

/** A pg `types` option: pg's own parsers, except int8 and bytea (and their arrays) as above. */
export function pgTypes(base: { getTypeParser(oid: number, format?: "text" | "binary"): Parse }): {
  getTypeParser(oid: number, format?: "text" | "binary"): Parse;
} {
  return {
    getTypeParser(oid, format) {
      if (format === "binary") return base.getTypeParser(oid, format);
      const parseBytea = base.getTypeParser(byteaOid);
      const bytes = (value: unknown) => {
        const buffer = value as Buffer;
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      };
      switch (oid) {
        case int8Oid:
          return (value) => BigInt(value);
        case int8ArrayOid:
          return (value) => mapArray(base.getTypeParser(textArrayOid)(value), (item) => BigInt(item));
        case byteaOid:
          return (value) => bytes(parseBytea(value));
        case byteaArrayOid:
          // pg's text[] parser splits the array; each element is bytea text.
          return (value) => mapArray(base.getTypeParser(textArrayOid)(value), (item) => bytes(parseBytea(item)));
        case dateOid:
        case intervalOid:
          return (value) => value;
        case dateArrayOid:
        case intervalArrayOid:
          return base.getTypeParser(textArrayOid);
        default:
          return base.getTypeParser(oid, format);
      }
    },
  };
}

/** Maps the non-null leaves of a (possibly nested) array of strings. */
function mapArray(value: unknown, map: (item: string) => unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => mapArray(item, map));
  return value === null ? null : map(value as string);
}
