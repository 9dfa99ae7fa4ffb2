import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { generate, type GeneratedFile } from "../../generator/generate.js";
import { parseGeneratorOptions } from "../../generator/options.js";
import type { ProtoPath } from "../../generator/source-place.js";
import { formatFiles } from "./format.js";
import { loadTemplates } from "./load-templates.js";
import { version } from "./package-paths.js";

/** How generateFiles reports. */
export interface GenerateFilesOptions {
  /** Where warnings go; default stderr, as `tsmicro: warning: …`. */
  readonly warn?: (message: string) => void;
  /** False when the caller checks the routes against the protos served with these (see generate's checkRoutes). */
  readonly checkRoutes?: boolean;
  /** How errors name a proto (see protoPathIn); by default as imported. */
  readonly protoPath?: ProtoPath;
}

/** Prints a warning on stderr, as every tsmicro command does. */
export const warnOnStderr = (message: string): void => void process.stderr.write(`tsmicro: warning: ${message}\n`);

/**
 * Everything both ways in share: templates loaded (with the user's
 * overrides from the `templates` option), the pure generator run, and its
 * output formatted. Same request, same files, whichever way came in.
 */
export async function generateFiles(
  request: CodeGeneratorRequest,
  { warn = warnOnStderr, checkRoutes, protoPath }: GenerateFilesOptions = {},
): Promise<GeneratedFile[]> {
  const options = parseGeneratorOptions(request.parameter ?? "");
  const templates = await loadTemplates(options.templates, warn);
  return formatFiles(generate({ request, templates, version, warn, checkRoutes, protoPath }));
}
