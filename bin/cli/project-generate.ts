import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, posix, relative, resolve } from "node:path";
import type { CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { isSetupError } from "@tsmicro/runtime/errors";
import type { Orphan, ScaffoldFile } from "../../generator/scaffold/plan-sources.js";
import type { EntityScaffold, ServiceScaffold } from "../../generator/scaffold/source-model.js";
import { withoutComments } from "../../generator/scaffold/without-comments.js";
import { CommandError } from "./command-error.js";
import { formatFiles } from "./format.js";
import { protoPathIn } from "./buf-image.js";
import { compileRequest } from "./generate-command.js";
import { generateFiles, warnOnStderr } from "./generate-files.js";
import { loadTemplates } from "./load-templates.js";
import { movedImports } from "./moved-imports.js";
import { version } from "./package-paths.js";
import { planMigration, schemaFile } from "./project-migrations.js";
import { planProjectSources } from "./project-sources.js";
import { generatedServices, type RenamedService, renamedLine, renamedServices } from "./renamed-services.js";
import { changedFields, describedMessages } from "./changed-fields.js";
import { checkServedRoutes, servedWith } from "./served-routes.js";
import { checkOwnedFolders, enclosingWorkspace, ownedBy, readProjectConfig, workspaceServices } from "./workspace.js";
import { writeGeneratedFiles, type WriteResult } from "./write-files.js";

/** The file that makes a folder a tsmicro project: `tsmicro generate` there also scaffolds. */
export const projectFile = "tsmicro.json";

/** What `tsmicro generate` did in a project, for its report. */
export interface ProjectGenerateResult {
  readonly generated: WriteResult;
  /** The files of `generated.removed`, each with why it is no longer generated. */
  readonly removed: readonly { readonly path: string; readonly why: string }[];
  /** The folder generated into, relative to the project: `--out`, else tsmicro.json's, else src/gen. */
  readonly out: string;
  /** User files created because the protos now call for them. */
  readonly created: readonly ScaffoldFile[];
  /** User files whose rpc, service or entity is gone. */
  readonly orphans: readonly { readonly path: string; readonly why: string }[];
  /**
   * Of `orphans`, the gone rpcs' files the handler object still imports, each with that file: the
   * type checker then names the key, but not that the import goes too.
   */
  readonly orphansWired: readonly { readonly path: string; readonly from: string }[];
  /** The new migration, if the entities changed. */
  readonly migration: string | undefined;
  /** Schema changes tsmicro will not apply by itself. */
  readonly warnings: readonly string[];
  /** What may fail when a database applies `migration`, with the edit to make to it first. */
  readonly risks: readonly string[];
  /** What generate did or found about the migrations it wrote before: one taken back, one to delete. */
  readonly migrationNotes: readonly string[];
  /** Changes warned about on an earlier run that no migration makes yet. */
  readonly pending: readonly string[];
  /** Services of the protos that src/main.ts does not name, so does not serve: what to add, one line each. */
  readonly unserved: readonly string[];
  /** Services src/main.ts serves from the generated code that no proto declares any more: what to take out, one line each. */
  readonly servedGone: readonly string[];
  /** Entities whose data service the handlers' Dependencies do not name: what to add, one line each. */
  readonly unwired: readonly string[];
  /** Unique text fields a data service written before they were unique does not refuse blank: what to add, one line each. */
  readonly unchecked: readonly string[];
  /**
   * Services the generated code had that the protos now call by another full name (package or
   * service renamed), so every method's path changed; with the proto folder as the project names it.
   */
  readonly renamed: readonly RenamedService[];
  readonly protoDir: string;
  /**
   * Fields of the project's own messages whose number now holds a type callers built on the old
   * proto misread, or whose JSON name changed: one line each, starting with its kind (see changedFields).
   */
  readonly fieldChanges: readonly string[];
  /** Names the user's files import from a generated module that no longer has them, with the one that does. */
  readonly moved: readonly string[];
  /**
   * Of `created`, those the user's file that wires them in imports already: deleted and made again
   * (a stub the handler object still imports), so there is nothing to add.
   */
  readonly stillImported: readonly string[];
  /**
   * Run in a workspace service's folder: the other services' folders of generated files whose copies
   * of the shared protos now differ from this one's (`services/edge/src/gen`), and the workspace root,
   * relative to the project.
   */
  readonly behind?: { readonly folders: readonly string[]; readonly root: string };
}

/** True when `root` holds a project made by `tsmicro new`. */
export function isProject(root: string): boolean {
  return existsSync(join(root, projectFile));
}

/** How `tsmicro generate` is asked to run in a project. */
export interface ProjectGenerateOptions {
  /** Given on the command line: these win over tsmicro.json. */
  readonly proto?: string | undefined;
  readonly out?: string | undefined;
  readonly opt: readonly string[];
  readonly templates: string | undefined;
}

/**
 * `tsmicro generate` inside a project: rewrites `src/gen/` (all or nothing,
 * as always), then creates the user files the protos now call for and that
 * do not exist (a stub per new rpc, the layers of a new entity), writes a
 * new migration when the entities changed, and lists user files left
 * behind by removed rpcs and entities. Never changes an existing user file;
 * a second run changes nothing.
 */
export async function generateProject(root: string, options: ProjectGenerateOptions): Promise<ProjectGenerateResult> {
  const result = await (await planProject(root, options, { warn: warnOnStderr, checkRoutes: true })).write();
  const workspace = await enclosingWorkspace(dirname(root));
  if (workspace === undefined) return result;
  const folders = await behindIn(workspace, root, result);
  return folders.length === 0 ? result : { ...result, behind: { folders, root: relative(root, workspace) } };
}

/**
 * The folders of generated files (relative to `workspace`) of its other services whose files of the
 * shared protos differ from those `result` just generated in `root` (or that it removed): each service
 * generates every proto for itself, so one regenerated in its own folder leaves the others' copies
 * behind an edit, without a word. Each service's entity files and database.ts are its own, and not compared.
 */
async function behindIn(workspace: string, root: string, result: ProjectGenerateResult): Promise<string[]> {
  // Those this run left as they were count too: a second run, which changed nothing, still says it.
  const { written, unchanged, removed } = result.generated;
  const shared = [...written, ...unchanged, ...removed].filter(
    (file) => !/(^|\/)database\.ts$|\.entity\.ts$/.test(file),
  );
  const read = (path: string) => readFile(path, "utf8").catch(() => undefined);
  const ours = new Map(await Promise.all(shared.map(async (f) => [f, await read(join(root, result.out, f))] as const)));
  const behind: string[] = [];
  for (const dir of shared.length === 0 ? [] : await workspaceServices(workspace)) {
    if (resolve(dir) === resolve(root)) continue;
    const out = join(dir, (await readProjectConfig(dir))?.out ?? "src/gen");
    for (const file of shared) {
      if ((await read(join(out, file))) === ours.get(file)) continue;
      behind.push(relative(workspace, out));
      break;
    }
  }
  return behind;
}

/** How planProject reports: where warnings go, and whether it checks the routes (a workspace checks them once, for all). */
interface PlanReporting {
  readonly warn: (message: string) => void;
  readonly checkRoutes: boolean;
}

/**
 * Everything `tsmicro generate` will write in the project at `root`, compiled, rendered and
 * formatted, without writing any of it: a mistake in a proto or template leaves the project
 * as it was. `write` writes it; `request` is what was compiled.
 */
async function planProject(
  root: string,
  options: ProjectGenerateOptions,
  reporting: PlanReporting,
): Promise<{ request: CodeGeneratorRequest; write: () => Promise<ProjectGenerateResult> }> {
  const config = (await readProjectConfig(root)) ?? {};
  const protoDir = resolve(root, options.proto ?? config.proto ?? "proto");
  const out = options.out ?? config.out ?? "src/gen";
  const templatesDir = options.templates ?? (config.templates && resolve(root, config.templates));
  const request = await compileRequest(protoDir, options.opt, templatesDir);
  // A web service serves no proto: its "owns" only keeps the workspace's protos its clients.
  if (config.type !== "web") checkOwnedFolders(config.owns, request.fileToGenerate, root, protoDir);
  const owns = ownedBy(config.owns);
  const templates = await loadTemplates(templatesDir);
  const files = await projectFiles(root);
  const code = await handlerCode(root, files);
  const sources = planProjectSources(request, templates, { files, code }, version, owns);
  const migrations = await Promise.all(
    files
      .filter((f) => /^migrations\/\d+_.*\.sql$/.test(f))
      .map(async (f) => ({ name: f.slice("migrations/".length), sql: await readFile(join(root, f), "utf8") })),
  );
  const previousSchema = await readFile(join(root, schemaFile), "utf8").catch(() => undefined);
  const migration =
    config.type === "service" || config.type === undefined
      ? planMigration(request, previousSchema, migrations, owns)
      : { files: [], takenBack: [], notes: [], warnings: [], risks: [], pending: [] };
  // Without it every entity reads as new, and the next migration would create tables the earlier ones made.
  if (previousSchema === undefined && migrations.length > 0 && migration.files.some((f) => f.path !== schemaFile))
    throw new CommandError(
      `${schemaFile} is missing, while migrations/ holds ${migrations.length} migration(s): tsmicro generate ` +
        `compares the protos with it to write the next migration; restore it (git checkout ${schemaFile}) and run it again`,
    );
  // Another service's entities are its own: their Kysely types would need kysely, which an API service lacks.
  const generated = (
    await generateFiles(request, { warn: reporting.warn, checkRoutes: false, protoPath: protoPathIn(protoDir) })
  ).filter((file) => !file.name.endsWith(".entity.ts") || owns(file.name.replace(/\.entity\.ts$/, ".proto")));
  // The routes of every proto one gateway serves with these (a workspace's services' too), after generate checked each file's.
  if (reporting.checkRoutes) checkServedRoutes(request, await servedWith(root), reporting.warn);
  const output = [...generated, ...sources.generated];
  const moved = movedImports(await userCode(root, files, out), output, posix.normalize(out));
  // Only the services this project serves: another's callers are its owner's to warn (a workspace's services all generate it).
  const previous = await generatedCode(root, files, out);
  const renamed = renamedServices(generatedServices(previous), generatedServices(output)).filter(({ to }) =>
    owns(to.proto),
  );
  const shownProtoDir = relative(root, protoDir).split("\\").join("/") || ".";
  const ownProtos = request.protoFile.filter((f) => request.fileToGenerate.includes(f.name) && owns(f.name));
  const fieldChanges = changedFields(describedMessages(previous), ownProtos, shownProtoDir);
  const formatted = await formatFiles(sources.missing.map((f) => ({ name: f.path, content: f.content })));

  const write = async () => {
    const generated = await writeGeneratedFiles(resolve(root, out), output);
    for (const file of formatted) await writeNew(join(root, file.name), file.content);
    for (const file of migration.files) {
      if (file.path === schemaFile) await writeFileIn(join(root, file.path), file.content);
      else await writeNew(join(root, file.path), file.content);
    }
    // The one case an old migration is rewritten: tsmicro wrote it, nobody edited it, and the protos undo it.
    for (const file of migration.takenBack) await writeFileIn(join(root, file.path), file.content);
    return {
      generated,
      removed: generated.removed.map((path) => ({
        path,
        why: removedWhy(path, request.fileToGenerate, owns, config.owns),
      })),
      out,
      created: sources.missing,
      orphans: sources.orphans,
      orphansWired: await orphansWired(root, sources.orphans),
      migration: migration.files.find((f) => f.path !== schemaFile)?.path,
      warnings: migration.warnings,
      risks: migration.risks,
      migrationNotes: migration.notes,
      pending: migration.pending,
      ...(await unserved(
        root,
        sources.model.services,
        sources.missing,
        generatedServices(output).map((service) => `${service.name}Definition`),
        renamed,
      )),
      unwired: await unwired(root, sources.model.entities, sources.missing),
      unchecked: await unchecked(root, sources.model.entities, out),
      renamed,
      protoDir: shownProtoDir,
      fieldChanges,
      moved,
      stillImported: await stillImported(root, sources.missing),
    };
  };
  return { request, write };
}

/**
 * Why a file of src/gen is no longer generated: its proto is gone, or is there but not the
 * project's own (an entity's Kysely types are its owner's), or no longer declares what it was for.
 */
function removedWhy(
  path: string,
  protos: readonly string[],
  owns: (protoFile: string) => boolean,
  owned: readonly string[] | undefined,
): string {
  // A proto's files are its path with .ts, .micro.ts, .entity.ts or .openapi.json for .proto.
  const proto = protos.find((file) => {
    const base = file.slice(0, -".proto".length);
    return path.startsWith(base) && /^\.(\w+\.)?(ts|json)$/.test(path.slice(base.length));
  });
  if (proto === undefined) return "its proto is gone";
  if (!owns(proto)) {
    const value = owned?.length === 1 ? JSON.stringify(owned[0]) : JSON.stringify(owned);
    return `proto/${proto} is no longer this project's own: tsmicro.json's "owns" is ${value}`;
  }
  return `proto/${proto} no longer calls for it`;
}

/**
 * The services src/main.ts does not name: the line that created a service's handler says to serve
 * it once, and type-checking passes without it, so every run says so until main.ts does. And those
 * it serves that are gone from the protos (servedGone), whose import then fails the build.
 */
async function unserved(
  root: string,
  services: readonly ServiceScaffold[],
  created: readonly ScaffoldFile[],
  generated: readonly string[],
  renamed: readonly RenamedService[],
): Promise<{ unserved: string[]; servedGone: string[] }> {
  const existing = services.filter((s) => !created.some((file) => file.why === `service ${s.name}`));
  const missing = await unnamedIn(root, "src/main.ts", existing, (s) => s.definitionName);
  const stale = await staleHandles(root, generated);
  // One service unserved and main.ts serving one no longer generated: a rename, whose line is to be replaced.
  const was = missing.length === 1 && stale.length === 1 ? stale[0] : undefined;
  const lines = missing.map((s) => {
    const serve = `service.handle(${s.definitionName}, ${s.factoryName}(deps))`;
    return was === undefined
      ? `add ${serve} to src/main.ts to serve ${s.name}`
      : `replace service.handle(${was}, …) in src/main.ts with ${serve} (and its import) to serve ${s.name}: ` +
          `${was} is no longer generated`;
  });
  // A service gone from the protos: main.ts still serves it, and its import fails. A rename's created line says so already.
  const gone = stale.filter((name) => name !== was && !renamed.some(({ from }) => `${from.name}Definition` === name));
  return {
    unserved: lines,
    servedGone: gone.map(
      (name) =>
        `src/main.ts serves ${name}, which no proto declares any more: take out its service.handle(…) and its import`,
    ),
  };
}

/**
 * The definitions src/main.ts serves (`.handle(XDefinition`) and imports from the generated code
 * (`./gen/…`) that this run no longer generates (`generated`: every service's definition now).
 * One from elsewhere (a library's, a hand-written one) is not tsmicro's to judge.
 */
async function staleHandles(root: string, generated: readonly string[]): Promise<string[]> {
  const text = await readFile(join(root, "src/main.ts"), "utf8").catch(() => "");
  const fromGen = new Set(
    [...withoutComments(text).matchAll(/\bimport\s*(?:type\s*)?\{([^}]*)\}\s*from\s*["']\.\/gen\//g)].flatMap((m) =>
      m[1]!.split(",").map((name) => name.trim().replace(/^type\s+/, "")),
    ),
  );
  const served = [...codeOf(text).matchAll(/\.handle\(\s*(\w+Definition)\b/g)].map((m) => m[1]!);
  return [...new Set(served)].filter((name) => fromGen.has(name) && !generated.includes(name));
}

/**
 * The entities whose data service the handlers' Dependencies do not name: the line that created it
 * says to wire it once, and type-checking passes until a handler uses it, so every run says so until
 * src/handler/dependencies.ts does (the type checker then holds src/main.ts to building it).
 */
async function unwired(
  root: string,
  entities: readonly EntityScaffold[],
  created: readonly ScaffoldFile[],
): Promise<string[]> {
  const existing = entities.filter((e) => !created.some((file) => file.why === `entity ${e.name}`));
  const missing = await unnamedIn(root, "src/handler/dependencies.ts", existing, (e) => `${e.name}DataService`);
  return missing.map(
    (e) =>
      `add ${e.camelPlural}: ${e.name}DataService to Dependencies in src/handler/dependencies.ts, and ` +
      `new ${e.name}DataService(new Sql${e.name}Repository(database.db)) to the deps in src/main.ts, to use entity ${e.name}`,
  );
}

/**
 * The unique text fields a data service does not refuse blank: one scaffolded before the field was
 * unique checks only those it had then (or none), and a blank value then fails the second row as
 * ALREADY_EXISTS. A data service that reads the generated list of them, or names the field, is left
 * alone, as is one the scaffold did not write (it reads no generated list); every run says so until it does.
 */
async function unchecked(root: string, entities: readonly EntityScaffold[], out: string): Promise<string[]> {
  const lines: string[] = [];
  for (const e of entities) {
    const path = `src/domain/service/${e.fileName}-data-service.ts`;
    const text = await readFile(join(root, path), "utf8").catch(() => undefined);
    if (text === undefined || e.uniqueTexts.length === 0) continue;
    const code = codeOf(text);
    // One of the user's own making (it reads none of the generated lists) checks its fields its own way.
    if (!new RegExp(`\\b${e.camel}(Columns|OutputOnly)\\b`).test(code)) continue;
    if (new RegExp(`\\b${e.camel}UniqueTexts\\b`).test(code)) continue;
    const list = `${e.camel}UniqueTexts of ${posix.join(out, `${e.genModule}.entity.ts`)}`;
    for (const { name } of e.uniqueTexts.filter(
      ({ name }) => !code.includes(`"${name}"`) && !code.includes(`'${name}'`),
    ))
      lines.push(
        `${path} does not refuse a blank ${name}, which is unique: a second ${e.camel} without one fails as ` +
          `ALREADY_EXISTS instead of INVALID_ARGUMENT naming ${name}; in create and update, throw new ` +
          `Invalid${e.name}Error("${name}", "is required: each ${e.camel} has its own (a unique field)") when it is ` +
          `blank, or check every field ${list} as a new project's data service does (requireUniqueTexts)`,
      );
  }
  return lines;
}

/** The items whose `word` the code of the project's `file` (comments and imports left out) does not name; none when it is missing. */
async function unnamedIn<T>(root: string, file: string, items: readonly T[], word: (item: T) => string): Promise<T[]> {
  const text = await readFile(join(root, file), "utf8").catch(() => undefined);
  if (text === undefined) return [];
  const code = codeOf(text);
  return items.filter((item) => !new RegExp(`\\b${word(item)}\\b`).test(code));
}

/** The text of the project's handler files (`src/handler/**.ts`), by path: how the scaffold finds an rpc written under another file name. */
async function handlerCode(root: string, files: readonly string[]): Promise<Map<string, string>> {
  const paths = files.filter((file) => file.startsWith("src/handler/") && file.endsWith(".ts"));
  return new Map(
    await Promise.all(paths.map(async (path) => [path, await readFile(join(root, path), "utf8")] as const)),
  );
}

/** The services' files (`*.micro.ts`) the last run generated into `out`, named relative to it, as generate names its output. */
async function generatedCode(
  root: string,
  files: readonly string[],
  out: string,
): Promise<{ name: string; content: string }[]> {
  const generated = `${posix.normalize(out).replace(/\/$/, "")}/`;
  const paths = files.filter((file) => file.startsWith(generated) && file.endsWith(".micro.ts"));
  return Promise.all(
    paths.map(async (path) => ({
      name: path.slice(generated.length),
      content: await readFile(join(root, path), "utf8"),
    })),
  );
}

/** The text of the project's own TypeScript files outside the generated folder `out`, by path. */
async function userCode(root: string, files: readonly string[], out: string): Promise<Map<string, string>> {
  const generated = `${posix.normalize(out).replace(/\/$/, "")}/`;
  const paths = files.filter((file) => /\.(ts|mts|tsx)$/.test(file) && !file.startsWith(generated));
  return new Map(
    await Promise.all(paths.map(async (path) => [path, await readFile(join(root, path), "utf8")] as const)),
  );
}

/**
 * A module's code where a definition may be served: comments and import statements left out, so
 * a handle() commented out, or an import alone, does not count.
 */
function codeOf(module: string): string {
  return withoutComments(module).replace(/^\s*import\b[^;]*;/gm, "");
}

/** The project's files, relative and `/`-separated, without folders no scaffold rule looks at (node_modules above all). */
async function projectFiles(root: string, dir = ""): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory() && !skipped.has(entry.name)) files.push(...(await projectFiles(root, path)));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}

const skipped = new Set(["node_modules", "dist", "data", "vendor", ".git"]);

/** Creates a user file; `wx` so that a file that appeared meanwhile is never overwritten. */
async function writeNew(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content, { flag: "wx" });
}

