/**
 * Where a key path is written in JSON text, for messages naming `config.json:12:3`.
 * JSON.parse keeps no positions and the yaml package, which does, is not loaded
 * for a JSON file; so this walks the text along the one path asked for. It runs
 * only on a warning's or an error's path, on text JSON.parse has accepted.
 */

/**
 * The offset in `text` (valid JSON) of the deepest part of `segments` it holds: a key's opening
 * quote, or the first character of a list's item for an index. Undefined when not even the first is
 * there. A key written twice is found where JSON.parse takes it from: its last time.
 */
export function jsonKeyOffset(text: string, segments: readonly string[]): number | undefined {
  let at = skipWhitespace(text, 0);
  let found: number | undefined;
  for (const segment of segments) {
    const inner =
      text[at] === "{" ? memberOf(text, at, segment) : text[at] === "[" ? itemOf(text, at, segment) : undefined;
    if (!inner) break;
    found = inner.written;
    at = inner.value;
  }
  return found;
}

/** A key written twice in one object: where it is written the second time and the first. */
export interface DuplicateKey {
  readonly key: string;
  readonly offset: number;
  readonly first: number;
}

/**
 * The first key `text` (valid JSON) writes twice in one object, in the order written; undefined
 * when none is. JSON.parse keeps the last and drops the first without a word, as a YAML file with
 * such a key is refused.
 */
export function duplicateKey(text: string): DuplicateKey | undefined {
  return duplicateIn(text, skipWhitespace(text, 0));
}

function duplicateIn(text: string, start: number): DuplicateKey | undefined {
  const opening = text[start];
  if (opening !== "{" && opening !== "[") return undefined;
  const seen = new Map<string, number>();
  let at = skipWhitespace(text, start + 1);
  while (at < text.length && text[at] !== "}" && text[at] !== "]") {
    let value = at;
    if (opening === "{") {
      const keyEnd = stringEnd(text, at);
      const key = JSON.parse(text.slice(at, keyEnd)) as string;
      const first = seen.get(key);
      if (first !== undefined) return { key, offset: at, first };
      seen.set(key, at);
      value = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
    }
    const inner = duplicateIn(text, value);
    if (inner) return inner;
    at = skipWhitespace(text, valueEnd(text, value));
    if (text[at] === ",") at = skipWhitespace(text, at + 1);
  }
  return undefined;
}

/** Where a part of the path is written, and where its value starts. */
interface Step {
  readonly written: number;
  readonly value: number;
}

/** The last member named `key` of the object starting at `start`. */
function memberOf(text: string, start: number, key: string): Step | undefined {
  let step: Step | undefined;
  let at = skipWhitespace(text, start + 1);
  while (text[at] === '"') {
    const keyEnd = stringEnd(text, at);
    const value = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
    // JSON.parse decodes the key's escapes (`"po\u0072t"` is port) exactly as it read them.
    if (JSON.parse(text.slice(at, keyEnd)) === key) step = { written: at, value };
    at = skipWhitespace(text, valueEnd(text, value));
    if (text[at] === ",") at = skipWhitespace(text, at + 1);
  }
  return step;
}

/** The item at index `segment` of the list starting at `start`. */
function itemOf(text: string, start: number, segment: string): Step | undefined {
  if (!/^\d+$/.test(segment)) return undefined;
  const index = Number(segment);
  let at = skipWhitespace(text, start + 1);
  for (let count = 0; text[at] !== "]" && at < text.length; count++) {
    if (count === index) return { written: at, value: at };
    at = skipWhitespace(text, valueEnd(text, at));
    if (text[at] === ",") at = skipWhitespace(text, at + 1);
  }
  return undefined;
}

/** The offset just past the value starting at `start`: a string, an object or list with all inside it, or a literal. */
function valueEnd(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return stringEnd(text, start);
  if (first !== "{" && first !== "[") {
    // A number, true, false or null: it ends where the text around values begins.
    let at = start;
    while (at < text.length && !/[\s,\]}]/.test(text[at]!)) at++;
    return at;
  }
  let depth = 0;
  let at = start;
  while (at < text.length) {
    const char = text[at]!;
    if (char === '"') {
      at = stringEnd(text, at);
      continue;
    }
    if (char === "{" || char === "[") depth++;
    else if (char === "}" || char === "]") depth--;
    at++;
    if (depth === 0) return at;
  }
  return at;
}

/** The offset just past the string whose opening quote is at `start`; a backslash escapes the character after it. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  while (at < text.length && text[at] !== '"') at += text[at] === "\\" ? 2 : 1;
  return at + 1;
}

function skipWhitespace(text: string, start: number): number {
  let at = start;
  while (at < text.length && " \t\n\r".includes(text[at]!)) at++;
  return at;
}
