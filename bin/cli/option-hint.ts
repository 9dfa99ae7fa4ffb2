import { importsOf, outline, packageOf, type ProtoSource } from "./proto-outline.js";
import { optionValueTypes } from "./option-value-type.js";
import { nearest } from "./unknown-type-hint.js";

/**
 * What to do about a diagnostic of buf's on an option, which names what it could not find but not
 * what was meant: an option's name (`(google.api.htp)`), a field of its value (`{gte: "/x"}`,
 * `(tsmicro.column).uniqe`, `idempotency_levl`) or a value (`NO_SIDE_EFECTS`). The hint is the
 * known name the slip is near (closestName's rule), the import a known option lacks, or the fields
 * the option has; "" when there is none to give. Undefined when the diagnostic is about no option,
 * so the hints for types apply. `line` is the source line, `column` (1-based) where buf points in
 * it; `protos` are the project's and the shipped protos, paths as imported.
 */
export function optionHint(
  message: string,
  file: string,
  line: string,
  column: number,
  protos: readonly ProtoSource[],
): string | undefined {
  const unknown = /^cannot find `([\w.]+)` in this scope$/.exec(message)?.[1];
  if (unknown !== undefined) {
    const before = line.slice(0, column - 1).trimEnd();
    // An option's name is in parentheses after `[`, `,` or `option`; its value follows `=`, or `:` in a `{…}`.
    if (/(\[|,|\boption)\s*\($/.test(before)) return optionNameHint(unknown.replace(/^\./, ""), file, protos);
    if (/[=:]$/.test(before)) return optionValueHint(unknown, before, file, protos);
    return undefined;
  }
  const [, field, of] = /^cannot find message field `(\w+)` in `([\w.]+)`$/.exec(message) ?? [];
  if (field !== undefined && of !== undefined) return optionFieldHint(field, of, protos);
  // buf names the message but not the field: it is the name where buf points.
  const unresolved = /^cannot resolve message field name for `([\w.]+)`$/.exec(message)?.[1];
  const written = /^\w+/.exec(line.slice(column - 1))?.[0];
  if (unresolved !== undefined && written !== undefined) return optionFieldHint(written, unresolved, protos);
  return undefined;
}

/** The hint for an option name nothing declares: the import a known one lacks, or the known one it is near. */
function optionNameHint(written: string, file: string, protos: readonly ProtoSource[]): string {
  const source = protos.find((p) => p.path === file)?.text ?? "";
  const pkg = packageOf(source);
  const imports = importsOf(source);
  const missing = (of: string) => (imports.has(of) || of === file ? "" : `add import "${of}";`);
  const extensions = protos.flatMap((proto) => outline(proto).extensions);
  const exact = extensions.find((e) => e.fullName === written || e.fullName === `${pkg}.${written}`);
  if (exact) return missing(exact.file) && `: ${missing(exact.file)}`;
  // Written with its package, it is near a full name; without, near an option's own name (`(htp)`).
  const key = (fullName: string) => (written.includes(".") ? fullName : fullName.slice(fullName.lastIndexOf(".") + 1));
  const byKey = new Map(extensions.map((e) => [key(e.fullName), e]));
  const near = byKey.get(nearest(written, [...byKey.keys()]) ?? "");
  if (near === undefined) return "";
  return `: did you mean \`${near.fullName}\`${missing(near.file) && ` (${missing(near.file)})`}?`;
}

/** The hint for a field an option's message lacks: the field it is near, or else the fields it has. */
function optionFieldHint(written: string, message: string, protos: readonly ProtoSource[]): string {
  const fields = protos
    .flatMap((proto) => (outline(proto).fields.get(message) ?? []).map((field) => field.name))
    // Options' own bookkeeping, which no one writes.
    .filter((name) => name !== "uninterpreted_option");
  if (fields.length === 0) return "";
  const near = nearest(written, fields);
  return near === undefined ? `: ${message} has ${fields.join(", ")}` : `: did you mean \`${near}\`?`;
}

/**
 * The hint for a value nothing declares: the value of the option's own type it is near (its enum's,
 * or `true`/`false`), else that enum's values, or the quotes a string wants. When the line does not
 * tell the option's type, the value of any enum it is near. "" if none.
 */
function optionValueHint(written: string, before: string, file: string, protos: readonly ProtoSource[]): string {
  const outlines = protos.map(outline);
  const pkg = packageOf(protos.find((p) => p.path === file)?.text ?? "");
  const types = optionValueTypes(before, pkg, outlines);
  const values = types
    ? types.flatMap((t) => (t.kind === "enum" ? t.values : t.kind === "bool" ? ["true", "false"] : []))
    : ["true", "false", ...outlines.flatMap((o) => [...o.enums.values()].flat())];
  const near = nearest(written, [...new Set(values)]);
  if (near !== undefined) return `: did you mean \`${near}\`?`;
  const [only] = types ?? [];
  if (types?.length !== 1 || !only) return "";
  if (only.kind === "enum") return `: ${only.name} has ${only.values.join(", ")}`;
  return only.kind === "text" ? `: it takes a string; write "${written}"` : "";
}