async function writeFileIn(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

/** The lines `tsmicro generate` prints about a project's own files. */
export function projectReport(result: ProjectGenerateResult): string {
  const lines = [
    ...result.created.map(
      (file) =>
        `created ${file.path} (${file.why})${result.stillImported.includes(file.path) ? "" : nextStep(file, result)}`,
    ),
    ...(result.migration ? [`created ${result.migration} (the entities changed)`] : []),
    ...result.migrationNotes.map((note) => `migration: ${note}`),
    ...result.warnings.map((warning) => `migration: not applied by tsmicro: ${warning}`),
    // The migration is written and will be applied as it is: the line says so, and what to edit first.
    ...result.risks.map((risk) => `migration: check ${result.migration} before a database applies it: ${risk}`),
    ...result.pending.map((line) => `pending: ${line}`),
    ...result.renamed.map((renamed) => `renamed: ${renamedLine(renamed, result.protoDir)}`),
    ...result.fieldChanges,
    ...result.orphans.map(
      (orphan) => `orphaned: ${orphan.path}: ${orphan.why}; ${orphanStep(orphan, result)}${wiredNote(orphan, result)}`,
    ),
    ...result.unserved.map((line) => `not served: ${line}`),
    ...result.servedGone.map((line) => `gone: ${line}`),
    ...result.unwired.map((line) => `not wired: ${line}`),
    ...result.unchecked.map((line) => `not checked: ${line}`),
    ...result.moved.map((line) => `moved: ${line}`),
    ...(result.behind ? [behindLine(result.behind)] : []),
  ];
  return lines.map((line) => `${line}\n`).join("");
}

/** For a gone rpc's file its handler object still imports: that the import and key there go too. */
function wiredNote(orphan: Orphan, result: ProjectGenerateResult): string {
  const from = result.orphansWired.find((wired) => wired.path === orphan.path)?.from;
  return from === undefined ? "" : ` (${from} still serves it: take its import and its key out of there)`;
}

/**
 * What to do with an rpc's file left behind. When its service lost that one rpc and gained one (a
 * rename, most likely: `CountShops` became `CountAllShops`), the code belongs in the new rpc's stub.
 */
function orphanStep(orphan: Orphan, result: ProjectGenerateResult): string {
  const renamed = renamedServiceStep(orphan, result);
  if (renamed !== undefined) return renamed;
  const folder = orphan.path.slice(0, orphan.path.lastIndexOf("/") + 1);
  const inFolder = (path: string) => path.startsWith(folder) && !path.slice(folder.length).includes("/");
  const stubs = result.created.filter((file) => inFolder(file.path) && file.why.startsWith("rpc "));
  const orphans = result.orphans.filter((other) => inFolder(other.path));
  if (stubs.length !== 1 || orphans.length !== 1 || !orphan.why.startsWith("no rpc "))
    return "delete it or move its code";
  const rpc = /^rpc (\S+?)(;|$)/.exec(stubs[0]!.why)?.[1];
  return `if its rpc became ${rpc}, move its code into ${stubs[0]!.path}; else delete it`;
}

/**
 * What to do with a file of a service that is gone, when the protos lost that one service and
 * gained one (a rename most likely: `ReportService` became `StatsService`): its code belongs in the
 * new service's file of the same place (its handler object, or the stub of the same name).
 */
function renamedServiceStep(orphan: Orphan, result: ProjectGenerateResult): string | undefined {
  const gone = (o: Orphan) => o.why === "its service is gone from the protos";
  const services = result.created.filter((file) => /^service \w+$/.test(file.why));
  const handlers = result.orphans.filter(gone);
  if (services.length !== 1 || handlers.length !== 1) return undefined;
  const [service, handler] = [services[0]!, handlers[0]!];
  const name = service.why.slice("service ".length);
  if (orphan === handler) return `if its service became ${name}, move its code into ${service.path}; else delete it`;
  if (orphan.why !== `service of ${handler.path} is gone from the protos`) return undefined;
  const folder = service.path.replace(/\.ts$/, "/");
  const same = `${folder}${orphan.path.slice(orphan.path.lastIndexOf("/") + 1)}`;
  const into = result.created.some((file) => file.path === same) ? same : folder;
  return `if its service became ${name}, move its code into ${into}; else delete it`;
}

/** The line saying which other services of the workspace a service's own generate left behind, and what to run. */
function behindLine({ folders, root }: NonNullable<ProjectGenerateResult["behind"]>): string {
  return (
    `behind: ${folders.join(", ")} ${folders.length === 1 ? "holds" : "hold"} the shared protos as they were: ` +
    `run npm run generate at the workspace root (${root}), which regenerates every service`
  );
}

/**
 * `tsmicro generate` at a workspace root: every service regenerated from
 * the shared protos, so each has the others' clients; reports prefixed by
 * the service's folder. The routes of all services are checked together,
 * as the one gateway serves them; a warning is printed once, and an error
 * about a proto names the service that owns it.
 */
export async function generateWorkspace(
  root: string,
  templates: string | undefined,
  opt: readonly string[] = [],
): Promise<string> {
  const printed = new Set<string>();
  const warn = (message: string) => {
    if (printed.has(message)) return;
    printed.add(message);
    warnOnStderr(message);
  };
  // Every service planned before any is written: a proto one service cannot compile leaves all as they were.
  const plans: { name: string; request: CodeGeneratorRequest; write: () => Promise<ProjectGenerateResult> }[] = [];
  for (const dir of await workspaceServices(root)) {
    const name = dir.slice(root.length + 1);
    try {
      plans.push({ name, ...(await planProject(dir, { opt, templates }, { warn, checkRoutes: false })) });
    } catch (error) {
      throw await blamed(error, root, name);
    }
  }
  const first = plans[0];
  try {
    if (first) checkServedRoutes(first.request, await servedWith(root), warn);
  } catch (error) {
    throw await blamed(error, root, undefined);
  }
  const lines: string[] = [];
  for (const { name, write } of plans) {
    const result = await write();
    const { written, unchanged } = result.generated;
    lines.push(`${name}: generated ${written.length + unchanged.length} files (${written.length} changed)\n`);
    for (const file of result.removed) lines.push(`${name}: removed ${file.path} (${file.why})\n`);
    lines.push(
      ...projectReport(result)
        .split("\n")
        .filter(Boolean)
        .map((line) => `${name}: ${line}\n`),
    );
  }
  for (const line of await unownedProtos(root)) lines.push(`unowned: ${line}\n`);
  return lines.join("");
}

/**
 * The workspace's protos declaring services in a folder of proto/ that no service owns: every
 * service gets their clients, and none serves them, which generate would otherwise leave unsaid.
 */
async function unownedProtos(root: string): Promise<string[]> {
  const owners = await Promise.all(
    (await workspaceServices(root)).map(async (dir) => (await readProjectConfig(dir))?.owns),
  );
  // A service that owns no one folder takes every proto as its own.
  if (owners.includes(undefined)) return [];
  const owns = owners.map((own) => ownedBy(own));
  const protoDir = join(root, (await readProjectConfig(root))?.proto ?? "proto");
  const files = (await readdir(protoDir, { recursive: true }).catch(() => [] as string[]))
    .filter((file) => file.endsWith(".proto") && !owns.some((owned) => owned(file)))
    .sort();
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(join(protoDir, file), "utf8");
    const services = [...text.matchAll(/^\s*service\s+(\w+)/gm)].map((match) => match[1]!);
    if (services.length === 0) continue;
    const declares = `proto/${file} declares ${services.join(", ")}, which no service of the workspace serves`;
    if (!file.includes("/")) {
      // A service owns a folder of proto/: a file at its top belongs to none.
      const name = file.replace(/\.proto$/, "");
      lines.push(
        `${declares} (a service owns a folder of proto/, and this file is in none); ` +
          `move it to proto/${name}/${file}, then: tsmicro new ${name} --proto proto/${name}/${file}`,
      );
      continue;
    }
    const folder = file.split("/")[0]!;
    lines.push(
      `${declares} (none owns proto/${folder}/); make one that does: tsmicro new ${folder} --proto proto/${file}`,
    );
  }
  return lines;
}

