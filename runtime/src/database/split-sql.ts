/** One statement of a migration file, with the line it starts on (1-based). */
export interface SqlStatement {
  readonly text: string;
  readonly line: number;
}

/**
 * Splits a file of SQL into statements at top-level semicolons, skipping
 * those inside quotes, quoted identifiers, dollar-quoted bodies and
 * comments. Each statement runs alone because PGlite's `query` (like any
 * prepared statement) takes one, and so an error can name its line.
 * Not handled: SQL-standard `BEGIN ATOMIC … END` function bodies (use `AS $$ … $$`).
 */
export function splitSql(source: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const code = firstCode(source, start, end);
    if (code < end) statements.push({ text: source.slice(start, end).trim(), line: lineAt(source, code) });
  };
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "-" && next === "-") {
      i = indexOrEnd(source, "\n", i + 2);
    } else if (c === "/" && next === "*") {
      i = skipBlockComment(source, i);
    } else if (c === "'") {
      // E'…' strings escape with backslashes; standard strings only double quotes.
      const escapes = i > 0 && /[eE]/.test(source[i - 1]!) && !/\w/.test(source[i - 2] ?? "");
      i = skipQuoted(source, i, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(source, i, '"', false);
    } else if (c === "$") {
      const tag = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/.exec(source.slice(i))?.[0];
      // `$1` and identifiers such as `a$b` are not dollar quotes.
      if (tag && !/\w/.test(source[i - 1] ?? "")) i = indexOrEnd(source, tag, i + tag.length) + tag.length;
      else i++;
    } else if (c === ";") {
      push(i);
      start = i + 1;
      i++;
    } else {
      i++;
    }
  }
  push(source.length);
  return statements;
}

/** The 1-based line of `offset` in `source`. */
export function lineAt(source: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < source.length; i++) if (source[i] === "\n") line++;
  return line;
}

function indexOrEnd(source: string, search: string, from: number): number {
  const at = source.indexOf(search, from);
  return at === -1 ? source.length : at;
}

function skipBlockComment(source: string, from: number): number {
  // Postgres block comments nest.
  let depth = 0;
  let i = from;
  while (i < source.length) {
    if (source.startsWith("/*", i)) {
      depth++;
      i += 2;
    } else if (source.startsWith("*/", i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}

function skipQuoted(source: string, from: number, quote: string, backslashEscapes: boolean): number {
  let i = from + 1;
  while (i < source.length) {
    const c = source[i];
    if (backslashEscapes && c === "\\") i += 2;
    else if (c === quote && source[i + 1] === quote) i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  return i;
}

/** The offset of the first character in [from, end) that is neither white space nor comment; `end` if none. */
function firstCode(source: string, from: number, end: number): number {
  let i = from;
  while (i < end) {
    if (source.startsWith("--", i)) i = indexOrEnd(source, "\n", i);
    else if (source.startsWith("/*", i)) i = skipBlockComment(source, i);
    else if (/\s/.test(source[i]!)) i++;
    else return i;
  }
  return end;
}
