/**
 * TypeScript code without its comments, so that a line commented out does not count. Strings
 * (quoted and template) are read whole first and kept, since imports are found by them: a `//` or
 * `/*` inside one (`"//cdn.example.com"`, a route's `"/v1/orders/*"`) starts no comment.
 */
export function withoutComments(text: string): string {
  return text.replace(
    /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`|\/\/[^\n]*|\/\*[\s\S]*?\*\//g,
    // A block comment leaves a space, so the code on either side of it stays apart.
    (match) => (match.startsWith("/*") ? " " : match.startsWith("//") ? "" : match),
  );
}
