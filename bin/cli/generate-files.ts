import { fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema } from "@bufbuild/protobuf/wkt";
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
export async function generateFiles(request: Uint8Array): Promise<GeneratedFile[]> {
  const { parameter } = fromBinary(CodeGeneratorRequestSchema, request);
  const options = parseGeneratorOptions(parameter ?? "");
  const templates = await loadTemplates(options.templates);
  return formatFiles(generate({ request, templates, version }));
}
