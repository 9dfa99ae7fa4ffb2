import { posix } from "node:path";
import { withoutComments } from "../../generator/scaffold/without-comments.js";

/** A generated module as written this run: its name under the out folder (`shop/v1/shop.ts`) and code. */
export interface GeneratedModule {
  readonly name: string;
  readonly content: string;
}

/**
 * Lines saying where the names a user file imports from a generated module went, when that module
 * no longer exports them and exactly one other generated module does: a proto renamed
 * (`shop.proto` to `store.proto`) or a message moved to another proto file moves its generated
 * code, and the type checker only says that the old module lacks the name. `code` holds the user's
 * files (relative to the project, outside `out`) by path.
 */
export function movedImports(
  code: ReadonlyMap<string, string>,
  generated: readonly GeneratedModule[],
  out: string,
): string[] {
  const exports = new Map(generated.map((file) => [moduleOf(file.name), exportedNames(file.content)] as const));
  const lines: string[] = [];
  for (const [path, text] of code) {
    const moves = new Map<string, string[]>();
    for (const { names, specifier } of namedImports(text)) {
      const from = generatedModule(path, specifier, out);
      if (from === undefined) continue;
      for (const name of names) {
        if (exports.get(from)?.has(name)) continue;
        const holders = [...exports].filter(([, names]) => names.has(name)).map(([module]) => module);
        if (holders.length !== 1) continue;
        const key = `${from}\n${holders[0]}`;
        moves.set(key, [...(moves.get(key) ?? []), name]);
      }
    }
    for (const [key, names] of moves) {
      const [from, to] = key.split("\n") as [string, string];
      const [them, it] = names.length === 1 ? ["it", "declares it"] : ["them", "declares them"];
      lines.push(
        `${path} imports ${names.join(", ")} from ${out}/${from}.js, which no longer ${it}: ` +
          `import ${them} from ${out}/${to}.js`,
      );
    }
  }
  return lines;
}

/** `shop/v1/shop.ts` -> `shop/v1/shop`; `x.openapi.json` is no module. */
function moduleOf(name: string): string {
  return name.replace(/\.ts$/, "");
}

/** The names a generated module exports: its declarations and `export { … }` lists. */
function exportedNames(content: string): Set<string> {
  const names = new Set<string>();
  const declared =
    /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:const|let|var|async\s+function\*?|function\*?|class|interface|type|enum)\s+(\w+)/gm;
  for (const match of content.matchAll(declared)) names.add(match[1]!);
  for (const match of content.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}/gm))
    for (const part of match[1]!.split(",")) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop()
        ?.replace(/^type\s+/, "");
      if (name) names.add(name);
    }
  return names;
}

/** The `import { a, type B, c as d } from "…"` statements of a module: the names imported (a, B, c) and from where. */
function namedImports(text: string): { names: string[]; specifier: string }[] {
  const imports: { names: string[]; specifier: string }[] = [];
  for (const match of withoutComments(text).matchAll(/\bimport\s+(?:type\s+)?\{([^}]*)\}\s*from\s*["']([^"']+)["']/g)) {
    const names = match[1]!
      .split(",")
      .map((part) =>
        part
          .trim()
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)[0]!
          .trim(),
      )
      .filter((name) => name !== "");
    imports.push({ names, specifier: match[2]! });
  }
  return imports;
}

/** The generated module (under `out`, without extension) a relative import in the file at `path` names; else undefined. */
function generatedModule(path: string, specifier: string, out: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const target = posix.normalize(posix.join(posix.dirname(path), specifier)).replace(/\.(js|ts)$/, "");
  const prefix = `${posix.normalize(out).replace(/\/$/, "")}/`;
  return target.startsWith(prefix) ? target.slice(prefix.length) : undefined;
}
