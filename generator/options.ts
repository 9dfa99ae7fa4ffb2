import { SetupError } from "@tsmicro/runtime/errors";

/** Options of protoc-gen-tsmicro, given as `--tsmicro_opt=key=value,…` or by `tsmicro generate`. */
export interface GeneratorOptions {
  /** Module specifier generated code imports the runtime from. */
  readonly runtimeImport: string;
  /** A directory of templates that override the shipped ones, file by file (read by the runner, not the generator). */
  readonly templates: string | undefined;
  /** Two methods bound to the same route fail generation instead of warning. */
  readonly strictRoutes: boolean;
}

/** Defaults, applied here and nowhere else. */
export const defaultGeneratorOptions: GeneratorOptions = {
  runtimeImport: "@tsmicro/runtime",
  templates: undefined,
  strictRoutes: false,
};

const setters: Record<string, (options: MutableOptions, value: string, key: string) => void> = {
  runtime_import(options, value, key) {
    if (value === "") throw new SetupError("TSM_ERR_PLUGIN_OPTION_VALUE", key, '""', "give a module specifier");
    options.runtimeImport = value;
  },
  strict_routes(options, value, key) {
    if (!["", "true", "false"].includes(value))
      throw new SetupError("TSM_ERR_PLUGIN_OPTION_VALUE", key, JSON.stringify(value), "use true or false");
    options.strictRoutes = value !== "false";
  },
  templates(options, value, key) {
    if (value === "") throw new SetupError("TSM_ERR_PLUGIN_OPTION_VALUE", key, '""', "give a directory");
    options.templates = value;
  },
};

type MutableOptions = { -readonly [K in keyof GeneratorOptions]: GeneratorOptions[K] };

/** The option keys protoc-gen-tsmicro accepts. */
export const generatorOptionKeys: readonly string[] = Object.keys(setters).sort();

/**
 * Parses the plugin parameter strictly: `key=value` pairs separated by
 * commas; an unknown key is an error naming it and listing the valid ones.
 */
export function parseGeneratorOptions(parameter: string): GeneratorOptions {
  const options: MutableOptions = { ...defaultGeneratorOptions };
  for (const pair of parameter.split(",")) {
    const trimmed = pair.trim();
    if (trimmed === "") continue;
    const eq = trimmed.indexOf("=");
    const key = eq === -1 ? trimmed : trimmed.slice(0, eq);
    const value = eq === -1 ? "" : trimmed.slice(eq + 1);
    const set = Object.hasOwn(setters, key) ? setters[key] : undefined;
    if (!set) {
      throw new SetupError(
        "TSM_ERR_PLUGIN_OPTION",
        JSON.stringify(key),
        JSON.stringify(parameter),
        generatorOptionKeys.join(", "),
      );
    }
    set(options, value, key);
  }
  return options;
}
