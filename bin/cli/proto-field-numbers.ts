/**
 * The other field of a message that has the number buf says is "used more than once": buf names
 * only the second use. Read from the source, as a hint: `source` is the .proto's text, `line` the
 * 1-based line buf points at, `number` the field number. Fields of the same message count, those
 * in its oneofs too; nested messages and enums number their own.
 */
export function otherFieldNumbered(source: string, line: number, number: string): string | undefined {
  const lines = source.split("\n");
  const scopes = blockScopes(lines);
  const own = scopes[line - 1];
  if (own === undefined) return undefined;
  const field = new RegExp(`(\\w+)\\s*=\\s*${number}\\s*[;[]`);
  for (let i = 0; i < lines.length; i++) {
    if (i === line - 1 || scopes[i] !== own) continue;
    const name = field.exec(withoutComments(lines[i]!))?.[1];
    if (name !== undefined) return `${name} (line ${i + 1})`;
  }
  return undefined;
}

/**
 * Per line, the message whose fields the line declares: the index of the line that opened it, or
 * -1 outside any. A oneof's lines belong to the message around it.
 */
function blockScopes(lines: readonly string[]): number[] {
  // The scope of each block open at this point, innermost last.
  const open: number[] = [];
  const scopes: number[] = [];
  lines.forEach((text, index) => {
    scopes.push(open.at(-1) ?? -1);
    for (const token of withoutComments(text).matchAll(/(\boneof\b[^{}]*)?([{}])/g)) {
      if (token[2] === "}") open.pop();
      else open.push(token[1] !== undefined ? (open.at(-1) ?? -1) : index);
    }
  });
  return scopes;
}

/** A line without its `//` comment and string literals (whose braces and `=` are no syntax). */
function withoutComments(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""').replace(/\/\/.*$/, "");
}
