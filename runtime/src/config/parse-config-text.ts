/**
 * Parses a configuration file's text as JSON or YAML, chosen by its
 * extension. A mistake is a SetupError naming `file:line:column` and what is
 * wrong there. The yaml package is imported only when a YAML file is read.
 */
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
    const message = error instanceof Error ? error.message : String(error);
    const { offset, reason } = jsonMistake(message, text);
    throw new SetupError("TSM_ERR_CONFIG_JSON", `${path}:${lineColumn(text, offset)}`, reason);
  }
}

/**
 * Where in `text` V8's JSON.parse `message` puts the mistake, and the
 * mistake without V8's quoting of the text around it. V8 says "... in JSON
 * at position N", or for an unexpected token quotes the text around it
 * ("Unexpected token '}', ..."retries": }" is not valid JSON": ten
 * characters before the token when cut), which is found in the text.
 */
function jsonMistake(message: string, text: string): { offset: number; reason: string } {
  const position = /at position (\d+)/.exec(message);
  if (position)
    return { offset: Number(position[1]), reason: message.replace(/\s*(in JSON )?at position \d+.*$/s, "") };
  if (message === "Unexpected end of JSON input") return { offset: text.length, reason: "the file ends too early" };
  const unexpected = /^(Unexpected token '[^']*'), (\.\.\.)?"([\s\S]*?)"(?:\.\.\.)? is not valid JSON$/.exec(message);
  if (!unexpected) return { offset: text.length, reason: message };
  const reason = unexpected[1]!;
  const cut = unexpected[2] !== undefined;
  const quoted = unexpected[3]!;
  const at = text.indexOf(quoted);
  const token = reason.slice("Unexpected token '".length, -1);
  // Uncut, the quote is the whole text: the token's first place in it is the best guess.
  const within = cut ? contextCharacters : Math.max(0, quoted.indexOf(token));
  return { offset: at < 0 ? text.length : at + within, reason };
}

/** How many characters V8 quotes before an unexpected token when it cuts the text. */
const contextCharacters = 10;

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
