import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";
import { SetupError } from "@tsmicro/runtime";
import { nameForms } from "../../generator/scaffold/names.js";
import { planProject, sampleProto, type ProjectType } from "../../generator/scaffold/plan-project.js";
import type { ScaffoldFile } from "../../generator/scaffold/plan-sources.js";
import { formatFiles } from "./format.js";
import { compileRequest } from "./generate-command.js";
import { generateFiles } from "./generate-files.js";
import { loadTemplates } from "./load-templates.js";
import { packageRoot, version } from "./package-paths.js";
import { planMigration } from "./project-migrations.js";
import { planProjectSources } from "./project-sources.js";
import { vendorPackages, type PackageSpecs } from "./vendor-packages.js";

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
}

/**
 * Creates a project: checks the name and the folder, compiles the sample
 * proto (or `--proto`) first so a bad proto leaves nothing behind, writes
 * every file into a staging folder and renames it into place, packs
 * tsmicro into `vendor/` when run from a source checkout, and installs.
 * One `progress` line per step.
 */
export async function newCommand(options: NewCommandOptions, progress: (line: string) => void): Promise<NewCommandResult> {
  const project = nameForms(options.name, "project name");
  const alias = nameForms(options.alias ?? options.name, options.alias ? "--alias" : "project name");
  if (options.namespace !== undefined && !/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/.test(options.namespace))
    throw new SetupError("TSM_ERR_PROJECT_NAME", "--namespace", JSON.stringify(options.namespace), "use dot-separated lower-case words, such as mu.micro.book");
  const registeredName = options.namespace ? `${options.namespace}.${options.type}.${alias.kebab}` : alias.kebab;
  const dir = resolve(options.dir ?? project.kebab);
  await checkTarget(dir);

  const templates = await loadTemplates(options.templates);
  const staging = await mkdtemp(join(dirname(dir), `.${basename(dir)}.tsmicro-`));
  try {
    progress(`compiling the proto`);
    const protoFile = options.proto
      ? await userProto(options.proto)
      : sampleProto({ alias }, templates);
    await writeProjectFile(staging, protoFile);
    const request = await compileRequest(join(staging, "proto"), [], options.templates);
    const generated = await generateFiles(request);
    const sources = planProjectSources(request, templates, [], version);

    progress(`writing ${dir}`);
    const specs = await vendorPackages(staging, version);
    const migration = planMigration(request, undefined);
    const projectFiles = planProject(
      {
        packageName: project.kebab,
        alias,
        registeredName,
        type: options.type,
        db: options.db,
        ...dependenciesOf(options.type, specs),
        protoFiles: request.fileToGenerate,
        source: sources.model,
        version,
        vendored: specs.vendored,
        sample: !options.proto,
      },
      templates,
    );
    const formatted = await formatFiles([
      ...sources.missing.map((f) => ({ name: f.path, content: f.content })),
      ...projectFiles.filter((f) => f.path.endsWith(".ts")).map((f) => ({ name: f.path, content: f.content })),
    ]);
    const formattedByPath = new Map(formatted.map((f) => [f.name, f.content]));
    for (const file of [...projectFiles, ...sources.missing])
      await writeProjectFile(staging, { ...file, content: formattedByPath.get(file.path) ?? file.content });
    for (const file of [...generated, ...sources.generated])
      await writeProjectFile(staging, { path: `src/gen/${file.name}`, content: file.content, why: "generated" });
    for (const file of migration.files) await writeProjectFile(staging, file);
    await mkdir(dirname(dir), { recursive: true });
    await rm(dir, { recursive: true, force: true }); // checkTarget allowed only an empty folder
    await rename(staging, dir);
    await chmod(dir, 0o755); // mkdtemp made it private
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const files = (await readdir(dir, { recursive: true })).length;
  if (options.install) {
    progress("installing dependencies (npm install)");
    await runStep("npm", ["install", "--no-audit", "--no-fund"], dir);
  }
  return { dir, registeredName, files, installed: options.install };
}

/** The target must not exist, or be an empty folder: nothing of the user's is ever overwritten. */
async function checkTarget(dir: string): Promise<void> {
  const shown = relative(process.cwd(), dir) || ".";
  const info = await stat(dir).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory())
    throw new SetupError("TSM_ERR_PROJECT_DIR", shown, "exists and is not a folder", "choose another name or --dir");
  if ((await readdir(dir)).length > 0)
    throw new SetupError("TSM_ERR_PROJECT_DIR", shown, "is not empty", "choose another name or --dir, or empty it first");
}

/** `--proto FILE`: the user's proto, at `proto/<its package path>/<file>` so imports between protos keep working. */
async function userProto(path: string): Promise<ScaffoldFile> {
  const content = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new SetupError("TSM_ERR_PROJECT_DIR", `--proto ${path}`, error.code === "ENOENT" ? "does not exist" : `cannot be read (${error.code})`, "give the path of a .proto file");
  });
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(content)?.[1];
  const folder = pkg ? pkg.split(".").join("/") : "";
  return { path: join("proto", folder, basename(path)), content, why: "--proto" };
}

async function writeProjectFile(root: string, file: ScaffoldFile): Promise<void> {
  const target = join(root, file.path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, file.content);
}

/** The project's dependencies, at the versions tsmicro itself is built and tested with. */
function dependenciesOf(type: ProjectType, specs: PackageSpecs) {
  const own = readJson(join(packageRoot, "package.json"));
  const runtime = readJson(runtimePackageJson());
  const pick = (name: string, ...sources: Record<string, string>[]) => {
    for (const source of sources) if (source[name]) return source[name];
    throw new Error(`tsmicro's package.json files name no version of ${name}`);
  };
  const versions = [runtime.dependencies ?? {}, runtime.devDependencies ?? {}, runtime.peerDependencies ?? {}, own.dependencies ?? {}, own.devDependencies ?? {}];
  const dependencies: Record<string, string> = {
    "@bufbuild/protobuf": pick("@bufbuild/protobuf", ...versions),
    "@tsmicro/runtime": specs.runtime,
  };
  const devDependencies: Record<string, string> = {
    "@types/node": pick("@types/node", ...versions),
    tsmicro: specs.tsmicro,
    tsx: pick("tsx", ...versions),
    typescript: pick("typescript", ...versions),
    vitest: pick("vitest", ...versions),
  };
  if (type === "service") {
    for (const name of ["@electric-sql/pglite", "kysely", "pg"]) dependencies[name] = pick(name, ...versions);
    devDependencies["@types/pg"] = pick("@types/pg", ...versions);
  }
  return {
    dependencies: sorted(dependencies),
    devDependencies: sorted(devDependencies),
    overrides: specs.vendored ? { "@tsmicro/runtime": "$@tsmicro/runtime" } : undefined,
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

function readJson(path: string): { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; peerDependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(path, "utf8")) as ReturnType<typeof readJson>;
}

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

/** Runs a setup step in the project; a failure names the step, the folder and npm's last lines. */
function runStep(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (!error) return resolvePromise();
      const code = typeof error.code === "number" ? error.code : 1;
      const tail = stderr.trim().split("\n").slice(-5).join("\n");
      reject(new SetupError("TSM_ERR_PROJECT_STEP", `${command} ${args.join(" ")}`, cwd, code, tail || "see its output above"));
    });
  });
}

