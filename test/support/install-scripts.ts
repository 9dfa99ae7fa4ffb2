import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** The lifecycle scripts npm runs for a dependency at install: what `allowScripts` in package.json decides. */
const installScripts = ["preinstall", "install", "postinstall"] as const;

/**
 * The names of the installed packages under `root`'s node_modules (nested ones too) that have an
 * install script, as npm's install-scripts advisory lists them: a `binding.gyp` counts, since npm
 * then runs node-gyp.
 */
export async function packagesWithInstallScripts(root: string): Promise<string[]> {
  const found = new Set<string>();
  await collect(join(root, "node_modules"), found);
  return [...found].sort();
}

async function collect(modules: string, found: Set<string>): Promise<void> {
  if (!existsSync(modules)) return;
  for (const entry of await readdir(modules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const path = join(modules, entry.name);
    if (entry.name.startsWith("@")) {
      await collect(path, found);
      continue;
    }
    await inspect(path, found);
  }
}

async function inspect(dir: string, found: Set<string>): Promise<void> {
  const manifest = join(dir, "package.json");
  if (!existsSync(manifest)) return;
  const pkg = JSON.parse(await readFile(manifest, "utf8")) as { name?: string; scripts?: Record<string, string> };
  const scripts = pkg.scripts ?? {};
  if (pkg.name && (installScripts.some((name) => scripts[name]) || existsSync(join(dir, "binding.gyp"))))
    found.add(pkg.name);
  await collect(join(dir, "node_modules"), found);
}

/** The packages a project's package.json names in `allowScripts`, allowed or denied. */
export async function allowScriptsOf(root: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    allowScripts?: Record<string, boolean>;
  };
  return Object.keys(pkg.allowScripts ?? {}).sort();
}
