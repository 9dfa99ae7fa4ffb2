import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * node:http, loaded with require. An ES import of node:http builds its ESM
 * facade, which reads every export, and the WebSocket getter among them
 * loads undici: about 100 ms and 12 MB more at start than require costs.
 */
export function nodeHttp(): typeof import("node:http") {
  return require("node:http") as typeof import("node:http");
}
