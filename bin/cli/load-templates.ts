import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TemplateSet } from "../../generator/templates.js";
import { shippedTemplatesDir } from "./package-paths.js";

/** Reads the shipped templates and lays a user's directory over them, file by file. */
export async function loadTemplates(overrideDir?: string): Promise<TemplateSet> {
  const templates: Record<string, string> = await readTemplateDir(shippedTemplatesDir);
  if (overrideDir) Object.assign(templates, await readTemplateDir(overrideDir));
  return templates;
}

async function readTemplateDir(dir: string): Promise<Record<string, string>> {
  const set: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ejs")) continue;
    const path = join(entry.parentPath, entry.name);
    set[
      path
        .slice(dir.length + 1)
        .split("\\")
        .join("/")
    ] = await readFile(path, "utf8");
  }
  return set;
}
