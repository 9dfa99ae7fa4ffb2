/**
 * bench/observability: what tracing and metrics cost an RPC. Three setups,
 * each an echo service process and a load process (test/fixtures/echo-node.ts
 * and bench/fixtures/observed-load.ts) configured alike:
 * - off: `OTEL_SDK_DISABLED=true`, `--metrics_address=off`;
 * - metrics: RPC metrics recorded and served on /metrics, tracing off;
 * - spans: tracing's default without a collector: spans made and
 *   propagated, not exported; metrics on;
 * - tracing: every call sampled (`OTEL_TRACES_SAMPLER=always_on`) and
 *   exported over OTLP/HTTP protobuf to a receiver in this process, metrics on.
 * Rounds alternate between the setups; ratios are against "off" in the same
 * run. Goals: metrics >= 0.97x, tracing >= 0.85x.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSeconds } from "./process-cpu.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const roundMs = Number(process.env.BENCH_ROUND_MS ?? 3_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

interface Round {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU time per call, in microseconds, of the echo server and of the load process. */
  readonly serverCpuUs: number;
  readonly loadCpuUs: number;
}

interface Setup {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly args: readonly string[];
}

/** An OTLP/HTTP receiver that accepts and counts span exports. */
async function startReceiver(): Promise<{ url: string; server: Server; requests: () => number }> {
  let requests = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      requests++;
      response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, requests: () => requests };
}

/** The echo node and its load process of one setup; resolves once the load process has warmed up. */
async function startPair(setup: Setup, registryDir: string): Promise<{ server: ChildProcess; load: ChildProcess }> {
  const env = { ...process.env, ...setup.env, ECHO_NAME: `echo-${setup.name}`, ECHO_TARGET: `echo-${setup.name}` };
  const args = ["--registry=local", `--registry_address=${registryDir}`, "--log_level=warn", ...setup.args];
  const server = spawn(process.execPath, ["--import", "tsx", join(root, "test/fixtures/echo-node.ts"), ...args], {
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const load = fork(join(root, "bench/fixtures/observed-load.ts"), args, {
    env,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    load.once("message", () => resolve());
    load.once("exit", (code) => reject(new Error(`the ${setup.name} load process exited with ${code}`)));
  });
  return { server, load };
}

async function runRound({ server, load }: { server: ChildProcess; load: ChildProcess }): Promise<Round> {
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

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Runs the observability benchmark. */
export async function benchObservability(): Promise<void> {
  const receiver = await startReceiver();
  const registryDir = await mkdtemp(join(tmpdir(), "tsmicro-bench-observability-"));
  const setups: Setup[] = [
    { name: "off", env: { OTEL_SDK_DISABLED: "true" }, args: ["--metrics_address=off"] },
    { name: "metrics", env: { OTEL_SDK_DISABLED: "true" }, args: [] },
    // Spans made and propagated (the default with no collector), not exported.
    { name: "spans", env: { OTEL_TRACES_SAMPLER: "always_on" }, args: [] },
    {
      name: "tracing",
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_TRACES_SAMPLER: "always_on",
      },
      args: [],
    },
  ];
  const pairs: { server: ChildProcess; load: ChildProcess }[] = [];
  try {
    for (const setup of setups) pairs.push(await startPair(setup, registryDir));
    const results: Round[][] = setups.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (const [i, pair] of pairs.entries()) results[i]!.push(await runRound(pair));
    }
    const rate = (i: number) => median(results[i]!.map((r) => r.rate));
    console.log(
      `observability: unary echo, 64-byte payload, 32 in flight, server and load in separate processes, ` +
        `${rounds} alternating rounds of ${roundMs} ms`,
    );
    for (const [i, setup] of setups.entries()) {
      const runs = results[i]!;
      const spread = `${Math.min(...runs.map((r) => r.rate)).toFixed(0)}-${Math.max(...runs.map((r) => r.rate)).toFixed(0)}`;
      console.log(
        `  ${setup.name.padEnd(8)} ${rate(i).toFixed(0).padStart(6)} calls/s (rounds ${spread})  ` +
          `p50 ${median(runs.map((r) => r.p50)).toFixed(2)} ms  p99 ${median(runs.map((r) => r.p99)).toFixed(2)} ms  ` +
          `CPU per call: server ${median(runs.map((r) => r.serverCpuUs)).toFixed(0)} µs, ` +
          `load ${median(runs.map((r) => r.loadCpuUs)).toFixed(0)} µs`,
      );
    }
    console.log(`  metrics on / off:            ${(rate(1) / rate(0)).toFixed(2)}x (goal >= 0.97x)`);
    console.log(`  spans made, not exported, + metrics / off: ${(rate(2) / rate(0)).toFixed(2)}x`);
    console.log(`  tracing (100%, exported) + metrics / off: ${(rate(3) / rate(0)).toFixed(2)}x (goal >= 0.85x)`);
    console.log(`  OTLP export requests received: ${receiver.requests()}`);
  } finally {
    for (const { server, load } of pairs) {
      load.kill("SIGKILL");
      server.kill("SIGKILL");
    }
    receiver.server.close();
    await rm(registryDir, { recursive: true, force: true });
  }
}
