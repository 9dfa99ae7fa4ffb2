import type { DescField, DescFile, DescMessage } from "@bufbuild/protobuf";

/**
 * Where a message or field is written: `file.proto:line:column` from the
 * file's source info (kept by protoc and buf for the files they compile),
 * or the file's name alone when there is none.
 */
export function sourcePlace(file: DescFile, element: DescMessage | DescField): string {
  const path = sourcePath(element);
  const wanted = path.join(",");
  const location = file.proto.sourceCodeInfo?.location.find((l) => l.path.join(",") === wanted);
  const [line, column] = location?.span ?? [];
  return line === undefined || column === undefined ? file.proto.name : `${file.proto.name}:${line + 1}:${column + 1}`;
}

/** FileDescriptorProto's field numbers: message_type 4; in a message, field 2 and nested_type 3. */
const FileField = { messageType: 4 } as const;
const MessageField = { field: 2, nestedType: 3 } as const;

/** The source-info path of a message or field: `4,0,3,1` is the file's first message's second nested one. */
function sourcePath(element: DescMessage | DescField): number[] {
  if (element.kind === "field") {
    const message = element.parent;
    return [...sourcePath(message), MessageField.field, message.proto.field.indexOf(element.proto)];
  }
  const parent = element.parent;
  if (!parent) return [FileField.messageType, element.file.proto.messageType.indexOf(element.proto)];
  return [...sourcePath(parent), MessageField.nestedType, parent.proto.nestedType.indexOf(element.proto)];
}
