import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockFileName } from "../runtime/src/database/data-dir-lock.js";
import { openDatabase } from "../runtime/src/database/index.js";
import { freePort } from "./support/ports.js";

// Real processes on PGlite data directories: the lock, and which driver each backend loads.
// A file of its own so it runs beside test/database.test.ts rather than after it.

const repoRoot = join(import.meta.dirname, "..");
let root: string;
let migrationsForNotes: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "tsmicro-database-processes-"));
  migrationsForNotes = join(root, "notes-migrations");
  await mkdir(migrationsForNotes);
  await writeFile(join(migrationsForNotes, "0001_notes.sql"), "create table notes (id text primary key, body text);");
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("one process per PGlite data directory", () => {
  it("refuses a second open in the same process and allows it after close", async () => {
    const dataDir = join(root, "same-process");
    const first = await openDatabase({ dataDir });
    await expect(openDatabase({ dataDir })).rejects.toMatchObject({
      code: "TSM_ERR_DATABASE_LOCKED",
      message: expect.stringContaining("this process"),
    });
    await first.close();
    const again = await openDatabase({ dataDir });
    await again.close();
  });

  it("takes over the lock of a process that is gone", async () => {
    const dataDir = join(root, "stale");
    await mkdir(dataDir);
    const dead = await deadPid();
    await writeFile(join(dataDir, lockFileName), JSON.stringify({ pid: dead, host: hostname(), started: 1 }));
    const database = await openDatabase({ dataDir });
    expect(JSON.parse(await readFile(join(dataDir, lockFileName), "utf8"))).toMatchObject({ pid: process.pid });
    await database.close();
  });

  it("makes a second process exit with the lock error, and keeps the first one's data", async () => {
    const dataDir = join(root, "two-processes");
    const script = join(repoRoot, "runtime/src/database/testdata/hold-database.ts");
    const first = spawn(process.execPath, ["--import", "tsx", script, dataDir, migrationsForNotes], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      await waitForLine(first, "ready");
      const second = spawn(process.execPath, ["--import", "tsx", script, dataDir, migrationsForNotes], {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      second.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => second.once("exit", resolve));
      expect(code).toBe(1);
      expect(stderr).toContain("TSM_ERR_DATABASE_LOCKED");
      expect(stderr).toContain(`in use by process ${first.pid}`);
      expect(stderr).toContain("DATABASE_URL");
    } finally {
      const exited = new Promise((resolve) => first.once("exit", resolve));
      first.kill("SIGTERM");
      await exited;
    }
    const database = await openDatabase<{ notes: { id: string; body: string } }>({ dataDir });
    try {
      const rows = await database.db.selectFrom("notes").selectAll().execute();
      expect(rows).toEqual([{ id: String(first.pid), body: "kept" }]);
    } finally {
      await database.close();
    }
  });
});

describe("loading", () => {
  // A module hook that makes one package look uninstalled.
  const forbid = async (pkg: string, args: readonly string[], cwd: string) => {
    const hooks = join(root, "forbid-hooks.mjs");
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {
        if (specifier === ${JSON.stringify(pkg)}) {
          throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: "ERR_MODULE_NOT_FOUND" });
        }
        return next(specifier, context);
      }`,
    );
    const register = join(root, "forbid-register.mjs");
    await writeFile(
      register,
      `import { register } from "node:module"; register(${JSON.stringify(pathToFileURL(hooks).href)});`,
    );
    const script = join(repoRoot, "runtime/src/database/testdata/open-default.ts");
    // tsx by path: the child runs in a folder with no node_modules.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    const child = spawn(process.execPath, ["--import", register, "--import", tsx, script, ...args], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DATABASE_URL: "", TSMICRO_DATABASE_URL: "", TSMICRO_DATABASE_DIR: "" },
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    return { code, out };
  };

  it("opens PGlite in data/db under the working directory without loading pg", async () => {
    const cwd = join(root, "service-cwd");
    await mkdir(cwd);
    const { code, out } = await forbid("pg", [], cwd);
    expect(out).toBe("pglite\n");
    expect(code).toBe(0);
    expect(await readdir(join(cwd, "data/db"))).toContain("PG_VERSION");
  });

  it("names the driver package to install when it is missing", async () => {
    const { code, out } = await forbid("pg", ["--database_url=postgres://127.0.0.1:1/db"], root);
    expect(out).toBe(
      "TSM_ERR_DATABASE_PACKAGE: the PostgreSQL database needs the package pg, which is not installed: npm install pg\n",
    );
    expect(code).toBe(1);
  });

  it("opens PostgreSQL without loading PGlite", async () => {
    const port = await freePort();
    const { code, out } = await forbid(
      "@electric-sql/pglite",
      [`--database_url=postgres://127.0.0.1:${port}/db`],
      root,
    );
    expect(out).toContain(`TSM_ERR_DATABASE_UNREACHABLE: the PostgreSQL server at 127.0.0.1:${port}/db cannot be used`);
    expect(code).toBe(1);
  });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

function waitForLine(child: ReturnType<typeof spawn>, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.split("\n").includes(line)) resolve();
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
    child.once("exit", (code) => reject(new Error(`exited ${code} before "${line}":\n${err}`)));
  });
}
