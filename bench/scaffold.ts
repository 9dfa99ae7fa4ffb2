/**
 * Time from `create-tsmicro user` to a registered, callable service, as a
 * new user meets it: create (with npm install, on whatever npm cache the
 * machine has; run twice for a warm one), then `npm run dev` until the
 * service says it is registered, then one `tsmicro call`. Prints each
 * step and the total; a wall-clock figure, so run it on a quiet machine.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));

function timed(command: string, args: string[], cwd: string, env: Record<string, string>, until?: RegExp) {
  const started = performance.now();
  return new Promise<{ ms: number; stop: () => void }>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const stop = () => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // already gone
      }
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (until?.test(output)) resolve({ ms: performance.now() - started, stop });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      if (until) reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output}`));
      else if (code === 0) resolve({ ms: performance.now() - started, stop });
      else reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output}`));
    });
  });
}

/** One run: create, start, call; the figures in seconds. */
async function once(): Promise<{ create: number; registered: number; call: number }> {
  const work = await mkdtemp(join(tmpdir(), "tsmicro-bench-scaffold-"));
  const env = { TSMICRO_REGISTRY_ADDRESS: join(work, "registry") };
  try {
    const create = await timed(process.execPath, [join(repo, "dist/bin/create-tsmicro.js"), "user"], work, env);
    const project = join(work, "user");
    const dev = await timed("npm", ["run", "dev"], project, env, /"msg":"user started"/);
    try {
      const call = await timed(
        "node_modules/.bin/tsmicro",
        ["call", "user", "UserService.ListUsers", "{}"],
        project,
        env,
      );
      return { create: create.ms / 1000, registered: dev.ms / 1000, call: call.ms / 1000 };
    } finally {
      dev.stop();
    }
  } finally {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await rm(work, { recursive: true, force: true });
  }
}

/** Two runs (the first warms npm's cache); prints both. */
export async function benchScaffold(): Promise<void> {
  console.log("scaffold: create-tsmicro user (with npm install) -> npm run dev registered -> tsmicro call");
  for (const label of ["first run", "warm npm cache"]) {
    const { create, registered, call } = await once();
    const total = create + registered + call;
    console.log(
      `  ${label}: create ${create.toFixed(1)} s, dev to registered ${registered.toFixed(1)} s, first call ${call.toFixed(1)} s; total ${total.toFixed(1)} s`,
    );
  }
}
