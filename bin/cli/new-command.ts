import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { isSetupError, SetupError } from "@tsmicro/runtime/errors";
import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { nameForms } from "../../generator/scaffold/names.js";
import {
  composeServiceNames,
  planProject,
  planWorkspace,
  sampleProto,
  type ProjectType,
} from "../../generator/scaffold/plan-project.js";
import type { ScaffoldFile } from "../../generator/scaffold/plan-sources.js";
import {
  type ClientScaffold,
  clientScaffold,
  type ServiceScaffold,
  type SourceModel,
} from "../../generator/scaffold/source-model.js";
import type { TemplateSet } from "../../generator/templates.js";
import { displayPath } from "./buf-image.js";
import { CommandError } from "./command-error.js";
import { formatFiles } from "./format.js";
import { checkComposeNames, gatewayChanges, type GatewayChange, workspaceComposeFiles } from "./compose-services.js";
import { compileRequest } from "./generate-command.js";
import { generateFiles, warnOnStderr } from "./generate-files.js";
import { loadTemplates } from "./load-templates.js";
import { observabilityFiles } from "./observability-files.js";
import { onStopSignal } from "./on-stop-signal.js";
import { packageRoot, version } from "./package-paths.js";
import { planMigration } from "./project-migrations.js";
import { planProjectSources } from "./project-sources.js";
import { checkServedRoutes } from "./served-routes.js";
import { vendorPackages, type PackageSpecs } from "./vendor-packages.js";
import { generateWorkspace } from "./project-generate.js";
import {
  enclosingProject,
  enclosingWorkspace,
  findWorkspace,
  ownedBy,
  readProjectConfig,
  registeredNames,
  workspaceServices,
  workspaceSpecs,
} from "./workspace.js";

/** Flags of `create-tsmicro NAME` and `tsmicro new NAME`, as `micro new` has them. */
export interface NewCommandOptions {
  readonly name: string;
  /** Where to create it; default `./NAME`. */
  readonly dir: string | undefined;
  /** Registered as `<namespace>.<type>.<alias>` when given. */
  readonly namespace: string | undefined;
  readonly type: ProjectType;
  /** The service's short name; default NAME. */
  readonly alias: string | undefined;
  /** A proto to start from instead of the sample. */
  readonly proto: string | undefined;
  readonly db: "pglite" | "postgres";
  readonly templates: string | undefined;
  /** Run `npm install` (default). */
  readonly install: boolean;
}

/** What was created, for the closing lines. */
export interface NewCommandResult {
  readonly dir: string;
  readonly registeredName: string;
  readonly files: number;
  readonly installed: boolean;
  /** The workspace root the project was added to, if any. */
  readonly workspace?: string | undefined;
  /**
   * The workspace's API services, which existed before this service and so
   * have no client of it in their main.ts, as folders relative to the root;
   * with the clients of this one's services they may wire in.
   */
  readonly callers?: { readonly apis: readonly string[]; readonly clients: readonly ClientScaffold[] } | undefined;
  /**
   * The service's compose file (`services/user/compose.yml`), when the workspace's docker-compose.yml
   * does not list it yet, and whether that file has an `include:` list to add it to.
   */
  readonly compose?: { readonly file: string; readonly hasInclude: boolean } | undefined;
  /**
   * For an API or web service under a `--namespace`: the `tsmicro api` command that reaches it by its name
   * (`/edge/…` finds `shop.api.edge` with `--namespace=shop.api`), and in a workspace the gateways of
   * docker-compose.yml that do not reach it yet.
   */
  readonly gateway?:
    | {
        readonly command: string;
        readonly handler: "rpc" | "web";
        readonly changes: readonly GatewayChange[] | undefined;
      }
    | undefined;
}

/**
 * Creates a project: checks the name and the folder, compiles the sample
 * proto (or `--proto`) first so a bad proto leaves nothing behind, writes
 * every file into a staging folder and puts it in place whole, packs
 * tsmicro into `vendor/` when run from a source checkout, and installs.
 * Inside a workspace (a folder whose tsmicro.json says `"workspace": true`)
 * the project becomes `services/NAME`, its proto goes to the workspace's
 * shared `proto/`, and every service of the workspace is regenerated, so
 * each can import the others' clients. One `progress` line per step.
 */
