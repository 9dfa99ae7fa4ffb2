/**
 * bench/observability: what tracing and metrics cost an RPC. Five setups,
 * each an echo service process and a load process (test/fixtures/echo-node.ts
 * and bench/fixtures/observed-load.ts) configured alike:
 * - off: `OTEL_SDK_DISABLED=true`, `--metrics_address=off`;
 * - metrics: RPC metrics recorded and served on /metrics, tracing off;
 * - spans: tracing's default without a collector: spans made and
 *   propagated, not exported; metrics on;
 * - tracing: every call sampled (`OTEL_TRACES_SAMPLER=always_on`) and
 *   exported over OTLP/HTTP protobuf to a receiver in this process, metrics off;
 * - both: tracing as above with metrics on, what a service with a collector runs by default.
 * Rounds alternate between the setups; ratios are against "off" in the same
 * run, each the median over rounds of the ratio within a round. Goals (each
 * feature against both off): metrics >= 0.97x, tracing >= 0.85x.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Pair, type Round, roundRatioText, roundsLine, runRound, startPair, stopPairs } from "./process-pair.js";

const roundMs = Number(process.env.BENCH_ROUND_MS ?? 3_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

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
function startSetup(setup: Setup, registryDir: string): Promise<Pair> {
  const args = ["--registry=local", `--registry_address=${registryDir}`, "--log_level=warn", ...setup.args];
  return startPair({
    server: "test/fixtures/echo-node.ts",
    serverArgs: args,
    load: "bench/fixtures/observed-load.ts",
    loadArgs: () => args,
    env: { ...process.env, ...setup.env, ECHO_NAME: `echo-${setup.name}`, ECHO_TARGET: `echo-${setup.name}` },
  });
}

/** Runs the observability benchmark. */
export async function benchObservability(): Promise<void> {
  const receiver = await startReceiver();
  const registryDir = await mkdtemp(join(tmpdir(), "tsmicro-bench-observability-"));
  const exporting = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_TRACES_SAMPLER: "always_on",
  };
  const setups: Setup[] = [
    { name: "off", env: { OTEL_SDK_DISABLED: "true" }, args: ["--metrics_address=off"] },
    { name: "metrics", env: { OTEL_SDK_DISABLED: "true" }, args: [] },
    // Spans made and propagated (the default with no collector), not exported.
    { name: "spans", env: { OTEL_TRACES_SAMPLER: "always_on" }, args: [] },
    { name: "tracing", env: exporting, args: ["--metrics_address=off"] },
    { name: "both", env: exporting, args: [] },
  ];
  const pairs: Pair[] = [];
  try {
    for (const setup of setups) pairs.push(await startSetup(setup, registryDir));
    const results: Round[][] = setups.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (const [i, pair] of pairs.entries()) results[i]!.push(await runRound(pair, roundMs));
    }
    const ratio = (i: number) => roundRatioText(results[i]!, results[0]!);
    console.log(
      `observability: unary echo, 64-byte payload, 32 in flight, server and load in separate processes, ` +
        `${rounds} alternating rounds of ${roundMs} ms`,
    );
    for (const [i, setup] of setups.entries()) console.log(roundsLine(setup.name, results[i]!));
    console.log(`  metrics on / off:                          ${ratio(1)}; goal >= 0.97x`);
    console.log(`  spans made, not exported, + metrics / off: ${ratio(2)}`);
    console.log(`  tracing (100%, exported) / off:            ${ratio(3)}; goal >= 0.85x`);
    console.log(`  tracing (100%, exported) + metrics / off:  ${ratio(4)}`);
    console.log(`  OTLP export requests received: ${receiver.requests()}`);
  } finally {
    stopPairs(pairs);
    receiver.server.close();
    await rm(registryDir, { recursive: true, force: true });
  }
}
