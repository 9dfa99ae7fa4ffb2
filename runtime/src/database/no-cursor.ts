import type { PostgresCursorConstructor } from "kysely";

/** Kysely's stream() (a cursor), on either database: read in pages instead. */
export function streamUnsupported(): Error {
  return new Error("stream() is not supported by @tsmicro/runtime/database; read in pages (keyset pagination) instead");
}

/**
 * The cursor Kysely's PostgreSQL dialect makes for stream(): refused when made, before anything is
 * sent, as PGlite refuses it. Kysely streams on pg only with pg-cursor, which tsmicro does not
 * depend on, and without a cursor configured it fails asking for "'cursor' … in your postgres
 * dialect config", a config a service never writes (openDatabase makes the dialect). A cursor's
 * reads would also escape what bounds a call's queries (its deadline, its caller's cancel), which
 * watch each query sent as one promise.
 */
export const NoCursor = class {
  constructor() {
    throw streamUnsupported();
  }
} as unknown as PostgresCursorConstructor;
