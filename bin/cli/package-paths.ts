import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The tsmicro package's root: this file is `bin/cli/` in the source and `dist/bin/cli/` when built. */
export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The templates that ship with tsmicro. */
export const shippedTemplatesDir = join(packageRoot, "templates");

/** tsmicro's version, from its package.json. */
export const version: string = (
  JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }
).version;

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "tsmicro") return dir;
    } catch {
      // no package.json here; keep climbing
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the tsmicro package above ${from}`);
  }
}
