import type { Dialect, QueryCompiler } from "kysely";

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the span of a google.protobuf.Timestamp, as a Date holds it. */
const firstTime = Date.parse("0001-01-01T00:00:00Z");
const lastTime = Date.parse("9999-12-31T23:59:59.999Z");

/** Where a Date lies outside the span of a google.protobuf.Timestamp: `past` year 9999, `before` year 1, or `invalid` (no time). */
export type OutOfRange = "past" | "before" | "invalid";

/** Where `value` lies outside a google.protobuf.Timestamp's years 1 to 9999; undefined for a Date inside them, or no Date. */
export function outOfTimestampRange(value: unknown): OutOfRange | undefined {
  if (!(value instanceof Date)) return undefined;
  const time = value.getTime();
  if (time > lastTime) return "past";
  if (time < firstTime) return "before";
  return Number.isNaN(time) ? "invalid" : undefined;
}

/** How a value outside a google.protobuf.Timestamp's span is said of its field (`born_at is past year 9999, …`). */
export const outOfRangeReason: Readonly<Record<OutOfRange, string>> = {
  past: "is past year 9999, the last a google.protobuf.Timestamp holds",
  before: "is before year 1, the first a google.protobuf.Timestamp holds",
  invalid: "is no time a google.protobuf.Timestamp holds (years 1 to 9999)",
};

/**
 * A query refused before it was sent, for a Date parameter outside years 1 to 9999. SQLSTATE 22008
 * (datetime_field_overflow), as PostgreSQL's own refusal of a timestamp it cannot hold.
 */
export class TimestampRangeError extends Error {
  override readonly name = "TimestampRangeError";
  /** The SQLSTATE, as a PostgreSQL error has it. */
  readonly code = "22008";

  constructor(readonly range: OutOfRange) {
    super(`a Date parameter ${outOfRangeReason[range]}; the query was not sent`);
  }
}

/**
 * `dialect` refusing, with TimestampRangeError, a query with a Date parameter outside a
 * google.protobuf.Timestamp's years 1 to 9999. Without it the databases differ: PGlite sends
 * toISOString()'s `+010000-…`, which PostgreSQL refuses naming no column, while node-postgres
 * stores year 10000 (and 1 BC), which no Timestamp can carry back out as proto3 JSON.
 */
export function timestampRangeChecked(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => dialect.createDriver(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => checkedCompiler(dialect.createQueryCompiler()),
  };
}

function checkedCompiler(compiler: QueryCompiler): QueryCompiler {
  return {
    compileQuery(node, queryId) {
      const compiled = compiler.compileQuery(node, queryId);
      // One instanceof per parameter: a write without Dates pays no more.
      for (const parameter of compiled.parameters) {
        const range = outOfTimestampRange(parameter);
        if (range) throw new TimestampRangeError(range);
      }
      return compiled;
    },
  };
}
