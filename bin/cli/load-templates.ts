import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SetupError } from "@tsmicro/runtime/errors";
import type { TemplateSet } from "../../generator/templates.js";
import { shippedTemplatesDir } from "./package-paths.js";

/** Reads the shipped templates and lays a user's directory over them, file by file. */
export async function loadTemplates(overrideDir?: string): Promise<TemplateSet> {
  const templates: Record<string, string> = await readTemplateDir(shippedTemplatesDir);
  if (overrideDir) Object.assign(templates, await readOverrides(overrideDir));
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
