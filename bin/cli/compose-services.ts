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

/** A gateway of the workspace's docker-compose.yml and what its command needs for a service's namespace. */
export interface GatewayChange {
  /** The compose service (`gateway`, `web-gateway`). */
  readonly service: string;
  /** Its command with `--namespace=NAMESPACE` added, as YAML writes it; undefined when it serves another namespace. */
  readonly command: string | undefined;
  /** The namespace it serves already, when another. */
  readonly serves: string | undefined;
}

/**
 * The gateways (`tsmicro api` with `handler`) of the root's docker-compose.yml that do not reach a service
 * registered under `namespace` by its name: one without `--namespace` looks `/site/` up as `site`, not
 * `NAMESPACE.site`, and one gateway serves one namespace.
 */
export function gatewayChanges(
  files: ReadonlyMap<string, Record<string, ComposeService>>,
  namespace: string,
  handler: "rpc" | "web",
): GatewayChange[] {
  const changes: GatewayChange[] = [];
  for (const [service, { command }] of Object.entries(files.get("docker-compose.yml") ?? {})) {
    const words = Array.isArray(command)
      ? command.map(String)
      : typeof command === "string"
        ? command.split(/\s+/)
        : [];
    if (gatewayHandler(words) !== handler) continue;
    const flag = words.findIndex((word) => /^--(api_)?namespace(=|$)/.test(word));
    const serves = flag < 0 ? undefined : words[flag]!.includes("=") ? words[flag]!.split("=")[1] : words[flag + 1];
    if (serves === namespace) continue;
    const added = `--namespace=${namespace}`;
    const written = Array.isArray(command)
      ? `[${[...words, added].map((word) => JSON.stringify(word)).join(", ")}]`
      : `${String(command)} ${added}`;
    changes.push({ service, command: serves === undefined ? written : undefined, serves });
  }
  return changes;
}

/** The handler a compose command's `tsmicro api` runs (`rpc` unless `--handler` says), or undefined for another command. */
function gatewayHandler(words: readonly string[]): string | undefined {
  const tsmicro = words.findIndex((word) => /(^|\/)tsmicro(\.js)?$/.test(word));
  if (tsmicro < 0 || words[tsmicro + 1] !== "api") return undefined;
  const flag = words.findIndex((word) => /^--handler(=|$)/.test(word));
  if (flag < 0) return "rpc";
  return words[flag]!.includes("=") ? words[flag]!.split("=")[1] : words[flag + 1];
}
