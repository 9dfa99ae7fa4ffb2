import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SetupError } from "@tsmicro/runtime";
import { buildImage, displayPath } from "./buf-image.js";
import { generateFiles } from "./generate-files.js";
import { writeGeneratedFiles, type WriteResult } from "./write-files.js";

/** Flags of `tsmicro generate`. */
export interface GenerateCommandOptions {
  /** The project's proto folder (an import root); default `proto`. */
  readonly proto: string;
  /** Where generated files go; default `src/gen`. */
  readonly out: string;
  /** Plugin options, as `--tsmicro_opt` takes them (`key=value`). */
  readonly opt: readonly string[];
  /** A folder of templates overriding the shipped ones. */
  readonly templates: string | undefined;
}

/**
 * `tsmicro generate`: compiles the project's protos with the buf binary
 * from npm (no protoc needed), runs the same generator as
 * protoc-gen-tsmicro on the same request, and writes all files or none.
 */
export async function generateCommand(options: GenerateCommandOptions): Promise<WriteResult> {
  const protoDir = resolve(options.proto);
  const files = await listProtos(protoDir, options.proto);
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(protoDir, displayPath(protoDir)));
  const parameter = [...options.opt, ...(options.templates ? [`templates=${resolve(options.templates)}`] : [])].join(
    ",",
  );
  const request = create(CodeGeneratorRequestSchema, { fileToGenerate: files, parameter, protoFile: image.file });
  const generated = await generateFiles(request);
  return writeGeneratedFiles(options.out, generated);
}

/** The `.proto` files under `protoDir`, relative and sorted; a SetupError naming `shown` when there are none. */
export async function listProtos(protoDir: string, shown: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(protoDir, { recursive: true, withFileTypes: true });
  } catch {
    throw new SetupError("TSM_ERR_NO_PROTOS", shown);
  }
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith(".proto"))
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(protoDir.length + 1)
        .split("\\")
        .join("/"),
    )
    .sort();
  if (files.length === 0) throw new SetupError("TSM_ERR_NO_PROTOS", shown);
  return files;
}
