/**
 * bench/rpc: unary echo, server and load in separate processes as users
 * deploy them, alternating rounds in one run (start time and footprint are
 * bench/startup's):
 * - raw @grpc/grpc-js server and client: the baseline;
 * - raw gRPC framing on node:http2 both sides: the ceiling no Node gRPC
 *   transport can pass (bench/fixtures/raw-h2.ts);
 * - tsmicro: a service on the local registry called through another
 *   service's `service.client` (registry, selector, breaker, retries: the
 *   default middleware) on the grpc-js transport (`--transport=grpc` both
 *   sides), then on the h2 transport (the default), and on grpc-js without
 *   breaker and retries;
 * - an idempotent method (Beta.Get) with per-attempt timeouts (the default)
 *   and without, to price their timers and bookkeeping on the happy path.
 * Ratios are the median over rounds of each setup's rate against the
 * baseline's in the same round. Goals: tsmicro >= 0.95x on grpc-js,
 * >= 1.6x on h2; breaker + retries under 5% below the same client without them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Caller, ClientTransport, Selector } from "@tsmicro/runtime";
import { breakerMiddleware, createRpcCaller } from "@tsmicro/runtime/internal";
import { AlphaDefinition } from "../test/golden/10-services/services.micro.js";
import {
  median,
  type Pair,
  type Round,
  roundRatioText,
  roundsLine,
  runRound,
  startPair,
  stopPairs,
} from "./process-pair.js";

const roundMs = Number(process.env.BENCH_ROUND_MS ?? 3_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const payload = new Uint8Array(64).fill(7);

interface Setup {
  readonly name: string;
  readonly start: (registryDir: string) => Promise<Pair>;
}

/** A raw server fixture and the load process's raw client of the same kind. */
function raw(name: string, server: string, client: "grpc-js" | "h2"): Setup {
  return {
    name,
    start: () =>
      startPair({
        server,
        serverArgs: [],
        printsAddress: true,
        load: "bench/fixtures/rpc-load.ts",
        loadArgs: (address) => [client, address!],
        env: process.env,
      }),
  };
}

/** The tsmicro echo node and a caller service, both with `flags`; `get` calls Beta.Get (idempotent) instead of Alpha.Unary. */
function tsmicro(name: string, flags: readonly string[], clientFlags: readonly string[] = [], get = false): Setup {
  return {
    name,
    start: (registryDir) => {
      const args = ["--registry=local", `--registry_address=${registryDir}`, "--log_level=warn", ...flags];
      const echo = `echo-${name.replace(/\W+/g, "-")}`;
      return startPair({
        server: "test/fixtures/echo-node.ts",
        serverArgs: [...args, "--metrics_address=off"],
        load: "bench/fixtures/rpc-load.ts",
        loadArgs: () => ["tsmicro", ...args, "--metrics_address=off", ...clientFlags],
        env: {
          ...process.env,
          OTEL_SDK_DISABLED: "true",
          ECHO_NAME: echo,
          ECHO_TARGET: echo,
          ...(get ? { ECHO_BETA: "1", RPC_METHOD: "get" } : {}),
        },
      });
    },
  };
}

