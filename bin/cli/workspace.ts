import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { closestName } from "@tsmicro/runtime/errors";
import { displayPath } from "./buf-image.js";
import { CommandError } from "./command-error.js";
import type { PackageSpecs } from "./vendor-packages.js";

/** A project's tsmicro.json: what `tsmicro generate` reads there. */
export interface ProjectConfig {
  /** A workspace root: its services are in `services/*`, its protos in the shared `proto/`. */
  readonly workspace?: boolean;
  readonly type?: "service" | "api" | "web";
  readonly name?: string;
  /** The proto folder, relative to the project. */
  readonly proto?: string;
  /**
   * The folders of the protos that are this project's own (`order`), relative to the proto folder:
   * in a workspace, of the shared protos; in a single project, of `proto/`, the rest being other
   * projects' protos it calls. tsmicro.json gives one folder as a string or several as a list.
   * Without it, every proto is the project's own.
   */
  readonly owns?: readonly string[];
  readonly out?: string;
  /** A folder of templates overriding the shipped ones, relative to the project: `--templates` when none is given. */
  readonly templates?: string;
}

/** Reads `dir/tsmicro.json`, or undefined when there is none; its `owns` as a list, checked. */
export async function readProjectConfig(dir: string): Promise<ProjectConfig | undefined> {
  const file = join(dir, "tsmicro.json");
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const config = parseProjectConfig(text, file);
  if (config.owns === undefined) return config as ProjectConfig;
  return { ...config, owns: ownedFolders(config.owns, file) };
}

/** tsmicro.json's object, or a CommandError naming the file and what is wrong with it. */
function parseProjectConfig(text: string, file: string): Omit<ProjectConfig, "owns"> & { readonly owns?: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CommandError(
      `${displayPath(file)} is not valid JSON (${error instanceof Error ? error.message : String(error)}); ` +
        "mend it: it holds the project's settings, such as its proto folder",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new CommandError(
      `${displayPath(file)} holds ${Array.isArray(value) ? "a list" : JSON.stringify(value)}, not an object of the project's settings; ` +
        'write an object, such as {"type": "service"}',
    );
  checkProjectKeys(value as Record<string, unknown>, file);
  return value as Omit<ProjectConfig, "owns"> & { readonly owns?: unknown };
}

/** The keys of tsmicro.json that tsmicro reads, and the types a project can be. */
const projectKeys = ["workspace", "type", "name", "proto", "owns", "out", "templates"];
const projectTypes: readonly unknown[] = ["service", "api", "web"];

/**
 * A CommandError for a key tsmicro does not read, or a `type` it does not know: a mistyped key
 * (`"own"`) or type (`"srv"`) would otherwise be ignored without a word, and the project
 * generated as if it were not there (every proto its own; no migrations).
 */
function checkProjectKeys(config: Record<string, unknown>, file: string): void {
  // `$schema` (an editor's JSON schema) and other `$` keys are the editor's, not settings.
  const unknown = Object.keys(config).find((key) => !projectKeys.includes(key) && !key.startsWith("$"));
  if (unknown !== undefined) {
    const meant = closestName(unknown, projectKeys);
    throw new CommandError(
      `${displayPath(file)}: unknown key ${JSON.stringify(unknown)}: ` +
        (meant ? `did you mean ${JSON.stringify(meant)}?` : "correct or remove it") +
        ` (tsmicro reads ${projectKeys.map((key) => JSON.stringify(key)).join(", ")})`,
    );
  }
  const { type } = config;
  if (type !== undefined && !projectTypes.includes(type))
    throw new CommandError(
      `${displayPath(file)}: "type" is ${JSON.stringify(type)}; write "service", "api" or "web" ` +
        "(the --type the project was made with)",
    );
}

/**
 * tsmicro.json's `owns` (a folder, or a list of them) as a list of folders without a trailing `/`;
 * anything else is refused, naming the file, what is wrong and what to write instead.
 */
function ownedFolders(owns: unknown, file: string): string[] {
  const listed = typeof owns === "string" ? [owns] : Array.isArray(owns) ? (owns as unknown[]) : undefined;
  const problem =
    listed === undefined
      ? `is ${JSON.stringify(owns)}, neither a folder nor a list of them`
      : listed.length === 0
        ? "is an empty list, which owns no proto"
        : listed.map(folderProblem).find((p) => p !== undefined);
  if (problem !== undefined)
    throw new CommandError(
      `${displayPath(file)}: "owns" ${problem}; write the folder of the proto folder whose protos are this ` +
        `project's own ("owns": "order"), or a list of them ("owns": ["order", "billing"]), or leave "owns" out to own every proto`,
    );
  return (listed as string[]).map((folder) => folder.replace(/\/+$/, ""));
}

/** What is wrong with an entry of `owns`: a folder below the proto folder (`order`, `order/v1/`) is fine. */
function folderProblem(folder: unknown): string | undefined {
  if (typeof folder !== "string") return `holds ${JSON.stringify(folder)}, which is not a folder`;
  const parts = folder.replace(/\/+$/, "").split("/");
  return folder.includes("\\") || parts.some((part) => part === "" || part === "." || part === "..")
    ? `holds ${JSON.stringify(folder)}, which is not a folder inside the proto folder`
    : undefined;
}

/** `dir` when it is a workspace root (its tsmicro.json says `"workspace": true`). */
export async function findWorkspace(dir: string): Promise<string | undefined> {
  return (await readProjectConfig(dir))?.workspace ? dir : undefined;
}

/** The workspace root `dir` is in (or is), such as the one above a service's folder; undefined outside any. */
export async function enclosingWorkspace(dir: string): Promise<string | undefined> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (await findWorkspace(at)) return at;
    if (dirname(at) === at) return undefined;
  }
}

