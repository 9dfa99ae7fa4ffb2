/**
 * Parses a configuration file's text as JSON or YAML, chosen by its
 * extension. A mistake is a SetupError naming `file:line:column` and what is
 * wrong there, as is, later, a key a warning or an error is about. The yaml
 * package is imported only when a YAML file is read.
 */
import { jsonMistake } from "../definition/json-mistake.js";
import { SetupError } from "../errors/setup-error.js";
import type { ConfigTree } from "./config.js";
import { duplicateKey, jsonKeyOffset } from "./json-key-offset.js";
import { isConfigTree } from "./key-paths.js";

/** The formats a configuration file may have, by extension. */
export type ConfigFormat = "json" | "yaml";

/** The format of `path` by its extension, or undefined for any other. */
export function formatOf(path: string): ConfigFormat | undefined {
  if (/\.json$/i.test(path)) return "json";
  if (/\.ya?ml$/i.test(path)) return "yaml";
  return undefined;
}

/** A configuration file's settings, and where its keys are written. */
export interface ParsedConfig {
  readonly tree: ConfigTree;
  /**
   * `line:column` of the key at `segments` (of a list's item for an index), or of the deepest part of
   * the path written when the rest is not; undefined when none is. Worked out when asked: only a
   * warning or an error asks.
   */
  position(segments: readonly string[]): string | undefined;
}

/** Parses `text`, read from `path`, as `format`; its top level must be an object of settings. */
export async function parseConfigText(text: string, path: string, format: ConfigFormat): Promise<ConfigTree> {
  return (await parseConfigFile(text, path, format)).tree;
}

/** parseConfigText, keeping what it takes to say where each key is written. */
export async function parseConfigFile(text: string, path: string, format: ConfigFormat): Promise<ParsedConfig> {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const { value, offsetOf } = format === "json" ? parseJson(body, path) : await parseYaml(body, path);
  const position = (segments: readonly string[]) => {
    const offset = offsetOf(segments);
    return offset === undefined ? undefined : lineColumn(body, offset);
  };
  if (value === null || value === undefined) return { tree: {}, position };
  if (!isConfigTree(value))
    throw new SetupError(
      "TSM_ERR_CONFIG_SETTING",
      path,
      `the top level must be an object of settings (key: value), not ${Array.isArray(value) ? "a list" : typeof value}`,
    );
  return { tree: value, position };
}

/** A file's parsed value, and the offset in its text where a key path is written. */
interface Parsed {
  readonly value: unknown;
  readonly offsetOf: (segments: readonly string[]) => number | undefined;
}

function parseJson(text: string, path: string): Parsed {
  if (text.trim() === "") return { value: {}, offsetOf: () => undefined };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const { line, column, reason } = jsonMistake(text, "the file", error);
    throw new SetupError("TSM_ERR_CONFIG_JSON", `${path}:${line}:${column}`, reason);
  }
  const duplicate = duplicateKey(text);
  if (duplicate)
    throw new SetupError(
      "TSM_ERR_CONFIG_SETTING",
      `${path}:${lineColumn(text, duplicate.offset)}`,
      `the key ${JSON.stringify(duplicate.key)} is written a second time in its object (first at ` +
        `${lineColumn(text, duplicate.first)}), and only this one would count: keep one`,
    );
  return { value, offsetOf: (segments) => jsonKeyOffset(text, segments) };
}

async function parseYaml(text: string, path: string): Promise<Parsed> {
  const [{ parseDocument }, { toJsProblem, yamlKeyOffset }] = await Promise.all([
    import("yaml"),
    import("./yaml-key-offset.js"),
  ]);
  // Duplicate keys are an error, as in JSON settings a second key silently winning hides a mistake.
  // Merge keys (`<<: *defaults`) are on, as in most YAML configuration users know (docker compose's).
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, merge: true });
  const [error] = document.errors;
  if (error) {
    const offset = error.pos[0];
    const reason = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new SetupError("TSM_ERR_CONFIG_YAML", `${path}:${lineColumn(text, offset)}`, reason);
  }
  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    // yaml says neither where nor what to do about what it finds only here (a merge of a number, a
    // map merged into itself, an alias of an anchor set below it); else its own words, such as for
    // aliases of aliases that expand past its limit: `Excessive alias count…`.
    const problem = toJsProblem(document);
    if (problem === undefined)
      throw new SetupError("TSM_ERR_CONFIG_YAML", path, (error as Error).message.split("\n")[0]!);
    throw new SetupError("TSM_ERR_CONFIG_YAML", `${path}:${lineColumn(text, problem.offset)}`, problem.reason);
  }
  const offsetOf = (segments: readonly string[]) => yamlKeyOffset(document, segments);
  // An alias inside its own anchor's value (`a: &a {b: *a}`) makes a value that holds itself: every
  // walk of the settings would go round it for ever.
  const cycle = circularPath(value);
  if (cycle !== undefined) {
    const offset = offsetOf(cycle);
    throw new SetupError(
      "TSM_ERR_CONFIG_SETTING",
      offset === undefined ? path : `${path}:${lineColumn(text, offset)}`,
      `${cycle.join(".")} is an alias of a value that holds it, so the setting would hold itself without end; write the value out instead`,
    );
  }
  // The document keeps each node's place in the text, which is all a later position() needs.
  return { value, offsetOf };
}

/** The key path of the first object or list in `value` that holds one of its own ancestors (or itself); undefined when none does. */
function circularPath(value: unknown, path: string[] = [], ancestors = new Set<object>()): string[] | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (ancestors.has(value)) return path;
  ancestors.add(value);
  for (const [key, item] of Object.entries(value)) {
    const found = circularPath(item, [...path, key], ancestors);
    if (found) return found;
  }
  ancestors.delete(value);
  return undefined;
}

/** `line:column`, both from 1, of a character offset in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${line}:${column}`;
}
