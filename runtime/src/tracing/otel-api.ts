import type * as OtelApi from "@opentelemetry/api";

/** The `@opentelemetry/api` module, loaded on demand. */
export type OtelApiModule = typeof OtelApi;

/**
 * The API module once tracing has loaded it. This is a module cache, like
 * import()'s own, not service state: importing the runtime must not pay the
 * API's ~45 ms load (issue 11), yet activeTraceFields(), called on every log
 * line, must answer synchronously. Before any tracing starts it is undefined,
 * and so is every active span.
 */
let loaded: OtelApiModule | undefined;

/** Loads `@opentelemetry/api` (once per process) and returns it. */
export async function loadOtelApi(): Promise<OtelApiModule> {
  loaded ??= await import("@opentelemetry/api");
  return loaded;
}

/** The API module if some tracing in this process has loaded it; undefined otherwise. */
export function loadedOtelApi(): OtelApiModule | undefined {
  return loaded;
}
