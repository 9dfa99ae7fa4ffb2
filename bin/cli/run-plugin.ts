import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CodeGeneratorRequestSchema,
  CodeGeneratorResponseSchema,
  CodeGeneratorResponse_FileSchema,
  CodeGeneratorResponse_Feature,
} from "@bufbuild/protobuf/wkt";
import { isSetupError } from "@tsmicro/runtime/errors";
import { generateFiles } from "./generate-files.js";
import { version } from "./package-paths.js";

/**
 * The protoc plugin's I/O: CodeGeneratorRequest on stdin, response on
 * stdout. Input errors go back in the response's `error` field, so protoc
 * and buf print them as `--tsmicro_out: …` and fail; a bug in tsmicro exits
 * 1 with its stack on stderr. Resolves to the exit code.
 */
export async function runPlugin(args: readonly string[]): Promise<number> {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) {
    process.stdout.write(`protoc-gen-tsmicro v${version}\n`);
    return 0;
  }
  if (args.length > 0) {
    process.stderr.write(
      `protoc-gen-tsmicro is a protoc plugin: run it through protoc --tsmicro_out=DIR or buf generate, not directly (got ${args.join(" ")}). Use --version to print its version.\n`,
    );
    return 1;
  }
  const request = fromBinary(CodeGeneratorRequestSchema, await readAll(process.stdin));
  const response = create(CodeGeneratorResponseSchema, {
    supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL),
  });
  try {
    response.file = (await generateFiles(request)).map(({ name, content }) =>
      create(CodeGeneratorResponse_FileSchema, { name, content }),
    );
  } catch (error) {
    if (!isSetupError(error)) throw error;
    response.error = error.message;
  }
  await new Promise<void>((resolve, reject) =>
    process.stdout.write(toBinary(CodeGeneratorResponseSchema, response), (err) => (err ? reject(err) : resolve())),
  );
  return 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
