// Loaded into a service by `tsmicro dev` (node --import): a save with a mistake esbuild cannot compile
// (a missing bracket) ended the service with esbuild's stack, a dozen lines of its internals under the
// one that matters. It ends with that line instead, `src/x.ts:10:39: Expected ")" but found ";"`, and
// `tsmicro dev` then says it waits for the next save. So do the mistakes Node finds as it loads the
// modules, which tsx's type-blind compile lets through: an import of a file or package that is not
// there (Node's ERR_MODULE_NOT_FOUND and its loader's stack), and of a name the module does not export
// (an interface imported without `import type`).

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, extname, join, relative, sep } from "node:path";
import { inspect } from "node:util";
import { isMainThread } from "node:worker_threads";
import { closestName } from "@tsmicro/runtime/errors";

/**
 * esbuild's error, as tsx's loader passes it on: tsx compiles in the loader's thread, and the error
 * crosses to this one as its name and message alone, one `FILE:LINE:COLUMN: ERROR: TEXT` line a mistake.
 */
function isTransformError(error: unknown): error is Error {
  return error instanceof Error && error.name === "TransformError";
}

/** Each mistake where it is, the file relative to the service's folder, as a compiler says it. */
function describeTransform(error: Error): string {
  const mistakes = error.message
    .split("\n")
    .map((line) => /^(.+?):(\d+):(\d+): ERROR: (.*)$/.exec(line))
    .filter((match) => match !== null)
    .map(([, file, line, column, text]) => `${shown(file!)}:${line}:${column}: ${text}`);
  return mistakes.length > 0 ? mistakes.join("\n") : error.message;
}

/** `path` as the service's folder sees it. */
function shown(path: string): string {
  return relative(process.cwd(), path);
}

/**
 * Node's "Cannot find module '/abs/x.js' imported from /abs/y.ts" or "Cannot find package 'x'
 * imported from /abs/y.ts": which file imports what, that it is not there, and a near name when
 * one is (a typo), in one line.
 */
function describeMissing(error: Error): string | undefined {
  const found = /^Cannot find (module|package) '(.+)' imported from (.+)$/.exec(error.message);
  if (!found) return undefined;
  const [, kind, target, importer] = found as unknown as [string, string, string, string];
  if (kind === "package") {
    const near = nearName(target, installedPackages(importer));
    // tsmicro dev starts the service again once an install has ended.
    const hint = near
      ? `: did you mean ${near}?`
      : declaredIn(target)
        ? ": run npm install"
        : ` (npm install ${target})`;
    return `${where(importer, target)}: imports the package ${target}, which is not installed${hint}`;
  }
  // The entry itself, which Node names as imported from the folder it runs in: removed as it started.
  if (importer.endsWith("/")) return `there is no ${shown(target)} to run`;
  const specifier = relativeSpecifier(importer, target);
  const near = nearName(stem(target), siblings(target));
  const hint = near
    ? `: did you mean ${relativeSpecifier(importer, join(dirname(target), near + extname(target)))}?`
    : "";
  const files = [typeScriptOf(target), target].filter((file) => file !== undefined).map(shown);
  return `${where(importer, specifier)}: imports ${specifier}, which does not exist: there is no ${files.join(" or ")}${hint}`;
}

const typeScriptExtensions: Readonly<Record<string, string>> = {
  ".js": ".ts",
  ".mjs": ".mts",
  ".cjs": ".cts",
  ".jsx": ".tsx",
};

/** The TypeScript file tsx loads for an import of `target` as JavaScript (`x.js`: `x.ts`), if it is one. */
function typeScriptOf(target: string): string | undefined {
  const typeScript = typeScriptExtensions[extname(target)];
  return typeScript === undefined ? undefined : target.slice(0, -extname(target).length) + typeScript;
}

/**
 * Node's "The requested module './x.js' does not provide an export named 'Y'", where the stack
 * starts `/abs/y.ts:LINE` and a caret under the name. Under tsx the usual cause is a type or an
 * interface imported as a value: only `import type` names are left out of the compiled code.
 */
function describeMissingExport(error: Error): string | undefined {
  const found = /^The requested module '(.+)' does not provide an export named '(.+)'$/.exec(error.message);
  if (!(error instanceof SyntaxError) || !found) return undefined;
  const [, module, name] = found as unknown as [string, string, string];
  const [head = "", source = "", caret = ""] = (error.stack ?? "").split("\n");
  const line = /^(.+):(\d+)$/.exec(head);
  const at = line ? `${shown(line[1]!)}:${line[2]}:${caret.indexOf("^") + 1 || 1}` : undefined;
  const what = `${module} exports no ${name} (a type or an interface? import it with import type: tsx does not check types)`;
  return at && source ? `${at}: ${what}` : what;
}

/**
 * Node's "Package subpath './x' is not defined by "exports" in /abs/node_modules/pkg/package.json
 * imported from /abs/y.ts": the package is there, and does not let that file of it be imported.
 */
