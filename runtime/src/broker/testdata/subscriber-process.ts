/** Starts subscriber-main.ts as a separate process, for tests of brokers across processes. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { JetStreamOptions } from "../nats-broker.js";

/** What a subscriber process subscribes to, and through which broker. */
export type SubscriberConfig = {
  readonly topic: string;
  readonly queue?: string;
  /** A body the handler never finishes with (it prints `hanging <body> <attempt>`), to stand for a process dying mid-message. */
  readonly hangOn?: string;
} & (
  | { readonly kind: "http"; readonly registryDir: string }
  | { readonly kind: "nats"; readonly url: string; readonly jetstream?: JetStreamOptions }
);

/** A running subscriber process and what it has received (`<body> <x-seq>` per message). */
export interface SubscriberProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  /** Resolves once the process has subscribed; rejects if it exits first. */
  readonly subscribed: Promise<void>;
}

const fixture = fileURLToPath(new URL("./subscriber-main.ts", import.meta.url));
// The runtime package folder: `--import tsx` resolves from here up to the workspace's node_modules.
const runtimeDir = fileURLToPath(new URL("../../..", import.meta.url));

/** Spawns a subscriber process; the caller kills it (by its own pid) when done. */
export function startSubscriberProcess(config: SubscriberConfig): SubscriberProcess {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, JSON.stringify(config)], {
    cwd: runtimeDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let partial = "";
  const subscribed = new Promise<void>((resolve, reject) => {
    const onOutput = (chunk: Buffer) => {
      const complete = (partial + chunk.toString()).split("\n");
      partial = complete.pop() ?? "";
      for (const line of complete) {
        if (line === "subscribed") resolve();
        else if (line.startsWith("hanging ")) lines.push(line);
        else if (line.startsWith("got ")) lines.push(line.slice(4));
        else if (line.trim()) lines.push(`! ${line}`);
      }
    };
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    void exited.then((code) => reject(new Error(`subscriber exited with ${code}:\n${lines.join("\n")}${partial}`)));
  });
  // A test that never awaits it must not fail on an unhandled rejection when the process is killed at the end.
  subscribed.catch(() => undefined);
  return { child, lines, exited, subscribed };
}

/** Kills every process still running, by its own pid. */
export function killAll(processes: readonly SubscriberProcess[]): void {
  for (const { child } of processes) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}
