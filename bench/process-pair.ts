/**
 * Server and load in separate processes, as users deploy them: a pair is a
 * server program and a load process (bench/fixtures/load-rounds.ts) that
 * calls it; each round asks the load process for `roundMs` of calls and
 * reads both processes' CPU time around it.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSeconds } from "./process-cpu.js";

export const benchRoot = fileURLToPath(new URL("..", import.meta.url));

export interface Pair {
  readonly server: ChildProcess;
  readonly load: ChildProcess;
}

export interface Round {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU time per call, in microseconds, of the server and of the load process. */
  readonly serverCpuUs: number;
  readonly loadCpuUs: number;
}

/**
 * Starts `server` (a script under the repository, run with tsx) and, once it
 * is up, the load script with `loadArgs`; `address` reads the server's
 * address from its first stdout line when the load needs it (raw servers
 * print `{"address":…}`), else the load finds it through the registry.
 */
export async function startPair(options: {
  readonly server: string;
  readonly serverArgs: readonly string[];
  readonly load: string;
  readonly loadArgs: (serverAddress: string | undefined) => readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly printsAddress?: boolean;
}): Promise<Pair> {
  const server = spawn(process.execPath, ["--import", "tsx", join(benchRoot, options.server), ...options.serverArgs], {
    env: options.env,
    stdio: ["ignore", options.printsAddress ? "pipe" : "ignore", "inherit"],
  });
  const address = options.printsAddress ? await printedAddress(server) : undefined;
  const load = fork(join(benchRoot, options.load), options.loadArgs(address), {
    env: options.env,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    load.once("message", () => resolve());
    load.once("exit", (code) => reject(new Error(`the load process ${options.load} exited with ${code}`)));
  });
  return { server, load };
}

function printedAddress(server: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    server.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split("\n").find((l) => l.includes('"address"'));
      if (line) resolve((JSON.parse(line) as { address: string }).address);
    });
    server.once("exit", (code) => reject(new Error(`the server exited with ${code}`)));
  });
}

export async function runRound({ server, load }: Pair, roundMs: number): Promise<Round> {
  const before = await Promise.all([cpuSeconds(server.pid!), cpuSeconds(load.pid!)]);
  const round = await new Promise<Omit<Round, "serverCpuUs" | "loadCpuUs">>((resolve) => {
    load.once("message", (message) => resolve(message as Round));
    load.send({ roundMs });
  });
  const after = await Promise.all([cpuSeconds(server.pid!), cpuSeconds(load.pid!)]);
  const calls = (round.rate * roundMs) / 1000;
  const perCall = (i: number) => ((after[i]! - before[i]!) * 1e6) / calls;
  return { ...round, serverCpuUs: perCall(0), loadCpuUs: perCall(1) };
}

export function stopPairs(pairs: readonly Pair[]): void {
  for (const { server, load } of pairs) {
    load.kill("SIGKILL");
    server.kill("SIGKILL");
  }
}

export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One line per setup: median rate with the rounds' spread, latencies and CPU per call. */
export function roundsLine(name: string, runs: readonly Round[], width = 8): string {
  const rates = runs.map((r) => r.rate);
  return (
    `  ${name.padEnd(width)} ${median(rates).toFixed(0).padStart(6)} calls/s ` +
    `(rounds ${Math.min(...rates).toFixed(0)}-${Math.max(...rates).toFixed(0)})  ` +
    `p50 ${median(runs.map((r) => r.p50)).toFixed(2)} ms  p99 ${median(runs.map((r) => r.p99)).toFixed(2)} ms  ` +
    `CPU per call: server ${median(runs.map((r) => r.serverCpuUs)).toFixed(0)} µs, ` +
    `load ${median(runs.map((r) => r.loadCpuUs)).toFixed(0)} µs`
  );
}

/** `runs`' rate over `base`'s, round by round. */
function ratiosByRound(runs: readonly Round[], base: readonly Round[]): number[] {
  return runs.map((run, i) => run.rate / base[i]!.rate);
}

/**
 * The median over rounds of `runs`' rate over `base`'s in the same round,
 * and the machine's noise around it, as printed: `0.84x
 * (middle half of rounds 0.82-0.87)`, the spread of the per-round ratios
 * between their first and third quartiles.
 */
export function roundRatioText(runs: readonly Round[], base: readonly Round[]): string {
  const ratios = ratiosByRound(runs, base).sort((a, b) => a - b);
  const quartile = (q: number) => ratios[Math.floor((ratios.length - 1) * q)]!.toFixed(2);
  return `${median(ratios).toFixed(2)}x (middle half of rounds ${quartile(0.25)}-${quartile(0.75)})`;
}
