/**
 * Paths into a configuration tree: `database.url` in code and messages,
 * `database/url` under an etcd prefix, `DATABASE__URL` in the environment all
 * name the segments `["database", "url"]`.
 */
import type { ConfigTree, ConfigValue } from "./config.js";

/** True for a plain object of settings (not an array, not null). */
export function isConfigTree(value: unknown): value is ConfigTree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The segments of a dotted path; the empty path is the whole tree. */
export function splitPath(path: string): string[] {
  return path === "" ? [] : path.split(".");
}

/** A path as messages print it: `database.url`, `servers[0].host`, `(root)` for the whole tree. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of segments) {
    if (typeof segment === "number" || (typeof segment === "string" && /^\d+$/.test(segment))) {
      text += `[${String(segment)}]`;
    } else {
      text += text === "" ? String(segment) : `.${String(segment)}`;
    }
  }
  return text === "" ? "(root)" : text;
}

/** The value at `segments` of any object tree, or undefined when some segment is missing. */
export function valueAt(tree: unknown, segments: readonly string[]): unknown {
  let current = tree;
  for (const segment of segments) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** A tree holding `value` at `segments` and nothing else, for merging into another. */
export function treeAt(segments: readonly string[], value: ConfigValue): ConfigTree {
  let tree: ConfigValue = value;
  for (let i = segments.length - 1; i >= 0; i--) tree = { [segments[i]!]: tree };
  return isConfigTree(tree) ? tree : {};
}

/** Every leaf of a tree (a value that is not an object) with its segments, in the tree's order. */
export function leavesOf(
  tree: ConfigTree,
  prefix: readonly string[] = [],
): Array<{ segments: string[]; value: ConfigValue }> {
  return Object.entries(tree).flatMap(([key, value]) =>
    isConfigTree(value) && Object.keys(value).length > 0
      ? leavesOf(value, [...prefix, key])
      : [{ segments: [...prefix, key], value }],
  );
}

/** The keys a setting of `value` at `segments` is stored as: one per leaf of a tree, else itself ({} too). */
export function leavesAt(
  segments: readonly string[],
  value: ConfigValue,
): Array<{ segments: string[]; value: ConfigValue }> {
  return isConfigTree(value) && Object.keys(value).length > 0
    ? leavesOf(value, [...segments])
    : [{ segments: [...segments], value }];
}

/**
 * Reads a text value as JSON when it is JSON (`8080`, `true`, `["a"]`, `"quoted"`), else as the
 * string itself; an integer past 2^53, which a number cannot hold exactly, stays its text.
 */
export function parseLooseValue(text: string): ConfigValue {
  let value: ConfigValue;
  try {
    value = JSON.parse(text) as ConfigValue;
  } catch {
    return text;
  }
  return typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value) ? text : value;
}

/** Deep equality of JSON-like values, so a watcher is called only when its value really changed. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && +a === +b;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every(
    (key) =>
      Object.hasOwn(b, key) && sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}
