import { closestName } from "@tsmicro/runtime/errors";
import { type Declared, importsOf, outline, packageOf, type ProtoSource } from "./proto-outline.js";

const scalars = [
  "double",
  "float",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
  "bool",
  "string",
  "bytes",
];

/** Type names of other languages, and what proto calls them. */
const otherLanguages: Readonly<Record<string, string>> = {
  int: "int32` or `int64",
  integer: "int32` or `int64",
  long: "int64",
  uint: "uint32` or `uint64",
  boolean: "bool",
  str: "string",
  text: "string",
  byte: "bytes",
  float32: "float",
  float64: "double",
  number: "double",
};

/** The well-known types users write without their package: `Timestamp` is google.protobuf.Timestamp. */
const wellKnown = new Set([
  "Any",
  "Duration",
  "Empty",
  "FieldMask",
  "Struct",
  "Timestamp",
  "Value",
  "ListValue",
  "NullValue",
  ...["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map((t) => `${t}Value`),
]);

/**
 * What to do about a type buf reports as "cannot find `name` in this scope" in `file` (under the
 * proto folder), which buf does not say: the import a type of the user's other protos needs, its
 * full name when written without its package, the scalar or type a misspelling is near, or else to
 * declare it or import the proto declaring it. A name written as an option's, or its value, is no
 * type: see optionHint.
 */
export function unknownTypeHint(name: string, file: string, protos: readonly ProtoSource[]): string {
  const written = name.replace(/^\./, "");
  const source = protos.find((p) => p.path === file)?.text ?? "";
  const imports = importsOf(source);
  const from: Place = {
    pkg: packageOf(source),
    importing: (of) => (imports.has(of) || of === file ? "" : `add import "${of}";`),
  };
  const declared = protos.flatMap((proto) => outline(proto).declared);
  return declaredHint(written, declared, from) ?? misspeltHint(written, declared, from);
}

/** Where the unknown type was written: the proto's package, and the import it lacks for a file ("" if none). */
interface Place {
  readonly pkg: string;
  readonly importing: (file: string) => string;
}

/** The hint for a type one of the protos declares by that name: its import, or its full name; undefined if none. */
function declaredHint(written: string, declared: readonly Declared[], { pkg, importing }: Place): string | undefined {
  // Written as it resolves, so only its import is missing (else buf would have found it).
  const exact = declared.find((d) => d.fullName === written || d.fullName === `${pkg}.${written}`);
  if (exact) return importing(exact.file) && `: it is declared in ${exact.file}: ${importing(exact.file)}`;
  const simple = written.slice(written.lastIndexOf(".") + 1);
  const same = declared.filter((d) => d.simpleName === simple);
  if (same.length > 1)
    return `: ${same.map((d) => `${d.fullName} (in ${d.file})`).join(", ")} have that name: write the full name of the one you mean, and import its file`;
  const [d] = same;
  if (d)
    return `: ${d.fullName} is declared in ${d.file}: write ${d.fullName}${importing(d.file) && ` and ${importing(d.file)}`}`;
  if (written.includes(".") || !wellKnown.has(written)) return undefined;
  const of = `google/protobuf/${protoFileOf(`google.protobuf.${written}`, written)}`;
  return `: write google.protobuf.${written}${importing(of) && ` and ${importing(of)}`}`;
}

/** The hint for a name nothing declares: what proto calls another language's type, the name it is near, or to declare it. */
function misspeltHint(written: string, declared: readonly Declared[], { pkg }: Place): string {
  const alias = Object.hasOwn(otherLanguages, written) ? otherLanguages[written] : undefined;
  if (alias) return `: proto calls it \`${alias}\``;
  // A type of the same package is written as its simple name, unless the misspelling was qualified.
  const shown = (d: Declared) =>
    d.fullName === `${pkg}.${d.simpleName}` && !written.includes(".") ? d.simpleName : d.fullName;
  const candidates = new Map<string, string>([
    ...scalars.map((s) => [s, s] as const),
    ...[...wellKnown].map((w) => [w, `google.protobuf.${w}`] as const),
    ...declared.map((d) => [d.simpleName, shown(d)] as const),
  ]);
  const simple = written.slice(written.lastIndexOf(".") + 1);
  const near = nearest(simple, [...candidates.keys()]);
  if (near) return `: did you mean \`${candidates.get(near)}\`?`;
  return `: declare it (message ${simple} { … } or enum ${simple} { … }), or import the .proto that declares it`;
}

/** The file of google/protobuf/ or googleapis that declares a type (`FieldMask` in field_mask.proto). */
export function protoFileOf(typeName: string, name: string): string {
  if (typeName.startsWith("google.protobuf.")) {
    if (/^(Struct|Value|ListValue|NullValue)$/.test(name)) return "struct.proto";
    if (/^(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value$/.test(name)) return "wrappers.proto";
  }
  return `${name.replace(/(?<=[a-z0-9])([A-Z])/g, "_$1").toLowerCase()}.proto`;
}

/** The candidate `name` is most likely a slip of (case aside), as flags and commands are told. */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  const byLowerCase = new Map(candidates.map((candidate) => [candidate.toLowerCase(), candidate]));
  const near = closestName(name.toLowerCase(), byLowerCase.keys());
  return near === undefined ? undefined : byLowerCase.get(near);
}
