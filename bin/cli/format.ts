import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as Prettier from "prettier";
import type { GeneratedFile } from "../../generator/generate.js";

const require = createRequire(import.meta.url);

/**
 * Fixed options, so generated code looks the same whatever prettier config
 * the user's project has. `babel-ts` prints the same TypeScript as the
 * `typescript` parser here and is markedly faster on ts-proto's large files.
 */
const prettierOptions: Prettier.Options = { parser: "babel-ts", printWidth: 120 };

/**
 * Formats generated TypeScript with prettier; other files pass through.
 * Formatting dominates generation time, and after a proto edit most files
 * come out unchanged, so results are cached by content hash in the nearest
 * `node_modules/.cache/tsmicro` (TSMICRO_CACHE=0 turns the cache off).
 */
export async function formatFiles(files: readonly GeneratedFile[]): Promise<GeneratedFile[]> {
  const cache = findCacheDir();
  return Promise.all(
    files.map(async (file) =>
      file.name.endsWith(".ts") ? { name: file.name, content: await formatCached(file.content, cache) } : file,
    ),
  );
}

let loaded: Promise<typeof Prettier> | undefined;

/** prettier is loaded only when something misses the cache: importing it costs more than a warm run's formatting. */
function loadPrettier(): Promise<typeof Prettier> {
  loaded ??= import("prettier");
  return loaded;
}

/** Bumped when the way files are formatted changes, to invalidate old entries. */
const cacheVersion = "1";

async function formatCached(source: string, cache: string | undefined): Promise<string> {
  if (!cache) return (await loadPrettier()).format(source, prettierOptions);
  const key = createHash("sha256")
    .update(`${cacheVersion}\0${JSON.stringify(prettierOptions)}\0${prettierVersion()}\0`)
    .update(source)
    .digest("hex");
  const path = join(cache, key.slice(0, 2), key);
  try {
    return await readFile(path, "utf8");
  } catch {
    const result = await (await loadPrettier()).format(source, prettierOptions);
    // Write then rename, so a concurrent run never reads half an entry.
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, result);
    await rename(temp, path);
    return result;
  }
}

/** prettier's version without importing it, so a change of prettier invalidates the cache. */
function prettierVersion(): string {
  return (require("prettier/package.json") as { version: string }).version;
}

function findCacheDir(): string | undefined {
  if (process.env.TSMICRO_CACHE === "0") return undefined;
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "node_modules"))) return join(dir, "node_modules", ".cache", "tsmicro", "format");
    if (dirname(dir) === dir) return undefined;
  }
}
