import { CodeGeneratorRequest } from "ts-proto-descriptors";
import { createFileContext } from "ts-proto/build/src/context.js";
import { generateFile, makeUtils } from "ts-proto/build/src/main.js";
import { getTsPoetOpts, optionsFromParameter } from "ts-proto/build/src/options.js";
import { createTypeMap } from "ts-proto/build/src/types.js";

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
      return { name: path, protoFile: file.name, body };
    });

  const symbols = new Map<string, TsProtoSymbol>();
  for (const [protoName, [module, name]] of typeMap) {
    symbols.set(protoName.replace(/^\./, ""), { module, name });
  }
  return { files, symbols };
}
