import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bins } from "./support/cli.js";
import { createTsmicro } from "./support/project.js";

// Ctrl-C (SIGINT) or SIGTERM while create-tsmicro or tsmicro generate works leaves no temporary folder
// behind. The point it is signalled at is made certain by freezing (SIGSTOP) the child it waits on,
// buf or npm install, once that child runs: until then the temporary folders exist, and nothing else
// would remove them. Each command runs with a TMPDIR of its own, where buf's folder is made.

let work = "";

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "tsmicro-stop-signal-"));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A CLI command started in `cwd`, with what it printed and how it ended. */
function start(args: readonly string[], cwd: string, env: Record<string, string>) {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { pid: child.pid!, output, ended };
}

/** The pid of `parent`'s child whose command line contains `words`, once there is one (Linux's /proc). */
async function childRunning(parent: number, words: string): Promise<number> {
  for (;;) {
    const children = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/);
    for (const pid of children.filter(Boolean)) {
      const command = (() => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
        } catch {
          return ""; // it ended meanwhile
        }
      })();
      if (command.includes(words)) return Number(pid);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A proto folder with one small service. */
async function protoFolder(dir: string): Promise<void> {
  await mkdir(join(dir, "proto/stop/v1"), { recursive: true });
  await writeFile(
    join(dir, "proto/stop/v1/stop.proto"),
    'syntax = "proto3";\npackage stop.v1;\nservice StopService { rpc Ping(Ask) returns (Ask); }\nmessage Ask {}\n',
  );
}

describe("a stop signal during create-tsmicro or tsmicro generate", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    it(`removes tsmicro generate's buf folder on ${signal}, and ends by that signal`, async () => {
      const dir = join(work, `generate-${signal}`);
      const temp = join(dir, "tmp");
      await mkdir(temp, { recursive: true });
      await protoFolder(dir);
      const generate = start([bins.tsmicro, "generate", "--out", "gen"], dir, { TMPDIR: temp });
      const buf = await childRunning(generate.pid, "buf build");
      process.kill(buf, "SIGSTOP");
      try {
        expect((await readdir(temp)).filter((name) => name.startsWith("tsmicro-buf-"))).toHaveLength(1);
        process.kill(generate.pid, signal);
        expect(await generate.ended).toEqual({ code: null, signal });
        expect(await readdir(temp)).toEqual([]);
      } finally {
        process.kill(buf, "SIGKILL");
      }
    });

  it("removes create-tsmicro's staging folder and buf's folder on Ctrl-C", async () => {
    const temp = join(work, "create-tmp");
    await mkdir(temp, { recursive: true });
    const create = start([createTsmicro, "halt", "--dir", join(work, "halt"), "--no-install"], work, {
      TMPDIR: temp,
    });
    const buf = await childRunning(create.pid, "buf build");
    process.kill(buf, "SIGSTOP");
    try {
      expect((await readdir(work)).filter((name) => name.startsWith(".halt.tsmicro-"))).toHaveLength(1);
      process.kill(create.pid, "SIGINT");
      expect(await create.ended).toEqual({ code: null, signal: "SIGINT" });
      expect((await readdir(work)).filter((name) => name.includes("halt"))).toEqual([]);
      expect(await readdir(temp)).toEqual([]);
    } finally {
      process.kill(buf, "SIGKILL");
    }
  });

  it("says, when Ctrl-C stops npm install, that the project is in place and to run npm install in it", async () => {
    // An npm whose install waits (until stopped); its other commands (npm pack, for vendor/) are npm's.
    const realNpm = (process.env.PATH ?? "")
      .split(delimiter)
      .map((folder) => join(folder, "npm"))
      .find((path) => existsSync(path));
    const fake = join(work, "fake-bin");
    await mkdir(fake, { recursive: true });
    await writeFile(
      join(fake, "npm"),
      `#!/bin/sh\nif [ "$1" = install ]; then exec sleep 600; fi\nexec "${realNpm}" "$@"\n`,
    );
    await chmod(join(fake, "npm"), 0o755);
    const create = start([createTsmicro, "paused", "--dir", join(work, "paused")], work, {
      PATH: `${fake}${delimiter}${process.env.PATH}`,
    });
    const install = await childRunning(create.pid, "sleep 600");
    try {
      process.kill(create.pid, "SIGINT");
      expect(await create.ended).toEqual({ code: null, signal: "SIGINT" });
      expect(create.output.stderr).toBe(
        `interrupted during npm install: the project is in place in paused; run npm install there\n`,
      );
      expect(existsSync(join(work, "paused/package.json"))).toBe(true);
      // npm was stopped with it.
      for (let alive = true; alive; await new Promise((resolve) => setTimeout(resolve, 10)))
        alive = existsSync(`/proc/${install}`) && !readFileSync(`/proc/${install}/stat`, "utf8").includes(") Z ");
    } finally {
      if (existsSync(`/proc/${install}`)) process.kill(install, "SIGKILL");
    }
  });
});