/**
 * `error`, one of tsmicro's own, saying whose it is: the service (`services/order: …`) that owns the
 * protos it names, or none when it names protos no one service owns (the message names them);
 * `planned`, the service being planned, when it names no proto.
 */
async function blamed(error: unknown, root: string, planned: string | undefined): Promise<unknown> {
  if (!(error instanceof CommandError || isSetupError(error))) return error;
  const protos = await workspaceProtos(root);
  const named = protos.filter((file) =>
    [...error.message.matchAll(/[\w./-]+\.proto\b/g)].some(([path]) => path === file || path.endsWith(`/${file}`)),
  );
  const services = await workspaceServices(root);
  const configs = await Promise.all(services.map(async (dir) => (await readProjectConfig(dir))?.owns));
  const owners = new Set(
    named.map((file) => {
      const owning = services.filter((_, i) => configs[i] !== undefined && ownedBy(configs[i])(file));
      return owning.length === 1 ? owning[0]!.slice(root.length + 1) : undefined;
    }),
  );
  const owner = named.length === 0 ? planned : owners.size === 1 ? [...owners][0] : undefined;
  if (owner !== undefined) error.message = `${owner}: ${error.message}`;
  return error;
}

/** The .proto files of the workspace's shared folder, relative to it. */
async function workspaceProtos(root: string): Promise<string[]> {
  const protoDir = join(root, (await readProjectConfig(root))?.proto ?? "proto");
  const files = await readdir(protoDir, { recursive: true }).catch(() => [] as string[]);
  return files.filter((file) => file.endsWith(".proto")).map((file) => file.split("\\").join("/"));
}

