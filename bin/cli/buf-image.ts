import { execFile } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, symlink, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { SetupError } from "@tsmicro/runtime/errors";
import type { ProtoPath } from "../../generator/source-place.js";
import { packageRoot } from "./package-paths.js";
import { onStopSignal } from "./on-stop-signal.js";
import { otherFieldNumbered } from "./proto-field-numbers.js";
import { optionHint } from "./option-hint.js";
import { listProtoSources, type ProtoSource } from "./proto-outline.js";
import { protoFileOf, unknownTypeHint } from "./unknown-type-hint.js";

const require = createRequire(import.meta.url);

/** Where `google/api/annotations.proto` and its neighbours ship: the google-proto-files package. */
export const googleProtosDir = join(require.resolve("google-proto-files/package.json"), "..");

/**
 * The googleapis folders tsmicro puts on the import path; they import only
 * each other and well-known types. The well-known types come from the same
 * package rather than from buf's embedded copy, so `tsmicro generate` and
 * `protoc -I node_modules/google-proto-files` compile the same sources
 * whatever buf's version.
 */
const vendoredGoogleDirs = ["api", "rpc", "type", "longrunning", "protobuf"];

/** The `buf` binary from the @bufbuild/buf npm package, so no protoc is needed. */
function bufBinary(): string {
  return join(require.resolve("@bufbuild/buf/package.json"), "..", "bin", "buf");
}

/** One error buf reported, as `--error-format json` prints it. */
interface BufDiagnostic {
  path: string;
  start_line: number;
  start_column: number;
  message: string;
}

/**
 * Compiles every proto under `protoDir` with buf into a FileDescriptorSet
 * (imports and source info included). buf runs in a temporary workspace
 * holding two modules: the user's proto folder and the shipped googleapis
 * protos, so `import "google/api/annotations.proto"` works without
 * vendoring. Compile errors come back as one SetupError whose message has a
 * `file:line:col: message` line per error, with paths as the user gave them.
 */
export async function buildImage(protoDir: string, displayDir: string): Promise<Uint8Array> {
  const workspace = await mkdtemp(join(tmpdir(), "tsmicro-buf-"));
  // Ctrl-C or SIGTERM while buf runs removes the folder too, before the process ends.
  return onStopSignal(
    () => rmSync(workspace, { recursive: true, force: true }),
    () => compileIn(workspace, protoDir, displayDir),
  );
}

async function compileIn(workspace: string, protoDir: string, displayDir: string): Promise<Uint8Array> {
  try {
    await symlink(protoDir, join(workspace, "proto"), "dir");
    await mkdir(join(workspace, "vendor", "google"), { recursive: true });
    for (const dir of vendoredGoogleDirs) {
      await symlink(join(googleProtosDir, "google", dir), join(workspace, "vendor", "google", dir), "dir");
    }
    // tsmicro's own options, importable as "tsmicro/errors.proto" (typed errors) and "tsmicro/entity.proto" (entities).
    await symlink(join(packageRoot, "proto", "tsmicro"), join(workspace, "vendor", "tsmicro"), "dir");
    await writeFile(join(workspace, "buf.yaml"), "version: v2\nmodules:\n  - path: proto\n  - path: vendor\n");
    const image = join(workspace, "image.binpb");
    const args = ["build", "proto", "-o", image, "--as-file-descriptor-set", "--error-format", "json"];
    const { code, stdout, stderr } = await run(bufBinary(), args, workspace);
    if (code !== 0) throw await compileError(stdout, stderr, protoDir, displayDir, code);
    return await readFile(image);
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}

async function compileError(stdout: string, stderr: string, protoDir: string, displayDir: string, code: number | null) {
  const diagnostics: BufDiagnostic[] = [];
  for (const line of `${stdout}\n${stderr}`.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      diagnostics.push(JSON.parse(line) as BufDiagnostic);
    } catch {
      // not a diagnostic line
    }
  }
  // A proto of the user's that is a copy of one tsmicro ships: buf names the clash in its own terms,
  // a file two modules hold, or a declaration of tsmicro's copy (under "vendor/") made twice.
  const clash =
    diagnostics.length === 0
      ? /\.proto is contained in multiple modules/.test(stderr + stdout)
      : diagnostics.some((d) => d.path.startsWith("vendor/"));
  const copies = clash ? await shippedCopies(protoDir, displayDir) : undefined;
  if (copies !== undefined) return new SetupError("TSM_ERR_PROTO_SYNTAX", copies);
  if (diagnostics.length === 0) return new SetupError("TSM_ERR_BUF", `exit ${code}`, stderr.trim() || stdout.trim());
  const unique = [
    ...new Map(diagnostics.map((d) => [`${d.path}:${d.start_line}:${d.start_column}:${d.message}`, d])).values(),
  ];
  const protos: Sources = { user: readOnce(() => listProtoSources(protoDir)), shipped: readOnce(shippedProtos) };
  const lines = await Promise.all(unique.map((d) => describe(d, protoDir, displayDir, protos)));
  return new SetupError("TSM_ERR_PROTO_SYNTAX", lines.join("\n"));
}

