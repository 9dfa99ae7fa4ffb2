import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** One .proto as the compiler reads it: its path as imported (under the proto folder) and its text. */
export interface ProtoSource {
  readonly path: string;
  readonly text: string;
}

/** A message or enum a proto declares, by full name (`shop.v1.Shop`, `shop.v1.Shop.Line`). */
export interface Declared {
  readonly fullName: string;
  readonly simpleName: string;
  readonly file: string;
}

/** A field, or an option, with its type as written (`string`, `Kind`, `google.api.FieldBehavior`). */
export interface TypedName {
  readonly name: string;
  readonly type: string;
  /** The message (or package) the type is looked up from, innermost first, as protoc does. */
  readonly scope: string;
}

/** An option a proto's `extend` block declares (`google.api.http`), its type, and the file that does. */
export interface Extension extends TypedName {
  readonly fullName: string;
  readonly file: string;
}

/**
 * What a failed compile cannot tell, read from a proto's text: the messages and enums it declares,
 * each message's fields (by the message's full name), the options its `extend` blocks declare,
 * and each enum's value names (by the enum's full name).
 */
export interface ProtoOutline {
  readonly declared: readonly Declared[];
  readonly fields: ReadonlyMap<string, readonly TypedName[]>;
  readonly extensions: readonly Extension[];
  readonly enums: ReadonlyMap<string, readonly string[]>;
}

/** A block the scan is inside: a message, enum, oneof or extend by name, or any other `{` (a service, an option's value). */
interface Block {
  readonly kind: string | undefined;
  readonly fullName: string;
}

/**
 * A string, or the start of a named block, or a field (`repeated string tags = 3`), or an enum
 * value (`RED = 1`), or a brace: the statements an outline needs. Strings come first so that a
 * brace or `=` inside one counts for nothing.
 */
const token =
  /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\b(message|enum|oneof|extend|service)\s+([\w.]+)\s*\{|\b(?:(?:optional|required|repeated)\s+)?(map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+|\b(\w+)\s*=\s*-?\d+|[{}]/g;

/** The outline of `proto`, nested declarations under their parent's name. */
export function outline(proto: ProtoSource): ProtoOutline {
  const pkg = packageOf(proto.text);
  const declared: Declared[] = [];
  const fields = new Map<string, TypedName[]>();
  const extensions: Extension[] = [];
  const enums = new Map<string, string[]>();
  const open: Block[] = [];
  // The innermost message (or the package at top level): what a nested name is qualified by.
  const scope = () => open.findLast((b) => b.kind === "message")?.fullName ?? pkg;
  const qualified = (name: string) => [scope(), name].filter(Boolean).join(".");
  for (const [text, kind, name, type, field, value] of code(proto.text).matchAll(token)) {
    if (text === "}") open.pop();
    else if (text === "{") open.push({ kind: undefined, fullName: "" });
    else if (kind !== undefined) {
      const fullName = kind === "extend" || kind === "service" ? name! : qualified(name!);
      if (kind === "message" || kind === "enum") declared.push({ fullName, simpleName: name!, file: proto.path });
      if (kind === "enum") enums.set(fullName, []);
      open.push({ kind, fullName });
    } else if (field !== undefined && type !== undefined && type !== "option") {
      const inside = open.at(-1)?.kind;
      const typed = { name: field, type, scope: scope() };
      if (inside === "extend") extensions.push({ ...typed, fullName: qualified(field), file: proto.path });
      else if (inside === "message" || inside === "oneof") fields.set(scope(), [...(fields.get(scope()) ?? []), typed]);
    } else if (value !== undefined && open.at(-1)?.kind === "enum") enums.get(open.at(-1)!.fullName)?.push(value);
  }
  return { declared, fields, extensions, enums };
}

/** The package a proto declares, "" when none. */
export function packageOf(text: string): string {
  return /\bpackage\s+([\w.]+)\s*;/.exec(code(text))?.[1] ?? "";
}

/** The files a proto imports, as written in its import statements. */
export function importsOf(text: string): Set<string> {
  return new Set([...code(text).matchAll(/\bimport\s+(?:public\s+|weak\s+)?"([^"]+)"/g)].map((m) => m[1]!));
}

/**
 * A proto's text without its comments, so that a declaration or import commented out does not
 * count. Strings are read whole first: a `//` or `/*` inside one (`"http://x"`, a route's
 * `"/v1/{name=shops/*}"`) starts no comment.
 */
export function code(text: string): string {
  return text.replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (match) =>
    match.startsWith("/") ? " " : match,
  );
}

/** The .proto files under `protoDir` with their text, paths relative and `/`-separated; none when it cannot be read. */
export async function listProtoSources(protoDir: string): Promise<ProtoSource[]> {
  const files = await readdir(protoDir, { recursive: true }).catch(() => [] as string[]);
  return Promise.all(
    files
      .filter((file) => file.endsWith(".proto"))
      .map(async (file) => ({
        path: file.split("\\").join("/"),
        text: await readFile(join(protoDir, file), "utf8").catch(() => ""),
      })),
  );
}
