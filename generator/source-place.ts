import type { DescFile, DescMessage, DescMethod } from "@bufbuild/protobuf";

/**
 * How a proto file is named in messages: its name as imported (`shop/v1/shop.proto`) by default;
 * the runner passes the path as the user reaches it from where the command ran
 * (`proto/shop/v1/shop.proto`, `../../proto/…` in a workspace service's folder).
 */
export type ProtoPath = (protoName: string) => string;

const asImported: ProtoPath = (name) => name;

/**
 * Where a message is written: `file.proto:line:column` from the
 * file's source info (kept by protoc and buf for the files they compile),
 * or the file's name alone when there is none.
 */
export function sourcePlace(file: DescFile, message: DescMessage, path: ProtoPath = asImported): string {
  return placeOf(file, [messagePath(message)], path);
}

/** Where a method's `google.api.http` option is written, else the method itself, as sourcePlace says it. */
export function methodPlace(file: DescFile, method: DescMethod, path: ProtoPath = asImported): string {
  const service = method.parent;
  const at = [
    serviceField,
    file.proto.service.indexOf(service.proto),
    methodField,
    service.proto.method.indexOf(method.proto),
  ];
  return placeOf(file, [[...at, methodOptionsField, httpExtensionField], at], path);
}

/** The first of `paths` the file's source info has a span for, as `file:line:column`; the file alone when none. */
function placeOf(file: DescFile, paths: readonly number[][], path: ProtoPath): string {
  const name = path(file.proto.name);
  const locations = file.proto.sourceCodeInfo?.location ?? [];
  for (const wanted of paths) {
    const key = wanted.join(",");
    const [line, column] = locations.find((l) => l.path.join(",") === key)?.span ?? [];
    if (line !== undefined && column !== undefined) return `${name}:${line + 1}:${column + 1}`;
  }
  return name;
}

/** FileDescriptorProto's message_type is field 4, DescriptorProto's nested_type field 3. */
const messageTypeField = 4;
const nestedTypeField = 3;
/** FileDescriptorProto's service is field 6, ServiceDescriptorProto's method field 2, MethodDescriptorProto's options field 4. */
const serviceField = 6;
const methodField = 2;
const methodOptionsField = 4;
/** google.api.http's extension number on MethodOptions. */
const httpExtensionField = 72295728;

/** The source-info path of a message: `4,0,3,1` is the file's first message's second nested one. */
function messagePath(message: DescMessage): number[] {
  const parent = message.parent;
  if (!parent) return [messageTypeField, message.file.proto.messageType.indexOf(message.proto)];
  return [...messagePath(parent), nestedTypeField, parent.proto.nestedType.indexOf(message.proto)];
}