/**
 * The user's file a created one is wired in from, which nextStep tells to add it to: a new rpc's
 * stub into its service's handler object, a new service's handler into src/main.ts, a new entity's
 * data service into the handlers' Dependencies; undefined for the others.
 */
function wiredFrom(file: ScaffoldFile): string | undefined {
  const service = /^src\/handler\/([^/]+)\/[^/]+\.ts$/.exec(file.path)?.[1];
  if (service && file.why.startsWith("rpc ")) return file.wiredIn ?? `src/handler/${service}.ts`;
  if (file.why.startsWith("service ") && /^src\/handler\/[^/]+\.ts$/.test(file.path)) return "src/main.ts";
  if (file.why.startsWith("entity ") && /^src\/domain\/service\/[^/]+-data-service\.ts$/.test(file.path))
    return "src/handler/dependencies.ts";
  return undefined;
}

/** The orphaned files of gone rpcs whose service's handler object (src/handler/<service>.ts) imports them, with that file. */
async function orphansWired(root: string, orphans: readonly Orphan[]): Promise<{ path: string; from: string }[]> {
  const wired: { path: string; from: string }[] = [];
  for (const orphan of orphans) {
    const folder = /^src\/handler\/([^/]+)\/[^/]+\.ts$/.exec(orphan.path)?.[1];
    if (folder === undefined || !orphan.why.startsWith("no rpc of ")) continue;
    const from = `src/handler/${folder}.ts`;
    const text = await readFile(join(root, from), "utf8").catch(() => undefined);
    if (text && importedModules(withoutComments(text), from).has(orphan.path.replace(/\.ts$/, "")))
      wired.push({ path: orphan.path, from });
  }
  return wired;
}

