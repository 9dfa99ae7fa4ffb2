import { execFile } from "node:child_process";
import type { Dirent } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Built entry points (npm test builds first). */
export const bins = {
  tsmicro: join(repoRoot, "dist/bin/tsmicro.js"),
  plugin: join(repoRoot, "dist/bin/protoc-gen-tsmicro.js"),
};

/** The shipped googleapis protos, for `-I` on the protoc path. */
export const googleProtos = join(repoRoot, "node_modules/google-proto-files");

/** What a finished process left. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion, never throwing on a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; input?: Uint8Array; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd ?? repoRoot,
        maxBuffer: 256 * 1024 * 1024,
        encoding: "buffer",
        ...(options.env ? { env: options.env } : {}),
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout: stdout.toString("utf8"), stderr: stderr.toString("utf8") });
      },
    );
    if (options.input) child.stdin?.end(options.input);
  });
}

/** Runs a program and returns stdout as bytes. */
export function runBinary(
  command: string,
  args: readonly string[],
  input: Uint8Array,
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { maxBuffer: 256 * 1024 * 1024, encoding: "buffer" },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr: stderr.toString("utf8") });
      },
    );
    child.stdin?.end(input);
  });
}

/** A fresh temporary folder inside the repository, so generated code resolves the repo's node_modules. */
export async function repoTempDir(prefix: string): Promise<string> {
  const { mkdir } = await import("node:fs/promises");
  const base = join(repoRoot, ".tmp");
  await mkdir(base, { recursive: true });
  return mkdtemp(join(base, `${prefix}-`));
}

/** Every file under `dir`, as a map from relative path to content. */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const tree = new Map<string, string>();
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return tree;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    tree.set(relative(dir, path).split("\\").join("/"), await readFile(path, "utf8"));
  }
  return tree;
}

/** All .proto files under a folder, relative to it, sorted. */
export async function protoFiles(dir: string): Promise<string[]> {
  const tree = await readdir(dir, { recursive: true, withFileTypes: true });
  return tree
    .filter((e) => e.isFile() && e.name.endsWith(".proto"))
    .map((e) => relative(dir, join(e.parentPath, e.name)).split("\\").join("/"))
    .sort();
}