export async function newCommand(
  options: NewCommandOptions,
  progress: (line: string) => void,
): Promise<NewCommandResult> {
  const project = nameForms(options.name, "project name");
  const alias = nameForms(options.alias ?? options.name, options.alias ? "--alias" : "project name");
  if (options.namespace !== undefined && !/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/.test(options.namespace))
    throw new SetupError(
      "TSM_ERR_PROJECT_NAME",
      "--namespace",
      JSON.stringify(options.namespace),
      "use dot-separated lower-case words, such as mu.micro.book",
    );
  const registeredName = options.namespace ? `${options.namespace}.${options.type}.${alias.kebab}` : alias.kebab;
  const workspace = options.dir === undefined ? await enclosingWorkspace(process.cwd()) : undefined;
  const dir = workspace ? join(workspace, "services", project.kebab) : resolve(options.dir ?? project.kebab);
  const shown = shownAs(options.dir, dir);
  if (!workspace) await refuseInsideProject(dir, shown, options.name);
  await checkTarget(dir, shown);
  // Its compose.yml joins the workspace's under include:, where a name defined twice stops docker compose up.
  const composeFiles = workspace ? await workspaceComposeFiles(workspace) : new Map();
  const named = options.alias
    ? { flag: "--alias", value: options.alias }
    : { flag: "project name", value: options.name };
  const composeNames = composeServiceNames(alias.kebab);
  checkComposeNames(composeFiles, [{ name: composeNames.service, role: "the service itself" }], named);

  const templates = await loadTemplates(options.templates);
  let served: readonly ServiceScaffold[] = [];
  let given: UserProto | undefined;
  const protoFile = await createWhole(dir, shown, workspace ?? dirname(dir), async (staging) => {
    let protoFile: ScaffoldFile | undefined;
    // A web service has no proto; services and API services start from one, compiled before anything is kept.
    if (options.type !== "web") {
      progress("compiling the proto");
      given = options.proto ? await userProto(options.proto) : undefined;
      protoFile = given?.file ?? sampleProto({ alias, type: options.type }, templates);
      // A proto written into the workspace's proto/ first, then given as --proto, is the service's in place.
      const inPlace =
        given !== undefined && workspace !== undefined && resolve(given.shownAs) === join(workspace, protoFile.path);
      const owner = inPlace ? await ownerOf(workspace!, protoFile.path) : undefined;
      if (workspace && existsSync(join(workspace, protoFile.path)) && (!inPlace || owner !== undefined))
        throw new SetupError(
          "TSM_ERR_PROJECT_DIR",
          protoFile.path,
          owner === undefined ? "exists in the workspace already" : `is the proto of ${owner} already`,
          inPlace
            ? "choose another proto"
            : `choose another name or --alias, or, to start from that proto, pass --proto ${protoFile.path}`,
        );
    }
    const request = protoFile ? await compileWith(protoFile, given, workspace, staging, options.templates) : undefined;
    // A workspace service owns the folder of proto/ its proto is in (see ownerOf).
    const owns = ownedBy(workspace && protoFile ? [protoFile.path.split("/")[1]!] : undefined);
    // Routes are checked as tsmicro generate checks them, by who serves which proto: in a workspace at its
    // root once the service is in place (below), alone against the project's own folder (ownFolder).
    const generated = request ? await generateFiles(request, { checkRoutes: false }) : [];
    // An API service in a workspace gets the clients of the workspace's other services, wired in main.ts.
    const calls = workspace && options.type === "api" ? await registeredNames(workspace) : () => undefined;
    const sources = request
      ? planProjectSources(request, templates, { files: [], code: new Map() }, version, owns, calls)
      : undefined;
    const model = sources?.model ?? { services: [], entities: [], clients: [], standIns: [] };
    const ownFolder =
      !workspace && request && sources ? soleFolder(protoFile!.path, request, templates, sources.model) : undefined;
    served = model.services;
    if (options.type === "service" && model.entities.length > 0)
      checkComposeNames(
        composeFiles,
        [
          { name: composeNames.database, role: "the job that creates its database" },
          { name: composeNames.migrate, role: "the job that runs its migrations" },
        ],
        named,
      );
    if (request && !workspace) {
      const folders = ownFolder === undefined ? undefined : [ownFolder];
      const server = { name: registeredName, owns: folders };
      checkServedRoutes(request, { servers: [server], mine: ownedBy(folders) }, warnOnStderr);
    }

    progress(`writing ${relative(process.cwd(), dir) || "."}`);
    const specs = workspace ? await workspaceSpecs(workspace) : await vendorPackages(staging, version);
    const migration = request && options.type === "service" ? planMigration(request, undefined, [], owns) : undefined;
    const projectFiles = planProject(
      {
        packageName: project.kebab,
        alias,
        registeredName,
        type: options.type,
        db: options.db,
        ...dependenciesOf(options.type, specs, model.entities.length > 0, workspace !== undefined),
        protoFiles: request?.fileToGenerate ?? [],
        source: model,
        version,
        vendored: specs.vendored,
        sample: !options.proto,
        templatesDir: options.templates && relative(dir, resolve(options.templates)),
        // A web service in a workspace has no proto of its own, but builds from the workspace root all the same.
        workspace: workspace ? { protoDir: "../../proto", owns: protoFile?.path.split("/")[1] ?? "" } : undefined,
        owns: ownFolder,
      },
      templates,
    );
    const planned = new Set(projectFiles.map((f) => f.path));
    const userFiles = [...projectFiles, ...(sources?.missing ?? []).filter((f) => !planned.has(f.path))];
    if (protoFile && !workspace) userFiles.push(protoFile, ...(given?.imported ?? []));
    // Prometheus and Grafana files for the gRPC services; in a workspace they sit once at its root.
    if (!workspace) userFiles.push(...(await observabilityFiles()));
    await writeFormatted(staging, userFiles);
    for (const file of [...generated, ...(sources?.generated ?? [])])
      await writeProjectFile(staging, { path: `src/gen/${file.name}`, content: file.content, why: "generated" });
    for (const file of migration?.files ?? []) await writeProjectFile(staging, file);
    await rm(join(staging, "proto-compile"), { recursive: true, force: true });
    return protoFile;
  });
  if (workspace && protoFile) {
    await writeProjectFile(workspace, protoFile);
    // The protos it imports join the shared folder, where one of that name is not there already.
    for (const file of given?.imported ?? [])
      if (!existsSync(join(workspace, file.path))) await writeProjectFile(workspace, file);
    progress("regenerating the workspace's services");
    await generateWorkspace(workspace, options.templates);
  }
  const files = (await readdir(dir, { recursive: true })).length;
  if (options.install) {
    progress("installing dependencies (npm install)");
    await installDependencies(workspace ?? dir);
  }
  const apis = workspace && served.length > 0 ? await apiServices(workspace, dir) : [];
  const clients = served.map((service) => clientScaffold(service, registeredName));
  const callers = apis.length > 0 ? { apis, clients } : undefined;
  const compose = workspace ? await composeInclude(workspace, dir) : undefined;
  const gateway = await namespacedGateway(options, registeredName.slice(0, -(alias.kebab.length + 1)), workspace);
  return { dir, registeredName, files, installed: options.install, workspace, callers, compose, gateway };
}

