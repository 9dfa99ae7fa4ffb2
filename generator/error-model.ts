import {
  getExtension,
  hasExtension,
  type DescEnum,
  type DescFile,
  type DescMessage,
  type Registry,
} from "@bufbuild/protobuf";
import { Code, codeName } from "@tsmicro/runtime/errors";
import { docLines, type CommentIndex } from "./doc-comment.js";

/** The gRPC codes tsmicro's options may name (google.rpc.Code's numbers). */
const codeNames = new Set<number>(Object.values(Code));

/** One error enum, as the `micro.ts` template prints it. */
export interface ErrorEnumModel {
  readonly doc: readonly string[];
  /** `UserErrors` for an enum `UserErrorReason`. */
  readonly containerName: string;
  readonly domainLiteral: string;
  readonly values: readonly ErrorValueModel[];
}

/** One reason: its constructor and its check. */
export interface ErrorValueModel {
  readonly doc: readonly string[];
  /** `userNotFound`. */
  readonly constructorName: string;
  /** `isUserNotFound`. */
  readonly checkName: string;
  readonly reasonLiteral: string;
  /** The gRPC code's name, such as `NOT_FOUND`. */
  readonly codeName: string;
}

/**
 * The enums of a file marked as error reasons with `(tsmicro.default_code)`
 * or with `(tsmicro.code)` on a value (see proto/tsmicro/errors.proto).
 * A zero `…_UNSPECIFIED` value is not a reason.
 */
export function buildErrorEnums(file: DescFile, registry: Registry, comments: CommentIndex): ErrorEnumModel[] {
  const defaultCode = registry.getExtension("tsmicro.default_code");
  const valueCode = registry.getExtension("tsmicro.code");
  if (!defaultCode && !valueCode) return [];
  const enumCode = (e: DescEnum): number | undefined =>
    defaultCode && e.proto.options && hasExtension(e.proto.options, defaultCode)
      ? (getExtension(e.proto.options, defaultCode) as number)
      : undefined;
  const codeOf = (options: DescEnum["values"][number]["proto"]["options"]): number | undefined =>
    valueCode && options && hasExtension(options, valueCode) ? (getExtension(options, valueCode) as number) : undefined;

  const all: { desc: DescEnum; path: string | undefined }[] = file.enums.map((desc, i) => ({ desc, path: `5,${i}` }));
  const nested = (messages: readonly DescMessage[]): void => {
    for (const message of messages) {
      all.push(...message.nestedEnums.map((desc) => ({ desc, path: undefined })));
      nested(message.nestedMessages);
    }
  };
  nested(file.messages);

  return all.flatMap(({ desc, path }) => {
    const fallback = enumCode(desc);
    const marked = fallback !== undefined || desc.values.some((v) => codeOf(v.proto.options) !== undefined);
    if (!marked) return [];
    const values = desc.values
      .map((value, j) => ({ value, j }))
      .filter(({ value }) => !(value.number === 0 && value.name.endsWith("UNSPECIFIED")))
      .map(({ value, j }) => {
        const camel = value.name
          .toLowerCase()
          .split("_")
          .filter(Boolean)
          .map((part, k) => (k === 0 ? part : part.charAt(0).toUpperCase() + part.slice(1)))
          .join("");
        const code = codeOf(value.proto.options) ?? fallback ?? 2;
        return {
          doc: docLines(path ? comments.get(`${path},2,${j}`) : undefined, value.deprecated),
          constructorName: camel,
          checkName: `is${camel.charAt(0).toUpperCase()}${camel.slice(1)}`,
          reasonLiteral: JSON.stringify(value.name),
          codeName: codeNames.has(code) ? codeName(code) : "UNKNOWN",
        };
      });
    const base = desc.name.replace(/Reason$/, "");
    return [
      {
        doc: docLines(path ? comments.get(path) : undefined, desc.deprecated),
        containerName: base.endsWith("Error") ? `${base}s` : `${base}Errors`,
        domainLiteral: JSON.stringify(desc.typeName),
        values,
      },
    ];
  });
}
