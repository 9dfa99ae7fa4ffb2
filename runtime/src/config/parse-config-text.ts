/**
 * Parses a configuration file's text as JSON or YAML, chosen by its
 * extension. A mistake is a SetupError naming `file:line:column` and what is
 * wrong there. The yaml package is imported only when a YAML file is read.
 */
import { jsonMistake } from "../definition/json-mistake.js";
import { SetupError } from "../errors/setup-error.js";
import type { ConfigTree } from "./config.js";
import { isConfigTree } from "./key-paths.js";

/** The formats a configuration file may have, by extension. */
export type ConfigFormat = "json" | "yaml";

/** The format of `path` by its extension, or undefined for any other. */
export function formatOf(path: string): ConfigFormat | undefined {
  if (/\.json$/i.test(path)) return "json";
  if (/\.ya?ml$/i.test(path)) return "yaml";
  return undefined;
}

/** Parses `text`, read from `path`, as `format`; its top level must be an object of settings. */
export async function parseConfigText(text: string, path: string, format: ConfigFormat): Promise<ConfigTree> {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const value = format === "json" ? parseJson(body, path) : await parseYaml(body, path);
  if (value === null || value === undefined) return {};
  if (!isConfigTree(value))
    throw new SetupError(
      "TSM_ERR_CONFIG_SETTING",
      path,
      `the top level must be an object of settings (key: value), not ${Array.isArray(value) ? "a list" : typeof value}`,
    );
  return value;
}

function parseJson(text: string, path: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    const { line, column, reason } = jsonMistake(text, "the file", error);
    throw new SetupError("TSM_ERR_CONFIG_JSON", `${path}:${line}:${column}`, reason);
  }
}

async function parseYaml(text: string, path: string): Promise<unknown> {
  const { parseDocument } = await import("yaml");
  // Duplicate keys are an error, as in JSON settings a second key silently winning hides a mistake.
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const [error] = document.errors;
  if (error) {
    const offset = error.pos[0];
    const reason = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new SetupError("TSM_ERR_CONFIG_YAML", `${path}:${lineColumn(text, offset)}`, reason);
  }
  return document.toJS();
}

/** `line:column`, both from 1, of a character offset in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${line}:${column}`;
}
