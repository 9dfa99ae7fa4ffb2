import { Code, TsmicroError } from "@tsmicro/runtime";
import {
  type DuplicateKey,
  duplicateKey,
  jsonMistake,
  parseExactJson,
  repeatedKeyText,
} from "@tsmicro/runtime/internal";

/**
 * How deep a request body may nest. Protobuf decoders stop at 100 nested messages, and one JSON
 * level in a `Struct` or `Value` is three of them (Struct, map entry, Value), so 32 levels is
 * what every body that parses here can also be decoded by the service.
 */
export const maxJsonDepth = 32;

/**
 * Parses a request body as JSON, or undefined when it is blank. Malformed JSON (with its line,
 * column and what is wrong there), JSON nested deeper than a service's protobuf decoder would
 * accept, or a key written twice in one object, is INVALID_ARGUMENT saying so. An
 * integer too large for a double to hold exactly is kept exact, as a string (see parseExactJson).
 */
export function parseJsonBody(text: string, what = "the request body"): unknown {
  if (isBlank(text)) return undefined;
  // Nesting deeper than the limit takes more opening brackets than the limit: most bodies have
  // too few for that, and counting them (natively) costs less than walking every character.
  const depth = openingBrackets(text) > maxJsonDepth ? nestingDepth(text) : 0;
  if (depth > maxJsonDepth)
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `${what} nests ${depth} levels deep; at most ${maxJsonDepth} are allowed`,
    );
  let value: unknown;
  try {
    value = parseExactJson(text);
  } catch (error) {
    // Where and what in tsmicro's words, as a config file's mistake is told, not V8's "Unexpected token".
    const { line, column, reason } = jsonMistake(
      text,
      what.startsWith("the request body") ? "the body" : "the text",
      error,
    );
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `${what} is not valid JSON at line ${line}, column ${column}: ${reason}`,
    );
  }
  const repeated = repeatedKey(text, value);
  if (repeated) throw new TsmicroError(Code.INVALID_ARGUMENT, repeatedKeyText(text, what, repeated));
  return value;
}

/**
 * A key the text writes twice in one object, which JSON.parse takes the last of without a word
 * (grpc-gateway's protojson refuses it, and so do tsmicro's config files). Each key written is
 * followed by a colon, and any other colon is inside a string; so with no more colons than the
 * parsed value has keys, no key was written twice. Counting both costs a fifth of JSON.parse on a
 * body; the scan that finds the key costs as much as JSON.parse, and runs only when a count says
 * it may be there (a key written twice, or a string that begins with a colon), at most one pass
 * over the text however deeply it nests.
 */
function repeatedKey(text: string, value: unknown): DuplicateKey | undefined {
  const colons = occurrences(text, ":");
  if (colons < 2) return undefined;
  const keys = keysIn(value);
  if (colons <= keys) return undefined;
  // A key's closing quote before its colon: a closer count (a string rarely holds `":`), still never under.
  if ((text.match(quoteColon)?.length ?? 0) <= keys) return undefined;
  // One that holds JSON text (`"{\"a\":1}"`) does: counted again, without its escaped quotes.
  if ((text.match(keyEnd)?.length ?? 0) <= keys) return undefined;
  return duplicateKey(text);
}

/** A quote, JSON whitespace, a colon: where every key written ends, and seldom anything else. */
const quoteColon = /"[ \t\n\r]*:/g;

/**
 * quoteColon whose quote ends or opens a string (after no backslash, or an even run of them): where
 * every key written ends, and else only a string that begins with a colon. A quote in a string is
 * escaped. Slower than quoteColon by half, so it runs second.
 */
const keyEnd = /(?<!\\)(?:\\\\)*"[ \t\n\r]*:/g;

/** How many times `part` is in `text`, counted natively. */
function occurrences(text: string, part: string): number {
  let count = 0;
  for (let at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) count++;
  return count;
}

/** How many keys the objects in a parsed JSON value have, nested ones included. */
function keysIn(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += keysIn(item);
    return count;
  }
  const object = value as Record<string, unknown>;
  for (const key in object) count += 1 + keysIn(object[key]);
  return count;
}

/** Whether the text is empty or whitespace only; a body that starts with printable ASCII is not, without a trimmed copy. */
function isBlank(text: string): boolean {
  const first = text.charCodeAt(0);
  if (first > 0x20 && first < 0x7f) return false;
  return text.trim() === "";
}

/** How many `{` and `[` the text holds (inside strings too), counting no further than one past the limit. */
function openingBrackets(text: string): number {
  let count = 0;
  for (const bracket of ["{", "["]) {
    for (let at = text.indexOf(bracket); at >= 0 && count <= maxJsonDepth; at = text.indexOf(bracket, at + 1)) count++;
  }
  return count;
}

/** The deepest nesting of objects and arrays in JSON text, brackets inside strings not counted. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}
