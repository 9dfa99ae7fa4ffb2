import {
  CodeGeneratorRequest,
  type DescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  type FileDescriptorProto,
} from "ts-proto-descriptors";
import { createFileContext } from "ts-proto/build/src/context.js";
import { generateFile, makeUtils } from "ts-proto/build/src/main.js";
import { getTsPoetOpts, optionsFromParameter } from "ts-proto/build/src/options.js";
import { createTypeMap } from "ts-proto/build/src/types.js";
import { getFieldName } from "ts-proto/build/src/utils.js";

/**
 * The ts-proto options tsmicro fixes, so users never configure ts-proto:
 * ESM imports with `.js` suffixes (NodeNext), 64-bit integers as bigint
 * (`jstype = JS_STRING` fields as strings), oneofs as typed unions, and no
 * services (tsmicro writes those into `*.micro.ts`).
 */
export const tsProtoParameter = [
  "esModuleInterop=true",
  "importSuffix=.js",
  "forceLong=bigint",
  "useJsTypeOverride=true",
  "oneof=unions-value",
  "useExactTypes=false",
  "outputServices=false",
  "annotateFilesWithVersion=false",
].join(",");

/** Where ts-proto puts a proto type: the module (path without `.ts`) and the exported TypeScript name. */
export interface TsProtoSymbol {
  readonly module: string;
  readonly name: string;
}

/** A file ts-proto produced. */
export interface TsProtoFile {
  readonly name: string;
  readonly protoFile: string;
  /** The code after the header; ts-proto's own header is replaced by tsmicro's. */
  readonly body: string;
}

/** What ts-proto made of a request: its files and where each type went. */
export interface TsProtoOutput {
  readonly files: TsProtoFile[];
  /** Keyed by fully qualified proto name without the leading dot, such as `greeter.v1.HelloRequest`. */
  readonly symbols: ReadonlyMap<string, TsProtoSymbol>;
}

/**
 * Runs ts-proto's plugin in-process on the request bytes protoc or buf sent,
 * with tsmicro's fixed options, for the `emitted` files: like ts-proto, every
 * file the requested ones import, once each, so the output compiles on its own.
 */
export function runTsProto(requestBytes: Uint8Array, emitted: ReadonlySet<string>): TsProtoOutput {
  const request = CodeGeneratorRequest.decode(requestBytes);
  const options = optionsFromParameter(tsProtoParameter);
  const typeMap = createTypeMap(request, options);
  const ctx = { typeMap, options, utils: makeUtils(options) };

  const files = request.protoFile
    .filter((file) => emitted.has(file.name))
    .map((file) => {
      const [path, code] = generateFile({ ...ctx, currentFile: createFileContext(file) }, file);
      const body = code.toString({
        ...getTsPoetOpts(options, "", "", file.name),
        prefix: "/* eslint-disable */",
        path,
      });
      return { name: path, protoFile: file.name, body: writeRequiredFields(body, file, typeMap, options) };
    });

  const symbols = new Map<string, TsProtoSymbol>();
  for (const [protoName, [module, name]] of typeMap) {
    symbols.set(protoName.replace(/^\./, ""), { module, name });
  }
  return { files, symbols };
}

/**
 * proto2 `required` scalar and enum fields are written whatever their value. ts-proto's
 * `encode` and `toJSON` skip a field at its zero value, as proto3 wants, so a required field
 * set to 0 or "" never reached the wire and every proto2 decoder (Go's, C++'s, protobuf-es in
 * the gateway) refused the message as missing it. Here each such guard is unwrapped; required
 * message fields keep theirs (unset is missing, which the receiver reports).
 */
function writeRequiredFields(
  body: string,
  file: FileDescriptorProto,
  typeMap: ReturnType<typeof createTypeMap>,
  options: ReturnType<typeof optionsFromParameter>,
): string {
  let code = body;
  const visit = (message: DescriptorProto, protoName: string): void => {
    for (const nested of message.nestedType) visit(nested, `${protoName}.${nested.name}`);
    const required = message.field.filter(
      (f) =>
        f.label === FieldDescriptorProto_Label.LABEL_REQUIRED &&
        f.type !== FieldDescriptorProto_Type.TYPE_MESSAGE &&
        f.type !== FieldDescriptorProto_Type.TYPE_GROUP,
    );
    if (required.length === 0) return;
    const tsName = typeMap.get(protoName)?.[1];
    if (tsName === undefined) throw unexpectedShape(protoName, "a type");
    const properties = required.map((field) => ({
      name: `${protoName}.${field.name}`,
      property: getFieldName(field, options),
    }));
    code = unwrapGuards(code, `\n  encode(message: ${tsName}, writer`, "\n    return writer;\n", properties);
    code = unwrapGuards(code, `\n  toJSON(message: ${tsName})`, "\n    return obj;\n", properties);
  };
  const prefix = file.package ? `.${file.package}` : "";
  for (const message of file.messageType) visit(message, `${prefix}.${message.name}`);
  return code;
}

/** In the function of `code` from `header` to `footer`, each field's `if (message.x !== zero) { … }` becomes its body. */
function unwrapGuards(
  code: string,
  header: string,
  footer: string,
  fields: readonly { readonly name: string; readonly property: string }[],
): string {
  const start = code.indexOf(header);
  // Up to and with the newline before the footer, so the last guard ends in one.
  const end = code.indexOf(footer, start) + 1;
  if (start < 0 || end <= 0) throw unexpectedShape(header.trim(), "this function");
  let region = code.slice(start, end);
  for (const { name, property } of fields) {
    // `    if (message.code !== 0) {` or `    if (message.data.length !== 0) {`, closed by the next `    }`.
    const guard = new RegExp(
      `\n    if \\(message\\.${property}(?: !== [^\n]*|\\.length !== 0)\\) \\{\n([^]*?)\n    \\}\n`,
    );
    const found = guard.exec(region);
    if (!found) throw unexpectedShape(name, `a zero-value check in ${header.trim()}`);
    const unwrapped = (found[1] ?? "").replace(/^ {2}/gm, "");
    region = `${region.slice(0, found.index)}\n${unwrapped}\n${region.slice(found.index + found[0].length)}`;
  }
  return code.slice(0, start) + region + code.slice(end);
}

function unexpectedShape(what: string, expected: string): Error {
  return new Error(
    `ts-proto's encoder for ${what} lacks ${expected} where tsmicro expects one; ` +
      "this ts-proto version is not the one tsmicro was built with: reinstall tsmicro's dependencies",
  );
}
