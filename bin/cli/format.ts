import { createRequire } from "node:module";
import type { Options } from "dprint-node/options.js";
import { SetupError } from "@tsmicro/runtime/errors";
import type { GeneratedFile } from "../../generator/generate.js";

const require = createRequire(import.meta.url);

/**
 * Fixed options, so generated code looks the same whatever formatter config
 * the user's project has: prettier's style at 120 columns, imports and
 * exports kept in the order generated.
 */
const dprintOptions: Options = {
  lineWidth: 120,
  indentWidth: 2,
  useTabs: false,
  quoteStyle: "alwaysDouble",
  semiColons: "prefer",
  "arrowFunction.useParentheses": "force",
  "module.sortImportDeclarations": "maintain",
  "module.sortExportDeclarations": "maintain",
  "importDeclaration.sortNamedImports": "maintain",
  "exportDeclaration.sortNamedExports": "maintain",
};

/**
 * Formats generated TypeScript with dprint, the formatter ts-proto's own
 * output comes from (through ts-poet), so every generated file reads alike;
 * files already formatted (ts-proto's) and other files pass through. dprint
 * is native and formats a large file in milliseconds, which is what keeps a
 * cold `tsmicro generate` near ts-proto's own time.
 */
export async function formatFiles(files: readonly GeneratedFile[]): Promise<GeneratedFile[]> {
  if (!files.some(isUnformattedTs)) return [...files];
  const format = loadDprint();
  return files.map((file) => (isUnformattedTs(file) ? { name: file.name, content: formatted(file, format) } : file));
}

function formatted(file: GeneratedFile, format: ReturnType<typeof loadDprint>): string {
  try {
    return format(file.name, file.content, dprintOptions);
  } catch (error) {
    // dprint's message: "Expected ident at <file>:<line>:<column>", then the line.
    const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0]?.trim() ?? "";
    throw new SetupError("TSM_ERR_RENDERED_TS", file.name, reason.replace(` at ${file.name}:`, " at line "));
  }
}

function isUnformattedTs(file: GeneratedFile): boolean {
  return file.name.endsWith(".ts") && !file.formatted;
}

/** dprint-node is CommonJS around a native addon, loaded only when something is to be formatted. */
function loadDprint(): (path: string, code: string, options: Options) => string {
  return (require("dprint-node") as { format: (path: string, code: string, options: Options) => string }).format;
}
