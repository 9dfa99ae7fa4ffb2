import { fromBinary } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type as Type,
  type FileDescriptorProto,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";

/**
 * Field types whose values read as each other on the wire (protobuf's "updating a message type"):
 * a field changed within one group keeps its callers; across groups, a caller built on the old
 * proto sends what this service misreads or drops, without an error.
 */
const compatible: readonly (readonly Type[])[] = [
  [Type.INT32, Type.UINT32, Type.INT64, Type.UINT64, Type.BOOL, Type.ENUM],
  [Type.SINT32, Type.SINT64],
  [Type.STRING, Type.BYTES],
  [Type.FIXED32, Type.SFIXED32],
  [Type.FIXED64, Type.SFIXED64],
  [Type.FLOAT],
  [Type.DOUBLE],
  [Type.MESSAGE],
  [Type.GROUP],
];

/**
 * The messages the generated `*.micro.ts` files among `files` describe (each holds its proto's
 * descriptors and their imports, base64), by full name: what the last run's callers were built on.
 */
export function describedMessages(
  files: readonly { readonly name: string; readonly content: string }[],
): Map<string, DescriptorProto> {
  const messages = new Map<string, DescriptorProto>();
  for (const file of files) {
    if (!file.name.endsWith(".micro.ts")) continue;
    const encoded = /const fileDescriptorSet: string =\s*"([A-Za-z0-9+/=]*)"/.exec(file.content)?.[1];
    if (!encoded) continue;
    try {
      for (const proto of fromBinary(FileDescriptorSetSchema, Buffer.from(encoded, "base64")).file)
        for (const [name, message] of messagesOf(proto)) messages.set(name, message);
    } catch {
      // A file of an older tsmicro, or edited: nothing to compare with.
    }
  }
  return messages;
}

/** A file's messages, nested ones included, by full name (`user.v1.User.Address`). */
export function messagesOf(file: FileDescriptorProto): [string, DescriptorProto][] {
  const found: [string, DescriptorProto][] = [];
  const walk = (prefix: string, messages: readonly DescriptorProto[]) => {
    for (const message of messages) {
      const name = `${prefix}${message.name}`;
      found.push([name, message]);
      walk(`${name}.`, message.nestedType);
    }
  };
  walk(file.package ? `${file.package}.` : "", file.messageType);
  return found;
}

/**
 * A line for each field of `after`'s messages whose number held a type of another wire encoding
 * in `before` (string to int64), or switched between one value and a list of numbers (`retyped:`),
 * or another JSON name (`renamed:`): callers built on the old proto still send the old, and nothing
 * fails to say so. Each line starts with its kind.
 */
export function changedFields(
  before: ReadonlyMap<string, DescriptorProto>,
  after: readonly FileDescriptorProto[],
  protoDir: string,
): string[] {
  const lines: string[] = [];
  for (const file of after) {
    for (const [name, message] of messagesOf(file)) {
      const was = before.get(name);
      if (was === undefined) continue;
      for (const field of message.field) {
        const old = was.field.find((f) => f.number === field.number);
        if (old === undefined) continue;
        const group = compatible.find((types) => types.includes(field.type));
        const retyped = !group?.includes(old.type);
        const repeated = (f: typeof field) => f.label === FieldDescriptorProto_Label.REPEATED;
        const numeric = group !== undefined && ![Type.STRING, Type.MESSAGE, Type.GROUP].includes(group[0]!);
        const relisted = !retyped && numeric && repeated(old) !== repeated(field);
        if (!retyped && !relisted) {
          if (old.jsonName !== field.jsonName)
            lines.push(renamedField(old.name, field.name, `${name} in ${protoDir}/${file.name}`));
          continue;
        }
        const now = `${repeated(field) ? "repeated " : ""}${typeName(field)}`;
        const then = `${repeated(old) ? "repeated " : ""}${typeName(old)}`;
        lines.push(
          `retyped: field ${field.name} = ${field.number} of ${name} in ${protoDir}/${file.name} is ${now}, where it was ${old.name === field.name ? "" : `${old.name}, `}${then}: ` +
            `callers built on the old proto still send ${then} there, which this service misreads or drops without an error; ` +
            `unless every caller is regenerated with it, give the field a new number and write reserved ${field.number}; in ${name}`,
        );
      }
    }
  }
  return lines;
}

/**
 * The line for a field renamed: the binary encoding knows only its number, but JSON names it, and the
 * gateway refuses a name the message no longer has, which a JSON caller built on the old proto sends.
 */
function renamedField(was: string, now: string, where: string): string {
  return (
    `renamed: field ${was} of ${where} is now named ${now}: gRPC callers are unaffected (the number is the same), ` +
    `but JSON callers (HTTP, through tsmicro api) built on the old proto still send "${was}", which the gateway now ` +
    `refuses (400, no such field); keep the old name if they cannot all be updated with it`
  );
}

/** A field's type as a proto spells it: `int64`, `user.v1.User`. */
function typeName(field: { readonly type: Type; readonly typeName: string }): string {
  if (field.type === Type.MESSAGE || field.type === Type.ENUM || field.type === Type.GROUP)
    return field.typeName.replace(/^\./, "");
  return Type[field.type].toLowerCase();
}
