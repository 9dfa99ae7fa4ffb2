import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { SetupError } from "@tsmicro/runtime/errors";
import { parse as parseYaml } from "yaml";

/** What tsmicro reads of a compose service: its command, when it is a list or a string. */
interface ComposeService {
  readonly command?: unknown;
}

/**
 * The compose files of a workspace, parsed: the root's docker-compose.yml and every
 * services/NAME/compose.yml, listed under include: or not yet (once listed, the names clash all
 * the same). A file that is missing, or that YAML cannot read, is left out: docker compose up
 * names the second itself.
 */
export async function workspaceComposeFiles(root: string): Promise<Map<string, Record<string, ComposeService>>> {
  const folders = await readdir(join(root, "services")).catch(() => [] as string[]);
  const files = ["docker-compose.yml", ...folders.sort().map((folder) => `services/${folder}/compose.yml`)];
  const parsed = new Map<string, Record<string, ComposeService>>();
  for (const file of files) {
    const text = await readFile(join(root, file), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    let services: unknown;
    try {
      services = (parseYaml(text) as { services?: unknown } | null)?.services;
    } catch {
      continue;
    }
    if (services !== null && typeof services === "object") parsed.set(file, services as Record<string, ComposeService>);
  }
  return parsed;
}

/**
 * Refuses a new service whose compose.yml would define a compose service the workspace's files
 * define already (`etcd`, `gateway`, another service's `user-migrate`): docker compose up at the
 * root would stop on the conflict. `names` are the new service's, each with what it is for.
 */
export function checkComposeNames(
  files: ReadonlyMap<string, Record<string, ComposeService>>,
  names: readonly { readonly name: string; readonly role: string }[],
  given: { readonly flag: string; readonly value: string },
): void {
  for (const { name, role } of names)
    for (const [file, services] of files)
      if (Object.hasOwn(services, name))
        throw new SetupError(
          "TSM_ERR_PROJECT_NAME",
          given.flag,
          JSON.stringify(given.value),
          `its compose.yml would define the compose service ${name} (${role}), which ${file} defines already, ` +
            `and docker compose up at the workspace root stops on two services of one name; ` +
            `choose another name${given.flag === "--alias" ? "" : ", or keep it and give --alias another"}`,
        );
}