/** The nearest folder, `dir` or one above it, with a tsmicro.json: the project `dir` is in; undefined outside any. */
export function enclosingProject(dir: string): string | undefined {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (existsSync(join(at, "tsmicro.json"))) return at;
    if (dirname(at) === at) return undefined;
  }
}

/**
 * The services of a workspace: `services/*` folders with a tsmicro.json (those
 * with protos), or with `file` instead (package.json: web services too).
 */
export async function workspaceServices(root: string, file = "tsmicro.json"): Promise<string[]> {
  const entries = await readdir(join(root, "services"), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && existsSync(join(root, "services", e.name, file)))
    .map((e) => join(root, "services", e.name))
    .sort();
}

/** Which compiled proto files are a project's own: those under its folders (`owns`) of the protos, or all of them. */
export function ownedBy(owns: readonly string[] | undefined): (protoFile: string) => boolean {
  if (owns === undefined) return () => true;
  const folders = owns.map((folder) => `${folder}/`);
  return (protoFile) => folders.some((folder) => protoFile.startsWith(folder));
}

/**
 * A CommandError when a folder tsmicro.json's `owns` names holds none of `protoFiles` (relative to
 * `protoDir`): a mistyped folder (`"shops"` for `"shop"`) would otherwise make every proto another
 * project's, and `tsmicro generate` would remove the entity files and list every handler as orphaned.
 */
export function checkOwnedFolders(
  owns: readonly string[] | undefined,
  protoFiles: readonly string[],
  root: string,
  protoDir: string,
): void {
  const empty = owns?.find((folder) => !protoFiles.some(ownedBy([folder])));
  if (empty === undefined) return;
  const folders = [...new Set(protoFiles.filter((f) => f.includes("/")).map((f) => f.slice(0, f.indexOf("/"))))];
  const shown = displayPath(protoDir);
  // Without "owns" every proto is the project's own, so its only folder is no entry to drop.
  const fix =
    (owns?.length ?? 0) > 1
      ? 'correct the name, or take it out of "owns" if its protos are gone'
      : "correct the name, or move the project's protos back there";
  throw new CommandError(
    `${displayPath(join(root, "tsmicro.json"))}: "owns" names ${JSON.stringify(empty)}, but ${shown}/${empty}/ holds no .proto file ` +
      `(${shown}/ has them in: ${folders.map((f) => `${f}/`).join(", ") || "none"}); ${fix}`,
  );
}

/**
 * How a new service of a workspace depends on tsmicro's packages: the same
 * tarballs in the workspace's `vendor/` (seen from `services/NAME`), or the
 * released version the workspace uses.
 */
export async function workspaceSpecs(root: string): Promise<PackageSpecs> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    devDependencies?: Record<string, string>;
  };
  const tsmicro = pkg.devDependencies?.tsmicro ?? "";
  if (!tsmicro.startsWith("file:vendor/")) return { tsmicro, runtime: tsmicro, gateway: tsmicro, vendored: false };
  const vendored = await readdir(join(root, "vendor"));
  const runtime = vendored.find((f) => f.startsWith("tsmicro-runtime-"));
  const gateway = vendored.find((f) => f.startsWith("tsmicro-gateway-"));
  return {
    tsmicro: `file:../../${tsmicro.slice("file:".length)}`,
    runtime: `file:../../vendor/${runtime}`,
    gateway: `file:../../vendor/${gateway}`,
    vendored: true,
  };
}

/** The registered name of the workspace service that owns a file of the shared protos, if one does. */
export async function registeredNames(root: string): Promise<(protoFile: string) => string | undefined> {
  const owners: { readonly owns: (protoFile: string) => boolean; readonly name: string }[] = [];
  for (const dir of await workspaceServices(root)) {
    const config = await readProjectConfig(dir);
    if (config?.owns && config.name) owners.push({ owns: ownedBy(config.owns), name: config.name });
  }
  return (protoFile) => owners.find((owner) => owner.owns(protoFile))?.name;
}