function describeNotExported(error: Error): string | undefined {
  const found = /^Package subpath '(.+)' is not defined by "exports" in (.+)\/package\.json imported from (.+)$/.exec(
    error.message,
  );
  if (!found) return undefined;
  const [, subpath, folder, importer] = found as unknown as [string, string, string, string];
  const name = folder.slice(folder.lastIndexOf("/node_modules/") + "/node_modules/".length);
  const specifier = `${name}${subpath.slice(1)}`;
  return `${where(importer, specifier)}: imports ${specifier}, which ${name} does not export (the "exports" of its package.json name no ${subpath})`;
}

/**
 * Node's "Directory import '/abs/x' is not supported resolving ES modules imported from /abs/y.ts":
 * tsx loads a folder's index file, and this one has none.
 */
function describeFolderImport(error: Error): string | undefined {
  const found = /^Directory import '(.+)' is not supported resolving ES modules imported from (.+)$/.exec(
    error.message,
  );
  if (!found) return undefined;
  const [, folder, importer] = found as unknown as [string, string, string];
  const specifier = relativeSpecifier(importer, folder);
  return `${where(importer, specifier)}: imports ${specifier}, a folder with no index file: name a file of it`;
}

/** The line and column where `importer` names `specifier`, as a compiler says it, or the file alone. */
function where(importer: string, specifier: string): string {
  const file = shown(importer);
  let text: string;
  try {
    text = readFileSync(importer, "utf8");
  } catch {
    return file;
  }
  const lines = text.split("\n");
  for (const [index, line] of lines.entries()) {
    const column = [`"${specifier}`, `'${specifier}`].map((quoted) => line.indexOf(quoted)).find((at) => at >= 0);
    if (column !== undefined) return `${file}:${index + 1}:${column + 2}`;
  }
  return file;
}

/** How `importer` would name `target` in an import: `./x.js`, `../y/z.js`. */
function relativeSpecifier(importer: string, target: string): string {
  const way = relative(dirname(importer), target).split(sep).join("/");
  return way.startsWith("../") ? way : `./${way}`;
}

/** A file's name without its extension. */
function stem(path: string): string {
  return basename(path, extname(path));
}

/** The names, without extensions, of the code files beside `target`: what a typo of it may have meant. */
function siblings(target: string): string[] {
  try {
    return readdirSync(dirname(target))
      .filter((name) => /\.(c|m)?[jt]sx?$/.test(name))
      .map(stem);
  } catch {
    return [];
  }
}

/** The packages installed in the node_modules folders above `importer`, scoped ones as `@scope/name`. */
function installedPackages(importer: string): string[] {
  const names = new Set<string>();
  for (let folder = dirname(importer); ; folder = dirname(folder)) {
    for (const name of listed(join(folder, "node_modules"))) {
      if (!name.startsWith("@")) names.add(name);
      else for (const inner of listed(join(folder, "node_modules", name))) names.add(`${name}/${inner}`);
    }
    if (dirname(folder) === folder) return [...names];
  }
}

function listed(folder: string): string[] {
  try {
    return readdirSync(folder).filter((name) => !name.startsWith("."));
  } catch {
    return [];
  }
}

/** Whether the service's package.json names `name` as a dependency: then it is declared, but not installed. */
function declaredIn(name: string): boolean {
  const file = join(process.cwd(), "package.json");
  if (!existsSync(file)) return false;
  try {
    const manifest = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, string> | undefined>;
    return ["dependencies", "devDependencies", "optionalDependencies"].some((field) => manifest[field]?.[name]);
  } catch {
    return false;
  }
}

/** The one of `names` a typo of `wanted` most likely meant (closestName's rule), never `wanted` itself. */
function nearName(wanted: string, names: readonly string[]): string | undefined {
  return closestName(
    wanted,
    names.filter((name) => name !== wanted),
  );
}

/** The one line a mistake of loading says, or undefined for any other error (the service's own, shown whole). */
function describeLoadMistake(error: unknown): string | undefined {
  if (isTransformError(error)) return describeTransform(error);
  if (!(error instanceof Error)) return undefined;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ERR_MODULE_NOT_FOUND") return describeMissing(error);
  if (code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return describeNotExported(error);
  if (code === "ERR_UNSUPPORTED_DIR_IMPORT") return describeFolderImport(error);
  return describeMissingExport(error);
}

function onUncaught(error: unknown): void {
  // The service's own listener, if it has one, handles all else (an import() its code makes later
  // too): Node calls each listener.
  if (!isTransformError(error) && process.listenerCount("uncaughtException") > 1) return;
  const mistake = describeLoadMistake(error);
  // Without one, an error ends the service as Node ends it for an uncaught one: printed, exit code 1.
  process.stderr.write(`${mistake ?? inspect(error)}\n`);
  process.exit(1);
}

// The main thread alone: Node loads --import modules into each worker thread too, where a listener of
// ours would end the thread itself on its uncaught error, printed, and the service's worker.on("error")
// (a pool rejecting the task) would never hear it. Left alone, the error goes to the main thread, and
// one nobody handles there comes back to this listener.
if (isMainThread) process.on("uncaughtException", onUncaught);