async function throughput(): Promise<void> {
  const setups = [
    raw("raw @grpc/grpc-js", "bench/fixtures/raw-server.ts", "grpc-js"),
    raw("raw node:http2 gRPC framing (ceiling)", "bench/fixtures/raw-h2.ts", "h2"),
    tsmicro("tsmicro service.client, --transport=grpc", ["--transport=grpc"]),
    tsmicro("tsmicro service.client, h2 (default)", []),
    tsmicro("tsmicro, grpc-js, no breaker, no retries", ["--transport=grpc"], ["--breaker=off", "--client_retries=0"]),
    tsmicro("tsmicro, idempotent Beta.Get", [], [], true),
    tsmicro("tsmicro, Beta.Get, no attempt timeouts", [], ["--client_attempt_timeout=none"], true),
  ];
  const registryDir = await mkdtemp(join(tmpdir(), "tsmicro-bench-rpc-"));
  const pairs: Pair[] = [];
  try {
    for (const setup of setups) pairs.push(await setup.start(registryDir));
    const results: Round[][] = setups.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (const [i, pair] of pairs.entries()) results[i]!.push(await runRound(pair, roundMs));
    }
    const ratio = (i: number, base = 0) => roundRatioText(results[i]!, results[base]!);
    console.log(
      "rpc: unary echo, 64-byte payload, 32 in flight, server and load in separate processes, " +
        `${rounds} alternating rounds of ${roundMs} ms`,
    );
    for (const [i, setup] of setups.entries()) console.log(roundsLine(setup.name, results[i]!, 42));
    lastRawRate = median(results[0]!.map((r) => r.rate));
    console.log(`  raw node:http2 / raw grpc-js (the ceiling): ${ratio(1)}`);
    console.log(`  tsmicro on grpc-js / raw grpc-js: ${ratio(2)}; goal >= 0.95x`);
    console.log(`  tsmicro on h2 / raw grpc-js: ${ratio(3)}; goal >= 1.6x; of the ceiling: ${ratio(3, 1)}`);
    console.log(`  breaker + retry cost: ${ratio(2, 4)} of the same client without them; goal >= 0.95x`);
    console.log(
      `  per-attempt timeouts on an idempotent method: ${ratio(5, 6)} of the same calls without them; goal >= 0.98x`,
    );
  } finally {
    stopPairs(pairs);
    await rm(registryDir, { recursive: true, force: true });
  }
}

/**
 * The client path alone, no network: a caller over a transport that answers
 * at once, with and without breaker + retries. Over loopback the network's
 * noise dwarfs the middleware's cost; here the cost is all there is.
 */
async function middlewareCost(): Promise<void> {
  const node = { id: "n", address: "local", metadata: {} };
  const selector: Selector = {
    select: async () => () => node,
    mark: () => {},
    start: async () => {},
    stop: async () => {},
  };
  const response = { id: "x", payload, sequence: 0 };
  const transport: ClientTransport = { call: () => Promise.resolve(response), close: async () => {} };
  const method = AlphaDefinition.methods.unary;
  const request = { id: "x", payload, sequence: 0 };
  const bare = createRpcCaller("bench", { selector, transport, retries: 0 });
  const guarded = createRpcCaller("bench", { selector, transport, retries: 1, middleware: [breakerMiddleware()] });
  const opsPerSecond = async (caller: Caller) => {
    const until = performance.now() + 1_000;
    let count = 0;
    while (performance.now() < until) {
      for (let i = 0; i < 1_000; i++) await caller.unary(method, request);
      count += 1_000;
    }
    return count;
  };
  await opsPerSecond(bare);
  await opsPerSecond(guarded);
  const bareRuns: number[] = [];
  const guardedRuns: number[] = [];
  for (let round = 0; round < 5; round++) {
    bareRuns.push(await opsPerSecond(bare));
    guardedRuns.push(await opsPerSecond(guarded));
  }
  const b = median(bareRuns);
  const g = median(guardedRuns);
  console.log("client path without network (median of 5 alternating 1 s rounds):");
  console.log(`  no breaker, no retries: ${(b / 1000).toFixed(0)}k calls/s (${(1e6 / b).toFixed(2)} µs per call)`);
  console.log(`  breaker + retries:      ${(g / 1000).toFixed(0)}k calls/s (${(1e6 / g).toFixed(2)} µs per call)`);
  console.log(
    `  added per call: ${(1e6 / g - 1e6 / b).toFixed(2)} µs; at the raw grpc-js rate above that costs ` +
      `${(((1e6 / g - 1e6 / b) * lastRawRate) / 1e4).toFixed(2)}% of one core`,
  );
}

let lastRawRate = 0;

/** Runs the rpc benchmark. */
export async function benchRpc(): Promise<void> {
  await throughput();
  await middlewareCost();
}
