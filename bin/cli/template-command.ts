import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { closestName, SetupError } from "@tsmicro/runtime/errors";
import { loadTemplates } from "./load-templates.js";

/**
 * `tsmicro template init DIR`: writes every shipped template into DIR, to
 * edit and pass as `--templates DIR`; files already there are kept (and
 * listed), so running it again only adds templates a newer tsmicro ships.
 */
export async function templateInit(dir: string): Promise<{ written: string[]; kept: string[] }> {
  const shipped = await loadTemplates();
  const written: string[] = [];
  const kept: string[] = [];
  for (const [name, text] of Object.entries(shipped).sort(([a], [b]) => a.localeCompare(b))) {
    const target = join(dir, name);
    await mkdir(dirname(target), { recursive: true });
    try {
      await writeFile(target, text, { flag: "wx" });
      written.push(name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      kept.push(name);
    }
  }
  return { written, kept };
}

/** `tsmicro template revert DIR NAME`: puts the shipped text of one template back in DIR; NAME's `.ejs` may be left out. */
export async function templateRevert(dir: string, given: string): Promise<void> {
  const shipped = await loadTemplates();
  const name = shipped[given] === undefined && shipped[`${given}.ejs`] !== undefined ? `${given}.ejs` : given;
  const text = shipped[name];
  if (text === undefined) throw noSuchTemplate(given, Object.keys(shipped));
  const target = join(dir, name);
  const current = await readFile(target, "utf8").catch(() => undefined);
  if (current === text) return;
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text);
}

/**
 * The error for a template name tsmicro does not ship: the one meant, when one is close (by its
 * file name too, so `micro.ejs` finds `micro.ts.ejs`), else those in the same folder.
 */
function noSuchTemplate(name: string, names: readonly string[]): SetupError {
  const slash = name.lastIndexOf("/");
  const folder = name.slice(0, slash + 1);
  const meant =
    closestName(name, names) ??
    names.find(
      (n) => n.startsWith(folder) && n.slice(folder.length).split(".")[0] === name.slice(slash + 1).split(".")[0],
    );
  const beside = names.filter((n) => folder !== "" && n.startsWith(folder) && !n.slice(folder.length).includes("/"));
  const hint = meant
    ? `did you mean ${meant}?`
    : beside.length > 0
      ? `${folder} holds ${beside.sort().join(", ")}`
      : "tsmicro template init DIR writes every shipped template, under the names this takes";
  return new SetupError("TSM_ERR_TEMPLATE", name, `tsmicro ships no such template; ${hint}`);
}
