import { Code, TsmicroError } from "@tsmicro/runtime";
import { jsonMistake, parseExactJson } from "@tsmicro/runtime/internal";

/**
 * How deep a request body may nest. Protobuf decoders stop at 100 nested messages, and one JSON
 * level in a `Struct` or `Value` is three of them (Struct, map entry, Value), so 32 levels is
 * what every body that parses here can also be decoded by the service.
 */
export const maxJsonDepth = 32;

/**
 * Parses a request body as JSON, or undefined when it is blank. Malformed JSON (with its line,
 * column and what is wrong there), or JSON nested deeper than a service's protobuf decoder would
 * accept, is INVALID_ARGUMENT saying so. An
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
  try {
    return parseExactJson(text);
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