/**
 * A line per proto of the user's that copies one tsmicro ships: at its path
 * (`google/api/annotations.proto`, copied in as grpc-gateway's guide has one do) or under a folder
 * (`third_party/google/api/annotations.proto`). buf names one such clash per run, in words that
 * say neither which copy is whose nor what to do. Undefined when there is none.
 */
async function shippedCopies(protoDir: string, displayDir: string): Promise<string | undefined> {
  const lines = (await listProtoSources(protoDir))
    .map((p) => p.path)
    .sort()
    .flatMap((path) => {
      const imported = shippedImport(path);
      return imported === undefined
        ? []
        : [
            `${join(displayDir, path)}: tsmicro ships ${imported} and puts it on the import path, so this copy ` +
              `clashes with it: delete the copy (import "${imported}" as before)`,
          ];
    });
  return lines.length === 0 ? undefined : lines.join("\n");
}

/** The import path of the shipped proto a file of the user's (at `path`, or below a folder) copies, if any. */
function shippedImport(path: string): string | undefined {
  const parts = path.split("/");
  for (let i = 0; i < parts.length - 1; i++) {
    const imported = parts.slice(i).join("/");
    if (existsSync(shippedPath(imported))) return imported;
  }
  return undefined;
}

/** Where tsmicro's copy of the proto imported as `path` is; a path it ships no proto at is none. */
function shippedPath(path: string): string {
  const [top, dir] = path.split("/");
  if (top === "google" && vendoredGoogleDirs.includes(dir ?? "")) return join(googleProtosDir, path);
  if (top === "tsmicro") return join(packageRoot, "proto", path);
  return "";
}

/** The protos a diagnostic's hint reads: the user's, and those tsmicro ships; each read once per failed compile. */
interface Sources {
  readonly user: () => Promise<ProtoSource[]>;
  readonly shipped: () => Promise<ProtoSource[]>;
}

/** `read`'s result, read the first time it is asked for: a failed compile's hints read the protos once. */
function readOnce<T>(read: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= read();
    return result;
  };
}

async function describe(d: BufDiagnostic, protoDir: string, displayDir: string, protos: Sources): Promise<string> {
  const inProto = d.path.startsWith("proto/") ? d.path.slice("proto/".length) : d.path;
  const shown = join(displayDir, inProto);
  const where = `${shown}:${d.start_line}:${d.start_column}`;
  if (d.message === "imported file does not exist") {
    const source = await readFile(join(protoDir, inProto), "utf8").catch(() => "");
    const importLine = source.split("\n")[d.start_line - 1] ?? "";
    const imported = /import\s+(?:public\s+|weak\s+)?"([^"]+)"/.exec(importLine)?.[1] ?? "(unknown)";
    const searched = [
      `${displayDir}/`,
      ...vendoredGoogleDirs.filter((g) => g !== "protobuf").map((g) => `google/${g}/ (shipped)`),
      "google/protobuf/ (well-known types)",
      "tsmicro/ (shipped options)",
    ];
    return new SetupError("TSM_ERR_PROTO_IMPORT", where, JSON.stringify(imported), searched.join(", ")).message;
  }
  const reused = /^field number `(\d+)` used more than once$/.exec(d.message)?.[1];
  if (reused !== undefined) {
    const source = await readFile(join(protoDir, inProto), "utf8").catch(() => "");
    const other = otherFieldNumbered(source, d.start_line, reused);
    if (other !== undefined)
      return `${where}: ${d.message}: ${other} has it too; give one of them a number not used yet`;
  }
  const hint = (await optionHintOf(d, inProto, protos)) ?? (hintOf(d.message) || (await typeHint(d, inProto, protos)));
  return `${where}: ${d.message}${hint}`;
}