/**
 * How a gateway reaches an API or web service registered as NAMESPACE.TYPE.ALIAS: with `--namespace=NAMESPACE.TYPE`,
 * as each README says. A `--type service` service is left out: gateways front API and web services, as
 * `micro api --namespace=go.micro.api` did, and a gateway serves its `google.api.http` routes under any namespace.
 */
async function namespacedGateway(
  options: NewCommandOptions,
  namespace: string,
  workspace: string | undefined,
): Promise<NewCommandResult["gateway"]> {
  if (options.namespace === undefined || options.type === "service") return undefined;
  const handler = options.type === "web" ? "web" : "rpc";
  const command = `npx tsmicro api${handler === "web" ? " --handler web" : ""} --namespace=${namespace}`;
  const changes = workspace ? gatewayChanges(await workspaceComposeFiles(workspace), namespace, handler) : undefined;
  return { command, handler, changes };
}

/**
 * What the workspace's docker-compose.yml needs for the service in `dir` to run under docker compose up:
 * its compose.yml under `include:`. The root file is the user's, so tsmicro says what to add and never
 * edits it. Undefined when there is nothing to add: the file lists it already, or the workspace has no
 * docker-compose.yml (one made before tsmicro wrote it).
 */
async function composeInclude(root: string, dir: string): Promise<NewCommandResult["compose"]> {
  const text = await readFile(join(root, "docker-compose.yml"), "utf8").catch(() => undefined);
  const file = `${relative(root, dir).split(sep).join("/")}/compose.yml`;
  if (text === undefined) return undefined;
  // An item of a list (`- services/user/compose.yml`, `- path: …`), not a commented one: listed already.
  const listed = text
    .split("\n")
    .some((line) => /^\s*-\s*(?:path:\s*)?["']?(?:\.\/)?([^"'\s#]+)/.exec(line)?.[1] === file);
  if (listed) return undefined;
  return { file, hasInclude: /^include:/m.test(text) };
}

/**
 * The one folder of `proto/` (`user`) whose protos declare everything a new single project serves
 * and stores, written as its `owns`: then a proto of another project copied in later to call it
 * is a client, not a service to scaffold. Undefined when `owns` would change what it serves (a
 * service or entity in an imported proto of another folder, or a proto at the top of `proto/`).
 */
function soleFolder(
  protoPath: string,
  request: CodeGeneratorRequest,
  templates: TemplateSet,
  all: SourceModel,
): string | undefined {
  // proto/user/v1/user.proto: a proto at the top of proto/ is in no folder.
  const [, folder, ...rest] = protoPath.split("/");
  if (folder === undefined || rest.length === 0) return undefined;
  const { model } = planProjectSources(request, templates, { files: [], code: new Map() }, version, ownedBy([folder]));
  const same = (a: readonly { name: string }[], b: readonly { name: string }[]) =>
    a.map((x) => x.name).join() === b.map((x) => x.name).join();
  return same(model.services, all.services) && same(model.entities, all.entities) ? folder : undefined;
}

/** The workspace service (`services/payment`) one of whose own proto folders holds `protoPath`, if any. */
async function ownerOf(root: string, protoPath: string): Promise<string | undefined> {
  for (const service of await workspaceServices(root)) {
    const owns = (await readProjectConfig(service))?.owns;
    if (owns && ownedBy(owns)(protoPath.slice("proto/".length))) return relative(root, service);
  }
  return undefined;
}

/** The workspace's API services other than `dir`, as folders relative to the root. */
async function apiServices(root: string, dir: string): Promise<string[]> {
  const apis: string[] = [];
  for (const service of await workspaceServices(root)) {
    if (resolve(service) !== resolve(dir) && (await readProjectConfig(service))?.type === "api")
      apis.push(relative(root, service));
  }
  return apis;
}

/**
 * Refuses a project inside another project that is not a workspace (`tsmicro new order` run in `shop/`, as
 * `micro new` is run anywhere): it would be neither a service of shop nor apart from it (shop's image copies
 * it, node_modules and all), where a workspace is what keeps several services together.
 */
async function refuseInsideProject(dir: string, shown: string, name: string): Promise<void> {
  const around = enclosingProject(dirname(dir));
  if (around === undefined || (await findWorkspace(around))) return;
  const project = around === process.cwd() ? "this project" : `the project ${displayPath(around)}`;
  const outside = relative(process.cwd(), join(dirname(around), name));
  throw new CommandError(
    `${shown} would be inside ${project}, one service and not a workspace: ` +
      `choose a folder outside it (--dir ${outside}), or make a workspace (create-tsmicro NAME --workspace) ` +
      `and run tsmicro new ${name} in it to keep several services together`,
  );
}

/**
 * `create-tsmicro NAME --workspace`: the root of a system of services (npm
 * workspaces over `services/*`, the shared `proto/`, tsmicro and the tools
 * as dev dependencies of the root), created whole or not at all.
 */
export async function newWorkspace(
  options: Pick<NewCommandOptions, "name" | "dir" | "templates" | "install">,
  progress: (line: string) => void,
): Promise<NewCommandResult> {
  const project = nameForms(options.name, "workspace name");
  const dir = resolve(options.dir ?? project.kebab);
  const shown = shownAs(options.dir, dir);
  const around = await enclosingWorkspace(dirname(dir));
  if (around !== undefined)
    throw new CommandError(
      `${shown} would be inside the workspace ${displayPath(around)}, and a workspace holds services, ` +
        `not another workspace: run tsmicro new ${options.name} there (without --workspace) to add a service, or choose a folder outside it`,
    );
  await checkTarget(dir, shown);
  const templates = await loadTemplates(options.templates);
  await createWhole(dir, shown, dirname(dir), async (staging) => {
    progress(`writing ${relative(process.cwd(), dir) || "."}`);
    const specs = await vendorPackages(staging, version);
    const { devDependencies } = dependenciesOf("api", specs, false, false);
    const overrides = specs.vendored
      ? { "@tsmicro/runtime": specs.runtime, "@tsmicro/gateway": specs.gateway }
      : undefined;
    const input = { packageName: project.kebab, devDependencies, overrides, version, vendored: specs.vendored };
    for (const file of planWorkspace(input, templates)) await writeProjectFile(staging, file);
    for (const file of await observabilityFiles()) await writeProjectFile(staging, file);
  });
  if (options.install) {
    progress("installing dependencies (npm install)");
    await installDependencies(dir);
  }
  return {
    dir,
    registeredName: project.kebab,
    files: (await readdir(dir, { recursive: true })).length,
    installed: options.install,
  };
}

/**
 * Creates `dir` whole or not at all: `fill` writes into a staging folder
 * beside it (in `parent`), which is put in place only when `fill` succeeded,
 * and removed otherwise. A missing `dir` is the staging folder renamed; an
 * empty one stays, and the staging folder's entries move into it.
 */
async function createWhole<T>(
  dir: string,
  shown: string,
  parent: string,
  fill: (staging: string) => Promise<T>,
): Promise<T> {
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${basename(dir)}.tsmicro-`));
  // Ctrl-C or SIGTERM while it is written removes the staging folder too, before the process ends.
  return onStopSignal(
    () => rmSync(staging, { recursive: true, force: true }),
    async () => {
      try {
        const result = await fill(staging);
        // Checked again: the folder may have gained files, or appeared, while the project was written.
        if (await checkTarget(dir, shown)) await moveEntries(staging, dir);
        else {
          await mkdir(dirname(dir), { recursive: true });
          await rename(staging, dir);
          await chmod(dir, 0o755); // mkdtemp made it private
        }
        return result;
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },
  );
}

/**
 * Moves every entry of `from` into the empty folder `dir`, which itself
 * stays: a shell or editor may have it open (`--dir .` is the cwd), and
 * replacing it would leave them in a deleted folder. When one move fails,
 * the entries moved so far are removed, so `dir` is empty again.
 */
async function moveEntries(from: string, dir: string): Promise<void> {
  const moved: string[] = [];
  try {
    for (const name of await readdir(from)) {
      await rename(join(from, name), join(dir, name));
      moved.push(name);
    }
  } catch (error) {
    for (const name of moved) await rm(join(dir, name), { recursive: true, force: true });
    throw error;
  }
}

/**
 * Compiles the new proto, with the protos `--proto` brought along (`given`): alone, or with the
 * workspace's shared protos it may import and be imported by.
 */
async function compileWith(
  protoFile: ScaffoldFile,
  given: UserProto | undefined,
  workspace: string | undefined,
  staging: string,
  templates: string | undefined,
): Promise<CodeGeneratorRequest> {
  const root = join(staging, "proto-compile");
  if (workspace) await cp(join(workspace, "proto"), join(root, "proto"), { recursive: true });
  for (const file of given?.imported ?? []) if (!existsSync(join(root, file.path))) await writeProjectFile(root, file);
  await writeProjectFile(root, protoFile);
  try {
    return await compileRequest(join(root, "proto"), [], templates);
  } catch (error) {
    // Name the proto as the user knows it, and the folder its imports were looked for in, not the staging folder.
    if (isSetupError(error)) {
      const compiled = relative(process.cwd(), join(root, "proto"));
      const shownRoot = given && !workspace ? relative(process.cwd(), given.root) || "." : "proto";
      error.message = error.message
        .split(`${compiled}/${protoFile.path.slice("proto/".length)}`)
        .join(given?.shownAs ?? protoFile.path)
        .split(compiled)
        .join(shownRoot);
    }
    throw error;
  }
}

async function writeFormatted(root: string, files: readonly ScaffoldFile[]): Promise<void> {
  const formatted = await formatFiles(
    files.filter((f) => f.path.endsWith(".ts")).map((f) => ({ name: f.path, content: f.content })),
  );
  const byPath = new Map(formatted.map((f) => [f.name, f.content]));
  for (const file of files) await writeProjectFile(root, { ...file, content: byPath.get(file.path) ?? file.content });
}

/**
 * The target must not exist, or be an empty folder: nothing of the user's is
 * ever overwritten. True when it is an empty folder.
 */
async function checkTarget(dir: string, shown: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return false;
  if (!info.isDirectory())
    throw new SetupError("TSM_ERR_PROJECT_DIR", shown, "exists and is not a folder", "choose another name or --dir");
  if ((await readdir(dir)).length > 0)
    throw new SetupError(
      "TSM_ERR_PROJECT_DIR",
      shown,
      "is not empty",
      "choose another name or --dir, or empty it first",
    );
  return true;
}

/** A target folder as messages name it: as the user wrote it (`--dir`), else relative to the cwd. */
function shownAs(written: string | undefined, dir: string): string {
  return written ?? (relative(process.cwd(), dir) || ".");
}

/** `--proto FILE`, read: the file, the protos of the user's it imports, and the folder they were found in. */
interface UserProto {
  /** The proto, at `proto/<its package path>/<file>` so imports between protos keep working. */
  readonly file: ScaffoldFile;
  /** The protos it imports, directly or not, found under `root`, at `proto/<import path>`. */
  readonly imported: readonly ScaffoldFile[];
  /** Where imports are looked for: the folder its package path starts in (`pp/proto` for `pp/proto/acme/shop/v1/shop.proto` of `acme.shop.v1`), else its own. */
  readonly root: string;
  /** The path as given. */
  readonly shownAs: string;
}

/** Reads `--proto FILE` and the protos it imports from beside it (see UserProto); shipped ones are left to the compiler. */
async function userProto(path: string): Promise<UserProto> {
  const content = await readProto(path);
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(content)?.[1];
  const folder = pkg ? pkg.split(".").join("/") : "";
  const dir = dirname(resolve(path));
  const root =
    folder !== "" && dir.endsWith(`${sep}${folder.split("/").join(sep)}`) ? dir.slice(0, -folder.length - 1) : dir;
  const imported = new Map<string, ScaffoldFile>();
  const own = join(folder, basename(path));
  const pending = importsOf(content);
  for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
    if (name === own || imported.has(name) || !existsSync(join(root, name))) continue;
    const text = await readProto(join(root, name));
    imported.set(name, { path: join("proto", name), content: text, why: `imported by ${path}` });
    pending.push(...importsOf(text));
  }
  return {
    file: { path: join("proto", own), content, why: "--proto" },
    imported: [...imported.values()],
    root,
    shownAs: path,
  };
}

async function readProto(path: string): Promise<string> {
  return readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new SetupError(
      "TSM_ERR_PROJECT_DIR",
      `--proto ${path}`,
      error.code === "ENOENT" ? "does not exist" : `cannot be read (${error.code})`,
      "give the path of a .proto file",
    );
  });
}

/** The files a proto imports, as written (`acme/common/v1/common.proto`). */
function importsOf(content: string): string[] {
  return [...content.matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)].map((m) => m[1]!);
}

async function writeProjectFile(root: string, file: ScaffoldFile): Promise<void> {
  const target = join(root, file.path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, file.content);
}

/** The project's dependencies, at the versions tsmicro itself is built and tested with. */
function dependenciesOf(type: ProjectType, specs: PackageSpecs, database: boolean, inWorkspace: boolean) {
  const own = readJson(join(packageRoot, "package.json"));
  const runtime = readJson(runtimePackageJson());
  const pick = (name: string, ...sources: Record<string, string>[]) => {
    for (const source of sources) if (source[name]) return source[name];
    throw new Error(`tsmicro's package.json files name no version of ${name}`);
  };
  const versions = [
    runtime.dependencies ?? {},
    runtime.devDependencies ?? {},
    runtime.peerDependencies ?? {},
    own.dependencies ?? {},
    own.devDependencies ?? {},
  ];
  const dependencies: Record<string, string> = { "@tsmicro/runtime": specs.runtime };
  // Generated message code imports the protobuf wire library.
  if (type !== "web") dependencies["@bufbuild/protobuf"] = pick("@bufbuild/protobuf", ...versions);
  // A web service is a fastify app: createWebService lives in the gateway package.
  else dependencies["@tsmicro/gateway"] = specs.gateway;
  const devDependencies: Record<string, string> = {
    "@types/node": pick("@types/node", ...versions),
    // `npm run dev` prints logs as text through it (--log_format=pretty); production stays JSON.
    "pino-pretty": pick("pino-pretty", ...versions),
    tsmicro: specs.tsmicro,
    tsx: pick("tsx", ...versions),
    typescript: pick("typescript", ...versions),
    vitest: pick("vitest", ...versions),
  };
  if (database) {
    for (const name of ["@electric-sql/pglite", "kysely", "pg"]) dependencies[name] = pick(name, ...versions);
    devDependencies["@types/pg"] = pick("@types/pg", ...versions);
  }
  if (inWorkspace) {
    // The workspace root holds the tools, hoisted for every service, and the only overrides npm reads.
    for (const name of ["tsmicro", "tsx", "typescript", "vitest", "@types/node", "pino-pretty"])
      delete devDependencies[name];
    return { dependencies: sorted(dependencies), devDependencies: sorted(devDependencies), overrides: undefined };
  }
  return {
    dependencies: sorted(dependencies),
    devDependencies: sorted(devDependencies),
    // The tsmicro tarball depends on both by version, which no registry has: point them at vendor/.
    overrides: specs.vendored
      ? { "@tsmicro/runtime": "$@tsmicro/runtime", "@tsmicro/gateway": specs.gateway }
      : undefined,
  };
}

function runtimePackageJson(): string {
  const checkout = join(packageRoot, "runtime", "package.json");
  try {
    readFileSync(checkout);
    return checkout;
  } catch {
    return createRequire(import.meta.url).resolve("@tsmicro/runtime/package.json");
  }
}

function readJson(path: string): {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
} {
  return JSON.parse(readFileSync(path, "utf8")) as ReturnType<typeof readJson>;
}

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

/** Runs a setup step in the project; a failure names the step, the folder and npm's last lines. */
/**
 * `npm install` in `dir`, the project being in place already: Ctrl-C or SIGTERM meanwhile stops
 * npm and says, in one line, that the project is there and the install is what is left to run.
 */
function installDependencies(dir: string): Promise<void> {
  const stop = new AbortController();
  return onStopSignal(
    () => {
      stop.abort();
      process.stderr.write(
        `interrupted during npm install: the project is in place in ${displayPath(dir)}; run npm install there\n`,
      );
    },
    () => runStep("npm", ["install", "--no-audit", "--no-fund"], dir, stop.signal),
  );
}

function runStep(command: string, args: string[], cwd: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024, signal }, (error, _stdout, stderr) => {
      if (!error) return resolvePromise();
      const code = typeof error.code === "number" ? error.code : 1;
      const tail = stderr.trim().split("\n").slice(-5).join("\n");
      reject(
        new SetupError(
          "TSM_ERR_PROJECT_STEP",
          `${command} ${args.join(" ")}`,
          cwd,
          code,
          tail || "see its output above",
        ),
      );
    });
  });
}
