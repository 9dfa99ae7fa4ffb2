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
 * such a key is refused. One pass over the text, each character read once: a gateway runs it on a
 * request body (up to --body_limit) whose string holds `":`, so a value's text is not walked again
 * for each object around it, as a walk value by value would.
 */
export function duplicateKey(text: string): DuplicateKey | undefined {
  // The keys seen in each object open around the current character; null for a list.
  const open: (Map<string, number> | null)[] = [];
  let keyNext = false;
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at);
    if (char === quote) {
      const end = stringEnd(text, at);
      if (keyNext) {
        const key = keyText(text, at, end);
        const keys = open[open.length - 1]!;
        const first = keys.get(key);
        if (first !== undefined) return { key, offset: at, first };
        keys.set(key, at);
        keyNext = false;
      }
      at = end - 1;
    } else if (char === openBrace) {
      open.push(new Map());
      keyNext = true;
    } else if (char === openBracket) open.push(null);
    else if (char === closeBrace || char === closeBracket) open.pop();
    else if (char === comma) keyNext = open[open.length - 1] !== null;
  }
  return undefined;
}

const quote = 0x22;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const openBracket = 0x5b;
const closeBracket = 0x5d;
const comma = 0x2c;

/** The key written from `start` (its opening quote) to `end` (past its closing one): escapes read as JSON.parse reads them (`"po\u0072t"` is port). */
function keyText(text: string, start: number, end: number): string {
  const inner = text.slice(start + 1, end - 1);
  return inner.includes("\\") ? (JSON.parse(text.slice(start, end)) as string) : inner;
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
