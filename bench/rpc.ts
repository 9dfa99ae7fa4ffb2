/**
 * bench/rpc: unary echo through `service.client` (registry, selector,
 * retries, the default middleware) against hand-written @grpc/grpc-js on the
 * same method and messages, alternating rounds in one run (start time and
 * footprint are bench/startup's). Goals: at least 0.9x raw throughput;
 * breaker + retries under 5% below the same client without them.
 */
import * as grpc from "@grpc/grpc-js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createService, silentLogger, type Caller, type ClientTransport, type Selector } from "@tsmicro/runtime";
import { breakerMiddleware, createRpcCaller } from "@tsmicro/runtime/internal";
import { Request, Response } from "../test/golden/10-services/services.js";
import { AlphaDefinition, type AlphaHandler } from "../test/golden/10-services/services.micro.js";
import { startRawServer } from "./fixtures/raw-server.js";

const concurrency = 32;
const roundMs = Number(process.env.BENCH_ROUND_MS ?? 3_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const payload = new Uint8Array(64).fill(7);

interface RoundResult {
  callsPerSecond: number;
  p50: number;
  p99: number;
}

/** Keeps `concurrency` calls in flight for `roundMs`, recording each call's latency. */
async function measure(call: () => Promise<unknown>): Promise<RoundResult> {
  const latencies: number[] = [];
  const until = performance.now() + roundMs;
  const worker = async () => {
    while (performance.now() < until) {
      const start = performance.now();
      await call();
      latencies.push(performance.now() - start);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    callsPerSecond: latencies.length / elapsed,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function throughput(): Promise<void> {
  // Baseline: raw grpc-js server and client.
  const raw = await startRawServer();
  const rawClient = new grpc.Client(raw.address, grpc.credentials.createInsecure());
  const rawCall = () =>
    new Promise<Response>((resolve, reject) =>
      rawClient.makeUnaryRequest(
        "/fixtures.services.v1.Alpha/Unary",
        (message: Request) => Buffer.from(Request.encode(message).finish()),
        (bytes: Buffer) => Response.decode(bytes),
        { id: "x", payload },
        { deadline: Date.now() + 5_000 },
        (error, response) => (error ? reject(error) : resolve(response!)),
      ),
    );

  // tsmicro: a service and a caller on the local registry.
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-bench-rpc-"));
  const args = ["--registry=local", `--registry_address=${dir}`];
  const server = createService({ name: "bench-echo", args, env: {}, logger: silentLogger() });
  const unsupported = () => {
    throw new Error("not benchmarked");
  };
  const handler: AlphaHandler = {
    unary: async (request) => ({ id: "tsmicro", payload: request.payload, sequence: 0 }),
    serverStream: unsupported,
    clientStream: unsupported,
    bidiStream: unsupported,
  };
  server.handle(AlphaDefinition, handler);
  await server.start();
  // The same service served on tsmicro's own HTTP/2 transport.
  const h2Server = createService({
    name: "bench-echo-h2",
    args: [...args, "--server_transport=h2"],
    env: {},
    logger: silentLogger(),
  });
  h2Server.handle(AlphaDefinition, handler);
  await h2Server.start();
  const caller = createService({ name: "bench-caller", args, env: {}, logger: silentLogger() });
  const client = caller.client(AlphaDefinition, "bench-echo");
  const tsmicroCall = () => client.unary({ id: "x", payload });
  // The same client without the circuit breaker and retries, to price them.
  const bareCaller = createService({
    name: "bench-bare-caller",
    args: [...args, "--client_retries=0"],
    env: {},
    logger: silentLogger(),
    breaker: false,
  });
  const bareClient = bareCaller.client(AlphaDefinition, "bench-echo");
  const bareCall = () => bareClient.unary({ id: "x", payload });
  // The same client as the first over tsmicro's own HTTP/2 transport.
  const h2Caller = createService({
    name: "bench-h2-caller",
    args: [...args, "--client_transport=h2"],
    env: {},
    logger: silentLogger(),
  });
  const h2Client = h2Caller.client(AlphaDefinition, "bench-echo");
  const h2Call = () => h2Client.unary({ id: "x", payload });
  // Both sides on it: the h2 client calling the h2 server.
  const h2BothClient = h2Caller.client(AlphaDefinition, "bench-echo-h2");
  const h2BothCall = () => h2BothClient.unary({ id: "x", payload });

  for (let i = 0; i < 2_000; i++) await Promise.all([rawCall(), tsmicroCall(), bareCall(), h2Call(), h2BothCall()]);
  const rawRuns: RoundResult[] = [];
  const ourRuns: RoundResult[] = [];
  const bareRuns: RoundResult[] = [];
  const h2Runs: RoundResult[] = [];
  const h2BothRuns: RoundResult[] = [];
  for (let round = 0; round < rounds; round++) {
    rawRuns.push(await measure(rawCall));
    ourRuns.push(await measure(tsmicroCall));
    bareRuns.push(await measure(bareCall));
    h2Runs.push(await measure(h2Call));
    h2BothRuns.push(await measure(h2BothCall));
  }
  const summary = (runs: RoundResult[]) => ({
    rate: median(runs.map((r) => r.callsPerSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    spread: `${Math.min(...runs.map((r) => r.callsPerSecond)).toFixed(0)}-${Math.max(...runs.map((r) => r.callsPerSecond)).toFixed(0)}`,
  });
  const base = summary(rawRuns);
  const ours = summary(ourRuns);
  const line = (label: string, s: ReturnType<typeof summary>) =>
    console.log(
      `  ${label.padEnd(46)} ${s.rate.toFixed(0).padStart(6)} calls/s (rounds ${s.spread})  p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms`,
    );
  console.log(
    `rpc: unary echo, 64-byte payload, ${concurrency} in flight, ${rounds} alternating rounds of ${roundMs} ms (goal >= 0.90x)`,
  );
  line("raw @grpc/grpc-js", base);
  const bare = summary(bareRuns);
  lastRawRate = base.rate;
  line("tsmicro service.client (breaker, retries)", ours);
  line("tsmicro, no breaker, no retries", bare);
  const h2 = summary(h2Runs);
  line("tsmicro service.client, --client_transport=h2", h2);
  const h2Both = summary(h2BothRuns);
  line("tsmicro, --transport=h2 (client and server)", h2Both);
  console.log(`  throughput ratio tsmicro / raw: ${(ours.rate / base.rate).toFixed(2)}x (goal >= 0.95x)`);
  console.log(`  throughput ratio tsmicro h2 client, grpc-js server / raw: ${(h2.rate / base.rate).toFixed(2)}x`);
  console.log(
    `  throughput ratio tsmicro h2 both sides / raw: ${(h2Both.rate / base.rate).toFixed(2)}x (goal >= 1.6x)`,
  );
  console.log(
    `  breaker + retry cost: ${(ours.rate / bare.rate).toFixed(2)}x of the same client without them (goal >= 0.95x)`,
  );

  rawClient.close();
  raw.server.forceShutdown();
  await caller.stop();
  await bareCaller.stop();
  await h2Caller.stop();
  await server.stop();
  await h2Server.stop();
  await rm(dir, { recursive: true, force: true });
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