/**
 * The created files whose wiring file (see wiredFrom) imports them already: a file the user deleted
 * while the code using it stayed, made again. Telling them to add it would send them to a line
 * that is there.
 */
async function stillImported(root: string, created: readonly ScaffoldFile[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of created) {
    const from = wiredFrom(file);
    const text = from && (await readFile(join(root, from), "utf8").catch(() => undefined));
    if (text && importedModules(withoutComments(text), from).has(file.path.replace(/\.ts$/, ""))) found.push(file.path);
  }
  return found;
}

/** The project files (relative, without extension) a module at `path` imports by relative specifier. */
function importedModules(code: string, path: string): Set<string> {
  const specifiers = [...code.matchAll(/\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return new Set(specifiers.map((spec) => posix.join(posix.dirname(path), spec).replace(/\.(js|ts)$/, "")));
}

/**
 * What to do after a file of the user's appears: a new rpc's stub goes into
 * its service's handler (unless that handler is new too, made with it); a
 * new service's handler is served from src/main.ts, which nothing else
 * asks for, in place of the service it renamed, if any.
 */
function nextStep(file: ScaffoldFile, result: ProjectGenerateResult): string {
  const from = wiredFrom(file);
  if (from === undefined) return "";
  if (file.why.startsWith("rpc "))
    return result.created.some((other) => other.path === from) ? "" : `; add it to ${from}`;
  const service = /^service (\w+)$/.exec(file.why)?.[1];
  const was = result.renamed.find(({ from, to }) => to.name === service && from.name !== service)?.from.name;
  if (service && was)
    return (
      `; serve it in place of ${was}: in src/main.ts replace service.handle(${was}Definition, create${was}Handler(deps)) ` +
      `with service.handle(${service}Definition, create${service}Handler(deps)), and import ${service}Definition ` +
      `(from src/gen) and create${service}Handler in place of ${was}Definition and create${was}Handler`
    );
  if (service)
    return (
      `; serve it: import ${service}Definition (from src/gen) and create${service}Handler, ` +
      `and add service.handle(${service}Definition, create${service}Handler(deps)) to src/main.ts`
    );
  // A new entity's data service reaches handlers through the deps that src/main.ts builds (a file of the user's).
  const entity = /^entity (\w+)$/.exec(file.why)?.[1];
  return (
    `; wire it: add new ${entity}DataService(new Sql${entity}Repository(database.db)) to the deps in src/main.ts, ` +
    "its field to Dependencies in src/handler/dependencies.ts, and to the deps of the tests"
  );
}