/** What to do about a name of an option, a field of its value or its value (see optionHint); undefined for any other diagnostic. */
async function optionHintOf(d: BufDiagnostic, inProto: string, protos: Sources): Promise<string | undefined> {
  if (!/^cannot (find|resolve message field)/.test(d.message)) return undefined;
  const all = [...(await protos.user()), ...(await protos.shipped())];
  const line = all.find((p) => p.path === inProto)?.text.split("\n")[d.start_line - 1] ?? "";
  return optionHint(d.message, inProto, line, d.start_column, all);
}

/** What to do about a type of the user's buf cannot find (see unknownTypeHint); "" for any other diagnostic. */
async function typeHint(d: BufDiagnostic, inProto: string, protos: Sources): Promise<string> {
  const name = /^cannot find `([\w.]+)` in this scope$/.exec(d.message)?.[1];
  if (name === undefined || /^\.?(google|tsmicro)\./.test(name)) return "";
  return unknownTypeHint(name, inProto, await protos.user());
}

/**
 * The protos tsmicro puts on the import path that declare options and their messages, paths as
 * imported: googleapis' (google/api/annotations.proto), descriptor.proto (the options every proto
 * has, such as idempotency_level) and tsmicro's own.
 */
async function shippedProtos(): Promise<ProtoSource[]> {
  const folders: [string, string][] = [
    ...vendoredGoogleDirs
      .filter((dir) => dir !== "protobuf")
      .map((dir): [string, string] => [join(googleProtosDir, "google", dir), `google/${dir}`]),
    [join(packageRoot, "proto", "tsmicro"), "tsmicro"],
  ];
  const listed = await Promise.all(
    folders.map(async ([dir, imported]) =>
      (await readdir(dir))
        .filter((f) => f.endsWith(".proto"))
        .map((f): [string, string] => [join(dir, f), `${imported}/${f}`]),
    ),
  );
  const descriptor: [string, string] = [
    join(googleProtosDir, "google", "protobuf", "descriptor.proto"),
    "google/protobuf/descriptor.proto",
  ];
  return Promise.all(
    [...listed.flat(), descriptor].map(async ([file, path]) => ({ path, text: await readFile(file, "utf8") })),
  );
}

/** What to do about a diagnostic whose words do not say it: the `;` left out, the import left out. */
function hintOf(message: string): string {
  if (missingSemicolon.test(message)) return ": is a `;` missing before it?";
  // `rpc Ping(Ping)`: inside the service, the name is the rpc's before the message's.
  const method = /^expected message type, found service method `((?:\w+\.)*)(\w+)\.(\w+)`$/.exec(message);
  if (method) {
    const [, pkg, service, name] = method;
    return (
      `: inside service ${service}, ${name} names the rpc, not the message; rename one of them (the message ` +
      `${name}Request or ${name}Response, say), or write the message's full name, .${pkg}${name}`
    );
  }
  const unimported = /^cannot find `(google\.(?:protobuf|type|rpc|api|longrunning)\.(\w+))` in this scope$/.exec(
    message,
  );
  if (!unimported) return "";
  const [, typeName, name] = unimported;
  return `: add import "${typeName!.slice(0, typeName!.lastIndexOf(".")).replaceAll(".", "/")}/${protoFileOf(typeName!, name!)}";`;
}

/**
 * buf's words for a statement that runs into the next one ("unexpected `}` after definition",
 * "unexpected `message` after `package` declaration"): a left-out `;`, which it does not name.
 */
const missingSemicolon = /^unexpected .+ after (definition|`\w+` declaration)$/;

function run(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A path for `file:line:col` references: relative to the working directory, climbing out of it
 * with `..` as compilers print them (`../../proto/shop/v1/shop.proto` from a workspace service's
 * folder), so that it opens from where the command ran; absolute when the two share no folder
 * but the root (or a drive), where `..` would only climb to it.
 */
export function referencePath(path: string): string {
  const rel = relative(process.cwd(), path);
  if (rel === "") return ".";
  const climbs = rel.split(sep).filter((part) => part === "..").length;
  const depth = resolve(process.cwd()).split(sep).filter(Boolean).length;
  return isAbsolute(rel) || climbs >= depth ? path : rel;
}

/** How errors name a proto of `protoDir` (see ProtoPath): its path from the working directory, as buf's own errors name it. */
export function protoPathIn(protoDir: string): ProtoPath {
  const dir = referencePath(protoDir);
  return (name) => join(dir, name);
}

/** A path for messages: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
}
