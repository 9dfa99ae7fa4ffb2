/**
 * The colour class of a node's health, for its dot in the service list and its badge in the
 * service panel alike: `ok` for SERVING; `unknown` (grey) for UNKNOWN, which a node answers before
 * it has a status and the page shows before it has asked, and is no failure; `bad` for the rest
 * (NOT_SERVING, or the code of a check that failed, such as UNAVAILABLE).
 */
export function healthClass(health: string): "ok" | "unknown" | "bad" {
  return health === "SERVING" ? "ok" : health === "UNKNOWN" ? "unknown" : "bad";
}
