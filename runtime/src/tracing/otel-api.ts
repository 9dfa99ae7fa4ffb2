import { createRequire } from "node:module";
import type * as OtelApi from "@opentelemetry/api";

const require = createRequire(import.meta.url);

/** The `@opentelemetry/api` module, loaded on demand. */
export type OtelApiModule = typeof OtelApi;

/**
 * The API module once tracing has loaded it. This is a module cache, like
 * require()'s own, not service state: importing the runtime must not pay the
 * API's ~45 ms load (issue 11), yet activeTraceFields(), called on every log
 * line, must answer synchronously. Before any tracing starts it is undefined,
 * and so is every active span.
 */
let loaded: OtelApiModule | undefined;

/**
 * Loads `@opentelemetry/api` (once per process) and returns it: its
 * CommonJS build, the copy prom-client's default metrics also load, so a
 * service holds one copy of the API's hundred modules rather than two.
 */
export function loadOtelApi(): OtelApiModule {
  loaded ??= require("@opentelemetry/api") as OtelApiModule;
  return loaded;
}

/** The AsyncLocalStorage context manager, from the CommonJS build that shares the API copy above. */
export function loadContextManager(): typeof import("@opentelemetry/context-async-hooks") {
  return require("@opentelemetry/context-async-hooks") as typeof import("@opentelemetry/context-async-hooks");
}

/** The API module if some tracing in this process has loaded it; undefined otherwise. */
export function loadedOtelApi(): OtelApiModule | undefined {
  return loaded;
}
