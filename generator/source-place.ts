import type { DescFile, DescMessage } from "@bufbuild/protobuf";

/**
 * Where a message is written: `file.proto:line:column` from the
 * file's source info (kept by protoc and buf for the files they compile),
 * or the file's name alone when there is none.
 */
export function sourcePlace(file: DescFile, message: DescMessage): string {
  const path = sourcePath(message);
  const wanted = path.join(",");
  const location = file.proto.sourceCodeInfo?.location.find((l) => l.path.join(",") === wanted);
  const [line, column] = location?.span ?? [];
  return line === undefined || column === undefined ? file.proto.name : `${file.proto.name}:${line + 1}:${column + 1}`;
}

/** FileDescriptorProto's message_type is field 4, DescriptorProto's nested_type field 3. */
const messageTypeField = 4;
const nestedTypeField = 3;

/** The source-info path of a message: `4,0,3,1` is the file's first message's second nested one. */
function sourcePath(message: DescMessage): number[] {
  const parent = message.parent;
  if (!parent) return [messageTypeField, message.file.proto.messageType.indexOf(message.proto)];
  return [...sourcePath(parent), nestedTypeField, parent.proto.nestedType.indexOf(message.proto)];
}
