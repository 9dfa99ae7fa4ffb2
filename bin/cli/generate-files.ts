import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { generate, type GeneratedFile } from "../../generator/generate.js";
import { parseGeneratorOptions } from "../../generator/options.js";
import { formatFiles } from "./format.js";
import { loadTemplates } from "./load-templates.js";
import { version } from "./package-paths.js";

/**
 * Everything both ways in share: templates loaded (with the user's
 * overrides from the `templates` option), the pure generator run, and its
 * output formatted. Same request, same files, whichever way came in.
 */
export async function generateFiles(
  request: CodeGeneratorRequest,
  warn: (message: string) => void = (message) => process.stderr.write(`tsmicro: warning: ${message}\n`),
): Promise<GeneratedFile[]> {
  const options = parseGeneratorOptions(request.parameter ?? "");
  const templates = await loadTemplates(options.templates, warn);
  return formatFiles(generate({ request, templates, version, warn }));
}
