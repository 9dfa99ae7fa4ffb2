/**
 * One mapping of Postgres values to JavaScript for PGlite and pg, so the
 * same repository code reads the same types from both: int8 as bigint (as
 * ts-proto's int64 fields; pg would give a string and PGlite a number when
 * small), bytea as a plain Uint8Array (pg gives a Buffer), timestamptz as
 * Date, json/jsonb parsed, numeric as a string (no lost digits).
 */
export const int8Oid = 20;
const byteaOid = 17;

/** Parsers for PGlite's `parsers` option, keyed by type oid. */
export function pgliteParsers(): Record<number, (value: string) => unknown> {
  return { [int8Oid]: (value) => BigInt(value) };
}

/** A pg `types` option: pg's own parsers, except int8 and bytea as above. */
export function pgTypes(base: { getTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown }): {
  getTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown;
} {
  return {
    getTypeParser(oid, format) {
      if (oid === int8Oid && format !== "binary") return (value) => BigInt(value);
      const parse = base.getTypeParser(oid, format);
      if (oid === byteaOid) {
        return (value) => {
          const buffer = parse(value) as Buffer;
          return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        };
      }
      return parse;
    },
  };
}
