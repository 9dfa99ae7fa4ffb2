import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SetupError } from "@tsmicro/runtime/errors";
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

/** `tsmicro template revert DIR NAME`: puts the shipped text of one template back in DIR. */
export async function templateRevert(dir: string, name: string): Promise<void> {
  const shipped = await loadTemplates();
  const text = shipped[name];
  if (text === undefined) {
    throw new SetupError(
      "TSM_ERR_TEMPLATE",
      name,
      `tsmicro ships no such template; these exist: ${Object.keys(shipped).sort().join(", ")}`,
    );
  }
  const target = join(dir, name);
  const current = await readFile(target, "utf8").catch(() => undefined);
  if (current === text) return;
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text);
}
