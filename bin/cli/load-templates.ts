import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { closestName, SetupError } from "@tsmicro/runtime/errors";
import type { TemplateSet } from "../../generator/templates.js";
import { shippedTemplatesDir } from "./package-paths.js";

/**
 * Reads the shipped templates and lays a user's directory over them, file by file. A file there
 * that overrides nothing and that no template includes is never used: `warn` says so, naming the
 * template meant when one is close (a misnamed override does nothing otherwise).
 */
export async function loadTemplates(overrideDir?: string, warn?: (message: string) => void): Promise<TemplateSet> {
  const templates: Record<string, string> = await readTemplateDir(shippedTemplatesDir);
  if (!overrideDir) return templates;
  const overrides = await readOverrides(overrideDir);
  const shipped = Object.keys(templates);
  Object.assign(templates, overrides);
  const included = new Set(
    Object.values(templates).flatMap((text) => [...text.matchAll(/include\(\s*["']([^"']+)["']/g)].map((m) => m[1]!)),
  );
  for (const name of Object.keys(overrides)) {
    if (shipped.includes(name) || [...included].some((partial) => name.replace(/\.ejs$/, "").endsWith(partial)))
      continue;
    const meant = closestName(name, shipped);
    warn?.(
      `${join(overrideDir, name)} overrides no template tsmicro ships, and none includes it, so it is not used` +
        (meant ? `: did you mean ${meant}?` : ""),
    );
  }
  return templates;
}

/** The user's templates folder; a SetupError naming it when it is missing or a file. */
async function readOverrides(dir: string): Promise<Record<string, string>> {
  try {
    return await readTemplateDir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
    const what = code === "ENOENT" ? "does not exist" : "is a file, not a folder";
    throw new SetupError(
      "TSM_ERR_FLAG",
      "--templates",
      JSON.stringify(dir),
      `the folder ${resolve(dir)} ${what}; tsmicro template init DIR starts one from the shipped templates`,
    );
  }
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
