import type { DuplicateKey } from "../config/json-key-offset.js";

/** A mistake in JSON text: where (line and column, both from 1) and what is wrong there. */
export interface JsonMistake {
  readonly line: number;
  readonly column: number;
  /** In tsmicro's words: `a comma before ]; JSON allows no trailing comma`. */
  readonly reason: string;
}

/**
 * Where and why `text`, which JSON.parse refused with `error`, is not JSON; `what` names the text
 * in the reason (`the file ends where a value should be`). V8's messages name no position for
 * some mistakes and quote the text around it (keys and values included), so the place and reason
 * come from a small scanner of our own, run only on text that failed to parse.
 */
export function jsonMistake(text: string, what: string, error: unknown): JsonMistake {
  const found = locateJsonError(text, what);
  const reason = found?.reason ?? (error instanceof Error ? error.message : String(error));
  return { ...textPosition(text, found?.offset ?? 0), reason };
}

/** Line and column (both from 1) of `offset` in `text`. */
export function textPosition(text: string, offset: number): { readonly line: number; readonly column: number } {
  const before = text.slice(0, offset);
  return { line: before.split("\n").length, column: offset - before.lastIndexOf("\n") };
}

/**
 * What JSON text that writes a key twice in one object is told (JSON.parse keeps the last without a
 * word; grpc-gateway's protojson refuses it): `what` names the text, `repeated` is duplicateKey's find.
 */
export function repeatedKeyText(text: string, what: string, repeated: DuplicateKey): string {
  const at = (offset: number) => {
    const { line, column } = textPosition(text, offset);
    return `line ${line}, column ${column}`;
  };
  return (
    `${what} has the key ${JSON.stringify(repeated.key)} twice in one object, at ${at(repeated.offset)} ` +
    `and first at ${at(repeated.first)}; only one would count: send it once`
  );
}

/** How deep the scanner follows nested objects and arrays. */
const maxDepth = 1_000;

/** Where and why `text` is not JSON (RFC 8259), or undefined when it is; `what` names the text. */
function locateJsonError(text: string, what: string): { offset: number; reason: string } | undefined {
  let i = 0;
  class Stop {
    constructor(readonly reason: string) {}
  }
  const stop = (reason: string): never => {
    throw new Stop(reason);
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text.charAt(i))) i++;
  };
  const unexpected = (expected: string): never => {
    const c = text.charAt(i);
    if (c === "") return stop(`${what} ends where ${expected} should be`);
    if (text.startsWith("//", i) || text.startsWith("/*", i)) return stop("JSON has no comments");
    return stop(`expected ${expected}, found ${shown(text.codePointAt(i)!)}`);
  };
  const string = () => {
    i++;
    for (;;) {
      const c = text.charAt(i);
      if (c === "") stop("this string is never closed");
      if (c === '"') {
        i++;
        return;
      }
      if (c < " ") stop("a line break or control character inside a string; escape it (\\n, \\t)");
      if (c === "\\") {
        const e = text.charAt(i + 1);
        if (e === "u" ? !/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6)) : !'"\\/bfnrt'.includes(e) || e === "")
          stop('a bad escape; JSON has \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX');
        i += e === "u" ? 6 : 2;
      } else i++;
    }
  };
  let depth = 0;
  const members = (close: "}" | "]", member: () => void, item: string) => {
    // The scanner recurses per level: a deeper text would overflow the stack rather than be told.
    if (++depth > maxDepth) stop(`${what} nests more than ${maxDepth} levels deep`);
    try {
      membersOf(close, member, item);
    } finally {
      depth--;
    }
  };
  const membersOf = (close: "}" | "]", member: () => void, item: string) => {
    i++;
    space();
    if (text.charAt(i) === close) {
      i++;
      return;
    }
    for (;;) {
      space();
      member();
      space();
      const c = text.charAt(i);
      if (c === close) {
        i++;
        return;
      }
      if (c !== ",") unexpected(`, or ${close} after ${item}`);
      i++;
      space();
      if (text.charAt(i) === close) stop(`a comma before ${close}; JSON allows no trailing comma`);
    }
  };
  const value = (): void => {
    space();
    const c = text.charAt(i);
    if (c === "{") {
      members(
        "}",
        () => {
          if (text.charAt(i) !== '"') unexpected('a "quoted" property name');
          string();
          space();
          if (text.charAt(i) !== ":") unexpected(": after the property name");
          i++;
          value();
        },
        "a property",
      );
      return;
    }
    if (c === "[") {
      members("]", value, "an array element");
      return;
    }
    if (c === '"') {
      string();
      return;
    }
    const literal = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    literal.lastIndex = i;
    const match = literal.exec(text);
    if (match === null) {
      unexpected("a value");
      return;
    }
    i += match[0].length;
  };
  try {
    value();
    space();
    if (i < text.length) unexpected(`the end of ${what} after the value`);
    return undefined;
  } catch (error) {
    if (error instanceof Stop) return { offset: i, reason: error.reason };
    throw error;
  }
}

/**
 * A character found where it does not belong, as a reader can tell it: quoted when it can be
 * seen, else by its code point (a no-break space, a control character); a byte order mark,
 * which editors on Windows write and JSON texts must not start with, is named so.
 */
function shown(codePoint: number): string {
  if (codePoint === 0xfeff)
    return "a byte order mark (U+FEFF), which JSON text must not have; save it as UTF-8 without one";
  const char = String.fromCodePoint(codePoint);
  // Letters, marks, digits, punctuation and symbols show; spaces, controls and format characters do not.
  if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(char)) return JSON.stringify(char);
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}, which cannot be seen`;
}
