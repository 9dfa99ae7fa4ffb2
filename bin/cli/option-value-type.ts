import type { ProtoOutline, TypedName } from "./proto-outline.js";

/**
 * What an option's value may be, as far as the protos tell: the values of its enum (`NO_SIDE_EFFECTS`
 * for `idempotency_level`), `true`/`false` for a bool, text for a string; undefined when the option
 * or its type cannot be told from the line, so a hint falls back to every value it knows.
 */
export type OptionValueType =
  | { readonly kind: "enum"; readonly name: string; readonly values: readonly string[] }
  | { readonly kind: "bool" }
  | { readonly kind: "text" }
  | { readonly kind: "other" };

/**
 * The types of the option (or field of an option's value) whose value `before` ends in front of:
 * `option idempotency_level =`, `[(google.api.field_behavior) =`, `(tsmicro.column).unique =`, or
 * `kind:` inside a `{…}` value. Several when the line leaves it open (a field name many messages
 * have); undefined when none is known.
 */
export function optionValueTypes(
  before: string,
  pkg: string,
  outlines: readonly ProtoOutline[],
): OptionValueType[] | undefined {
  const target = optionTarget(before);
  if (!target) return undefined;
  const types = new Types(outlines);
  let named: TypedName[];
  if (target.extension !== undefined) {
    const wanted = [target.extension, `${pkg}.${target.extension}`];
    named = outlines.flatMap((o) => o.extensions).filter((e) => wanted.includes(e.fullName));
  } else {
    // A plain name after `option` or in `[…]` is a field of descriptor.proto's options; after `:`, of any message.
    const [first = ""] = target.path;
    const holders = [...types.fields.keys()].filter((m) => target.literal || /^google\.protobuf\.\w+Options$/.test(m));
    named = holders.flatMap((m) => types.fields.get(m)!.filter((f) => f.name === first));
  }
  for (const name of target.extension === undefined ? target.path.slice(1) : target.path) {
    named = named.flatMap((t) => types.fields.get(types.resolve(t) ?? "")?.filter((f) => f.name === name) ?? []);
  }
  const found = named.map((t) => types.valueType(t));
  return found.length === 0 || found.includes(undefined) ? undefined : (found as OptionValueType[]);
}

/** The option `before` names: an extension in parentheses, then fields (`.unique`), or a plain field name. */
function optionTarget(
  before: string,
): { readonly extension: string | undefined; readonly path: string[]; readonly literal: boolean } | undefined {
  const literal = /(\w+)\s*:$/.exec(before);
  if (literal) return { extension: undefined, path: [literal[1]!], literal: true };
  const set = /(?:\(\s*\.?([\w.]+)\s*\))?((?:\.?\w+)*)\s*=$/.exec(before);
  if (!set || (set[1] === undefined && !set[2])) return undefined;
  return { extension: set[1], path: (set[2] ?? "").split(".").filter(Boolean), literal: false };
}

/** The scalar types proto names, and what a value of each is written as. */
const scalars: ReadonlyMap<string, OptionValueType> = new Map<string, OptionValueType>([
  ["bool", { kind: "bool" }],
  ["string", { kind: "text" }],
  ["bytes", { kind: "text" }],
  ...["double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64"]
    .concat(["sfixed32", "sfixed64"])
    .map((name): [string, OptionValueType] => [name, { kind: "other" }]),
]);

/** The messages and enums of every outline, for resolving a field's type name as protoc does. */
class Types {
  readonly fields = new Map<string, readonly TypedName[]>();
  readonly #enums = new Map<string, readonly string[]>();

  constructor(outlines: readonly ProtoOutline[]) {
    for (const o of outlines) {
      for (const [name, fields] of o.fields) this.fields.set(name, [...(this.fields.get(name) ?? []), ...fields]);
      for (const [name, values] of o.enums) this.#enums.set(name, values);
    }
    for (const o of outlines)
      for (const d of o.declared)
        if (!this.fields.has(d.fullName) && !this.#enums.has(d.fullName)) this.fields.set(d.fullName, []);
  }

  /** The full name `t.type` means from `t.scope`: the innermost enclosing scope that has it. */
  resolve(t: TypedName): string | undefined {
    if (t.type.startsWith(".")) return this.#known(t.type.slice(1));
    const parts = t.scope.split(".").filter(Boolean);
    for (let length = parts.length; length >= 0; length--) {
      const candidate = [...parts.slice(0, length), t.type].join(".");
      if (this.#known(candidate)) return candidate;
    }
    return undefined;
  }

  /** What a value of `t` is written as; undefined for a message (its value is a `{…}`) or a type not found. */
  valueType(t: TypedName): OptionValueType | undefined {
    const scalar = scalars.get(t.type);
    if (scalar) return scalar;
    const name = this.resolve(t);
    const values = name === undefined ? undefined : this.#enums.get(name);
    return name !== undefined && values !== undefined ? { kind: "enum", name, values } : undefined;
  }

  #known(name: string): string | undefined {
    return this.fields.has(name) || this.#enums.has(name) ? name : undefined;
  }
}
