import { createRequire } from "node:module";

// Node's own modules that the runtime loads with require rather than import. An ES import of
// a builtin builds its ESM facade, which reads every export, lazy getters included: node:http's
// WebSocket getter loads undici (about 100 ms and 12 MB), node:util's and node:fs's cost several
// milliseconds more. Types come from `import type`; require returns the same module objects.
const require = createRequire(import.meta.url);

/** node:http. */
export function nodeHttp(): typeof import("node:http") {
  return require("node:http") as typeof import("node:http");
}

/** node:util. */
export function nodeUtil(): typeof import("node:util") {
  return require("node:util") as typeof import("node:util");
}

/** node:fs. */
export function nodeFs(): typeof import("node:fs") {
  return require("node:fs") as typeof import("node:fs");
}
