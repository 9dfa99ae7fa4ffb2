import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema, type CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { existsSync, type Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SetupError } from "@tsmicro/runtime/errors";
import { buildImage, protoPathIn, referencePath } from "./buf-image.js";
import { CommandError } from "./command-error.js";
import { generateFiles } from "./generate-files.js";
import { enclosingProject } from "./workspace.js";
import { writeGeneratedFiles, type WriteResult } from "./write-files.js";

/** Flags of `tsmicro generate`. */
export interface GenerateCommandOptions {
  /** The proto folder (an import root), as `--proto` gives it; undefined: `proto`, which must then exist. */
  readonly proto: string | undefined;
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
  const proto = options.proto ?? defaultProtoDir(process.cwd());
  const request = await compileRequest(proto, options.opt, options.templates);
  const generated = await generateFiles(request, { protoPath: protoPathIn(resolve(proto)) });
  return writeGeneratedFiles(options.out, generated);
}

/**
 * Compiles every proto under `proto` with buf into the CodeGeneratorRequest
 * protoc would send the plugin, with `opt` (and the templates folder) as its
 * parameter.
 */
export async function compileRequest(
  proto: string,
  opt: readonly string[],
  templates: string | undefined,
): Promise<CodeGeneratorRequest> {
  const protoDir = resolve(proto);
  const files = await listProtos(protoDir, proto);
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(protoDir, referencePath(protoDir)));
  const parameter = [...opt, ...(templates ? [`templates=${resolve(templates)}`] : [])].join(",");
  return create(CodeGeneratorRequestSchema, { fileToGenerate: files, parameter, protoFile: image.file });
}

/**
 * `proto`, the folder read when no `--proto` is given outside a project, if `dir` has it. Else a
 * CommandError saying there is no project here (or which one `dir` is inside), not that the
 * `--proto` the user never gave is wrong.
 */
export function defaultProtoDir(dir: string): string {
  if (existsSync(join(dir, "proto"))) return "proto";
  const project = enclosingProject(dir);
  throw new CommandError(
    project === undefined
      ? `no tsmicro project here (no tsmicro.json in ${resolve(dir)} or above) and no proto/ folder: run it in a project, or pass --proto DIR`
      : `no proto/ folder in ${resolve(dir)}, which is inside the tsmicro project ${project}: run it there, or pass --proto DIR`,
  );
}

/**
 * The `.proto` files under `protoDir`, relative and sorted. A SetupError
 * naming `shown` when the folder does not exist (a mistyped `--proto` must
 * not read as an empty folder) or holds no `.proto` file.
 */
export async function listProtos(protoDir: string, shown: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(protoDir, { recursive: true, withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      const what = code === "ENOENT" ? "does not exist" : "is a file, not a folder";
      throw new SetupError(
        "TSM_ERR_FLAG",
        "--proto",
        JSON.stringify(shown),
        `the folder ${protoDir} ${what}; pass --proto DIR naming the folder that holds the .proto files`,
      );
    }
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
