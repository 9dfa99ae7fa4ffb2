import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
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
   * The folder of the protos that is this project's own (`order`): in a workspace, of the shared
   * protos; in a single project, of `proto/`, the rest being other projects' protos it calls.
   * Without it, every proto is the project's own.
   */
  readonly owns?: string;
  readonly out?: string;
  /** A folder of templates overriding the shipped ones, relative to the project: `--templates` when none is given. */
  readonly templates?: string;
}

/** Reads `dir/tsmicro.json`, or undefined when there is none. */
export async function readProjectConfig(dir: string): Promise<ProjectConfig | undefined> {
  const text = await readFile(join(dir, "tsmicro.json"), "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as ProjectConfig);
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

/** Which compiled proto files are a service's own: those under its folder of the shared protos, or all of them. */
export function ownedBy(own: string | undefined): (protoFile: string) => boolean {
  if (own === undefined) return () => true;
  const folder = `${own.split("/")[0]}/`;
  return (protoFile) => protoFile.startsWith(folder);
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

/** The registered name of each workspace service, by the folder of the shared protos it owns. */
export async function registeredNames(root: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const dir of await workspaceServices(root)) {
    const config = await readProjectConfig(dir);
    if (config?.owns && config.name) names.set(config.owns, config.name);
  }
  return names;
}
