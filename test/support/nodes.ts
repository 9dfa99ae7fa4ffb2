import { spawn, type ChildProcess } from "node:child_process";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { repoRoot } from "./cli.js";

/** A service process a test started. */
export interface NodeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Its registered address, from its start log line. */
  readonly address: string;
  /** Its registry node id ("" for a gateway, which registers none). */
  readonly id: string;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the exit code once it has exited. */
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();

/**
 * Starts `node --import tsx <script> ...args` in `cwd` (the repository root
 * unless given; `script` is relative to it) and waits for the service's or
 * gateway's start line (`"msg":"<name> started"` with its address).
 */
export async function startNode(
  script: string,
  args: readonly string[],
  env: Record<string, string> = {},
  cwd = repoRoot,
): Promise<NodeProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", resolvePath(cwd, script), ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let output = "";
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const started = new Promise<{ address: string; id: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split("\n")) {
        if (!line.includes('started"')) continue;
        try {
          const entry = JSON.parse(line) as { address?: string; id?: string };
          if (entry.address) resolve({ address: entry.address, id: entry.id ?? "" });
        } catch {
          // not a JSON log line
        }
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => reject(new Error(`${script} exited with ${code} before starting:\n${output}`)));
    setTimeout(() => reject(new Error(`${script} did not start within 20 s:\n${output}`)), 20_000).unref();
  });
  const { address, id } = await started;
  return {
    child,
    pid: child.pid!,
    address,
    id,
    output: () => output,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    },
  };
}

/** Kills every node a test started and has not seen exit, by its own pid. */
export async function killAllNodes(): Promise<void> {
  const waits = [...running].map(
    (child) =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  );
  await Promise.all(waits);
}

/** The JSON log lines `node` printed with message `msg`, parsed, in the order printed. */
export function loggedBy<T>(node: NodeProcess, msg: string): T[] {
  return node
    .output()
    .split("\n")
    .filter((line) => line.includes(`"msg":${JSON.stringify(msg)}`))
    .map((line) => JSON.parse(line) as T);
}

/**
 * Kills `node` (SIGKILL) leaving its node registered in the local registry folder `dir` until its
 * TTL, as a killed node is left where no reader can check its process: one of another container
 * sharing the folder, or one an older tsmicro registered. (A reader on this machine drops the node
 * of a process it sees gone at once.) For tests of callers meeting a registered node that is dead.
 */
export async function killLeavingRegistration(node: NodeProcess, dir: string, service: string): Promise<void> {
  // Stopped first, so no heartbeat writes its process back between the rewrite and the kill.
  node.kill("SIGSTOP");
  while (process.platform === "linux" && !/^\d+ \(.*\) T /s.test(await readFile(`/proc/${node.pid}/stat`, "utf8")))
    await sleep(5);
  const file = join(dir, service, `${node.id}.json`);
  const { process: _writer, ...entry } = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  // Through a temporary file (a name starting with "." is none to readers): never half a record.
  const temporary = join(dir, service, `.${node.id}.tmp`);
  await writeFile(temporary, `${JSON.stringify(entry)}\n`);
  await rename(temporary, file);
  node.kill("SIGKILL");
  await node.exited;
}
