/**
 * A JSON or YAML file as a configuration layer, by extension (`.json`,
 * `.yaml`, `.yml`). A file named explicitly must exist, unless marked
 * optional; with `watch`, edits to the file reach the running service.
 * Warnings and errors about a key name its line and column: `config.yaml:12:3`.
 */
import { nodeFs } from "../platform/node-builtins.js";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { SetupError } from "../errors/setup-error.js";
import type { ConfigSource, ConfigTree, SourceEvents, SourceWatch } from "./config.js";
import { fileReadProblem } from "./file-read-problem.js";
import { formatOf, type ParsedConfig, parseConfigFile } from "./parse-config-text.js";

/** Options of fileSource. */
export interface FileSourceOptions {
  /** A missing file is an empty layer instead of an error, such as a developer's `config.local.yaml`. */
  readonly optional?: boolean;
  /** Re-read the file when it changes, for hot reload from a file. Default false. */
  readonly watch?: boolean;
}

/** Edits often arrive as several writes; the file is read once they settle. */
const settleMs = 50;

/** A layer read from the JSON or YAML file at `path`. */
export function fileSource(path: string, options: FileSourceOptions = {}): ConfigSource {
  const format = formatOf(path);
  // The last text read: what the configuration's layer holds, and what the file says after each edit.
  let parsed: ParsedConfig | undefined;
  const read = async (): Promise<ConfigTree> => {
    // Found when the configuration starts, as every other mistake in it: `config.start().catch(service.fatal)` prints it.
    if (!format)
      throw new SetupError("TSM_ERR_CONFIG_FILE", path, "unknown format; name the file .json, .yaml or .yml");
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if (options.optional && (error as NodeJS.ErrnoException).code === "ENOENT") {
        parsed = undefined;
        return {};
      }
      throw new SetupError("TSM_ERR_CONFIG_FILE", path, readFailure(error));
    }
    parsed = await parseConfigFile(text, path, format);
    return parsed.tree;
  };
  const name = `file ${path}`;
  return {
    name,
    read,
    locate(keys, inside = []) {
      const position = parsed?.position([...keys, ...inside]);
      return position === undefined ? name : `${path}:${position}`;
    },
    ...(options.watch ? { watch: (events: SourceEvents) => watchChanges(path, read, events) } : {}),
  };
}

/** Follows the file's folder rather than the file: editors replace a file by renaming, which ends a file watch. */
async function watchChanges(path: string, read: () => Promise<ConfigTree>, events: SourceEvents): Promise<SourceWatch> {
  const initial = await read();
  let timer: NodeJS.Timeout | undefined;
  const name = basename(path);
  const watcher = nodeFs().watch(dirname(path), (_event, changed) => {
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      read().then(
        (tree) => events.changed(tree),
        (error: unknown) => events.failed(error instanceof Error ? error : new Error(String(error))),
      );
    }, settleMs);
  });
  return {
    initial,
    async close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

/** fileReadProblem, with what to do about a missing file: a source can be optional. */
function readFailure(error: unknown): string {
  const problem = fileReadProblem(error);
  return (error as NodeJS.ErrnoException).code === "ENOENT"
    ? `${problem}; create it, or mark the source optional`
    : problem;
}
