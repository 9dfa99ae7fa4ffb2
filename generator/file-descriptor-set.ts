import {
  clone,
  create,
  getExtension,
  setExtension,
  toBinary,
  type DescMessage,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { BinaryWriter, WireType, base64Encode } from "@bufbuild/protobuf/wire";
import {
  EnumOptionsSchema,
  EnumValueOptionsSchema,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  FileOptionsSchema,
  MessageOptionsSchema,
  MethodOptionsSchema,
  OneofOptionsSchema,
  ServiceOptionsSchema,
  SourceCodeInfoSchema,
  SourceCodeInfo_LocationSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FileDescriptorProto,
  type SourceCodeInfo,
} from "@bufbuild/protobuf/wkt";

/**
 * Encodes, for a file, the file and everything it imports, dependencies
 * first, as base64: what server reflection needs to describe the service.
 * Source info is left out except, for each file `comments` names, the leading
 * comments at the source-info paths it gives (with their spans): those the
 * file's OpenAPI document prints, so a gateway's document, built from these
 * descriptors, reads as the generated `x.openapi.json`. Custom options are re-encoded canonically
 * (protoc and buf order their fields differently), so both compilers yield
 * the same bytes. Each file is encoded once, however many sets include it: a
 * set is the concatenation of its files as `FileDescriptorSet.file` (field 1)
 * entries.
 */
export function createDescriptorSetEncoder(
  all: readonly FileDescriptorProto[],
  registry: Registry,
  comments: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): (name: string) => string {
  const byName = new Map(all.map((file) => [file.name, file]));
  const encoded = new Map<string, Uint8Array>();
  const entryOf = (file: FileDescriptorProto): Uint8Array => {
    let entry = encoded.get(file.name);
    if (!entry) {
      const copy = clone(FileDescriptorProtoSchema, file);
      const kept = comments.get(file.name);
      copy.sourceCodeInfo = kept ? keptComments(file.sourceCodeInfo, kept) : undefined;
      canonicalizeFile(copy, registry);
      const bytes = toBinary(FileDescriptorProtoSchema, copy);
      const writer = new BinaryWriter();
      writer.tag(1, WireType.LengthDelimited).bytes(bytes);
      entry = writer.finish();
      encoded.set(file.name, entry);
    }
    return entry;
  };
  return (name) => {
    const entries: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (fileName: string): void => {
      const file = byName.get(fileName);
      if (!file || seen.has(fileName)) return;
      seen.add(fileName);
      file.dependency.forEach(visit);
      entries.push(entryOf(file));
    };
    visit(name);
    const set = new Uint8Array(entries.reduce((n, e) => n + e.length, 0));
    let offset = 0;
    for (const entry of entries) {
      set.set(entry, offset);
      offset += entry.length;
    }
    return base64Encode(set);
  };
}

/** The locations of `info` whose path (`6,0,2,1`) is in `kept`, with their leading comments and spans only. */
function keptComments(info: SourceCodeInfo | undefined, kept: ReadonlySet<string>): SourceCodeInfo | undefined {
  const location = (info?.location ?? [])
    .filter((l) => l.leadingComments !== "" && kept.has(l.path.join(",")))
    // Spans stay: readers such as Go's protodesc refuse a location without one.
    .map((l) =>
      create(SourceCodeInfo_LocationSchema, { path: l.path, span: l.span, leadingComments: l.leadingComments }),
    );
  return location.length === 0 ? undefined : create(SourceCodeInfoSchema, { location });
}

function canonicalizeFile(file: FileDescriptorProto, registry: Registry): void {
  const options = (schema: DescMessage, message: Message | undefined) => canonicalizeOptions(schema, message, registry);
  options(FileOptionsSchema, file.options);
  const messages = (list: readonly DescriptorProto[]): void => {
    for (const message of list) {
      options(MessageOptionsSchema, message.options);
      for (const field of message.field) options(FieldOptionsSchema, field.options);
      for (const field of message.extension) options(FieldOptionsSchema, field.options);
      for (const oneof of message.oneofDecl) options(OneofOptionsSchema, oneof.options);
      enums(message.enumType);
      messages(message.nestedType);
    }
  };
  const enums = (list: readonly EnumDescriptorProto[]): void => {
    for (const e of list) {
      options(EnumOptionsSchema, e.options);
      for (const value of e.value) options(EnumValueOptionsSchema, value.options);
    }
  };
  messages(file.messageType);
  enums(file.enumType);
  for (const field of file.extension) options(FieldOptionsSchema, field.options);
  for (const service of file.service) {
    options(ServiceOptionsSchema, service.options);
    for (const method of service.method) options(MethodOptionsSchema, method.options);
  }
}

/** Decodes each known extension from the unknown fields and encodes it again, in field-number order. */
function canonicalizeOptions(schema: DescMessage, options: Message | undefined, registry: Registry): void {
  const unknown = (options as { $unknown?: { no: number }[] } | undefined)?.$unknown;
  if (!options || !unknown || unknown.length === 0) return;
  const numbers = [...new Set(unknown.map((field) => field.no))].sort((a, b) => a - b);
  for (const no of numbers) {
    const extension = registry.getExtensionFor(schema, no);
    if (!extension) continue;
    const extendee = options as Parameters<typeof getExtension>[0];
    setExtension(extendee, extension, getExtension(extendee, extension));
  }
}
