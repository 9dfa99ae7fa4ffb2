import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repoRoot, run, type RunResult } from "./cli.js";

/** create-tsmicro as built in this checkout, as a new user would run it. */
export const createTsmicro = join(repoRoot, "dist/bin/create-tsmicro.js");

/** Runs `create-tsmicro ...args` in `cwd`. */
export function runCreate(args: readonly string[], cwd: string): Promise<RunResult> {
  return run(process.execPath, [createTsmicro, ...args], { cwd });
}

/** Runs an npm script or binary of a project (`npm run build`, `npx tsmicro …`) in it. */
export function inProject(dir: string, command: string, args: readonly string[], env: Record<string, string> = {}) {
  return new Promise<RunResult>((resolve) => {
    const child = spawn(command, args, {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("exit", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** A long-running process of a test (a service, a gateway), in its own process group so its children stop with it. */
export interface Background {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Resolves once `pattern` appears in its output; rejects if it exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Signals the whole group (the process and what it started), by the group's own pid. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<Background>();

/** Starts `command` in `dir` as the leader of a new process group. */
export function startBackground(
  dir: string,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Background {
  const child = spawn(command, args, {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const background: Background = {
    child,
    output: () => output,
    exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setInterval(() => {
          const match = pattern.exec(output);
          if (match) {
            clearInterval(timer);
            resolve(match);
          }
        }, 100);
        void exited.then((code) => {
          clearInterval(timer);
          const match = pattern.exec(output);
          if (match) resolve(match);
          else reject(new Error(`${command} ${args.join(" ")} exited with ${code} before ${pattern}:\n${output}`));
        });
        setTimeout(() => {
          clearInterval(timer);
          reject(new Error(`${command} ${args.join(" ")}: no ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs).unref();
      }),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // the group is gone already
        }
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // gone
        }
      }, 15_000);
      const code = await exited;
      clearTimeout(killer);
      running.delete(background);
      return code;
    },
  };
  running.add(background);
  return background;
}

/** Stops every background process a test started and did not stop. */
export async function stopAllBackground(): Promise<void> {
  await Promise.all([...running].map((b) => b.stop("SIGKILL")));
}
