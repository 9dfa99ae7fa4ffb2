import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/** Leading comments of a file's elements, keyed by their source-info path (`6,0,2,1` is service 0, method 1). */
export type CommentIndex = ReadonlyMap<string, string>;

/** Indexes the leading comments protoc and buf keep in `source_code_info`. */
export function indexComments(file: FileDescriptorProto): CommentIndex {
  const index = new Map<string, string>();
  for (const location of file.sourceCodeInfo?.location ?? []) {
    if (location.leadingComments) index.set(location.path.join(","), location.leadingComments);
  }
  return index;
}

/**
 * Turns a proto comment into the lines of a doc comment: common
 * indentation trimmed, `*\/` escaped so the comment cannot end early, and
 * `@deprecated` added when the element is deprecated.
 */
export function docLines(comment: string | undefined, deprecated: boolean): string[] {
  const lines = (comment ?? "").replace(/\s+$/, "").split("\n");
  while (lines.length > 0 && lines[0]?.trim() === "") lines.shift();
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length));
  const trimmed = lines.map((l) =>
    l
      .slice(Number.isFinite(indent) ? indent : 0)
      .replace(/\s+$/, "")
      .replace(/\*\//g, "*\\/"),
  );
  if (deprecated) trimmed.push(...(trimmed.length > 0 ? [""] : []), "@deprecated");
  return trimmed;
}
