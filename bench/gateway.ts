/**
 * bench/gateway: HTTP JSON -> gRPC unary through `tsmicro api` (createGateway, as shipped)
 * against a hand-written fastify + @grpc/grpc-js proxy of the same routes
 * (bench/fixtures/fastify-grpc-proxy.ts), alternating rounds in one run. The gateway runs twice,
 * on its default h2 transport and on `--transport=grpc`; all proxies are child processes started
 * the same way, afresh in each round, in front of the same backend process (fixture 16's node),
 * which every proxy has loaded once before the first round;
 * autocannon drives them from this process, so it never shares a proxy's event loop. Besides
 * req/s and latency it reads each proxy's CPU time from /proc, which says more than req/s when
 * load generator, proxy and backend share two cores, and the backend's and autocannon's per
 * request (what a proxy's calls and answers cost the processes around it). Goal: at least 1.0x the baseline on the
 * grpc-js transport.
 *
 * BENCH_ROUNDS, BENCH_ROUND_MS, BENCH_WARMUP_MS and BENCH_CONNECTIONS change the run; BENCH_COMPARE=<dir>
 * adds the gateway (on --transport=grpc) of another built checkout to every round, to see a
 * change against the build before it; BENCH_PROFILE=<dir> then
 * runs the gateway on --transport=grpc (BENCH_PROFILE_TRANSPORT=h2: the default) and the baseline
 * once more under `node --cpu-prof`, on POST (BENCH_PROFILE_ROUTE=get: on GET), and prints where each spends its CPU per
 * request, and the gateway's top self-time functions in tsmicro code.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { killAllNodes, startNode } from "../test/support/nodes.js";
import { cpuSeconds } from "./process-cpu.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const roundMs = Number(process.env.BENCH_ROUND_MS ?? 5_000);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
// A proxy's CPU per request keeps falling for several seconds of load as its code warms up: in
// consecutive 3 s windows of one process at saturation, the baseline settled from its third window
// (6 s), the gateway only from its fourth or fifth (9-12 s), 15-25 % above its settled cost before;
// V8 compiles on threads that the three busy processes here leave little CPU, and the gateway has
// more code to compile. The rounds measure settled throughput, as a long-running gateway serves.
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 12_000);

/** One route both proxies serve, and the request autocannon repeats. */
interface Route {
  readonly name: string;
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: string;
}

const routes: readonly Route[] = [
  {
    name: "CreateBook: POST /v1/shelves/{shelf}/books, body: book",
    method: "POST",
    path: "/v1/shelves/s1/books?request_id=r1",
    body: JSON.stringify({
      title: "Dune",
      author: "Frank Herbert",
      read: true,
      pages: 412,
      genre: "GENRE_FICTION",
      tags: ["classic", "science fiction"],
    }),
  },
  { name: "GetShelf: GET /v1/shelves/{shelf}", method: "GET", path: "/v1/shelves/s1" },
];

/** One proxy under test: a process listening on `address`. */
interface Proxy {
  readonly label: string;
  readonly pid: number;
  readonly address: string;
}

interface RoundResult {
  readonly requests: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** The proxy process's CPU time per request, in microseconds. */
  readonly cpuUs: number;
  /** The backend's CPU time per request, in microseconds: what the proxy's calls cost it. */
  readonly backendUs: number;
  /** This process's (autocannon's) CPU time per request, in microseconds: what the proxy's answers cost to read. */
  readonly loadUs: number;
}

/** The backend process both proxies call, whose CPU per request is read too. */
let backendPid = 0;

/** Drives one proxy for `ms` with `connections` keep-alive connections; any error or non-2xx fails the run. */
async function load(proxy: Proxy, route: Route, ms: number): Promise<RoundResult> {
  const cpuBefore = await cpuSeconds(proxy.pid);
  const backendBefore = await cpuSeconds(backendPid);
  const loadBefore = process.cpuUsage();
  const result = await autocannon({
    url: `http://${proxy.address}${route.path}`,
    method: route.method,
    ...(route.body === undefined ? {} : { body: route.body, headers: { "content-type": "application/json" } }),
    connections,
    duration: ms / 1000,
  });
  const cpu = (await cpuSeconds(proxy.pid)) - cpuBefore;
  const backendCpu = (await cpuSeconds(backendPid)) - backendBefore;
  const loadCpu = process.cpuUsage(loadBefore);
  if (result.errors > 0 || result.non2xx > 0)
    throw new Error(`${proxy.label}: ${result.errors} errors and ${result.non2xx} non-2xx answers on ${route.name}`);
  return {
    requests: result.requests.total,
    rate: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs: (cpu * 1e6) / result.requests.total,
    backendUs: (backendCpu * 1e6) / result.requests.total,
    loadUs: (loadCpu.user + loadCpu.system) / result.requests.total,
  };
}

/** One answer from a proxy, to check all map the route alike before timing them. */
async function answerOf(proxy: Proxy, route: Route): Promise<string> {
  const response = await fetch(`http://${proxy.address}${route.path}`, {
    method: route.method,
    ...(route.body === undefined ? {} : { body: route.body, headers: { "content-type": "application/json" } }),
  });
  return `${response.status} ${await response.text()}`;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Relative standard deviation, in percent: the round-to-round noise of one series. */
function noise(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return (Math.sqrt(variance) / mean) * 100;
}

/** How to start one proxy under test: a script and its arguments, run in a checkout (this one by default). */
interface ProxySpec {
  readonly label: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

/**
 * Runs the rounds: each round starts every proxy afresh (in alternating order), warms it up and
 * loads it on each route, then stops it. Two processes of the same code differ by 10-20 % in CPU
 * per request on this machine (how their code got optimized), so a proxy measured as one process
 * would carry its process's luck in every round; fresh ones spread it over the rounds. Every
 * process must answer each route as the first one did.
 */
async function measureAll(specs: readonly ProxySpec[]): Promise<void> {
  const answers = new Map<Route, { label: string; answer: string }>();
  const runs: RoundResult[][][] = routes.map(() => specs.map(() => []));
  await warmBackend(specs);
  for (let round = 0; round < rounds; round++) {
    // Alternate the order, so a slow drift of the machine hits every proxy alike.
    const order = [...specs.keys()];
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const spec = specs[i]!;
      const node = await startNode(spec.script, spec.args, {}, spec.cwd);
      try {
        const proxy: Proxy = { label: spec.label, pid: node.pid, address: node.address };
        for (const [r, route] of routes.entries()) {
          const answer = await answerOf(proxy, route);
          const first = answers.get(route);
          if (!first) answers.set(route, { label: spec.label, answer });
          else if (first.answer !== answer)
            throw new Error(
              `${spec.label} and ${first.label} answer ${route.name} differently:\n  ${answer}\n  ${first.answer}`,
            );
          await load(proxy, route, warmupMs);
          runs[r]![i]!.push(await load(proxy, route, roundMs));
        }
      } finally {
        node.kill("SIGTERM");
        await node.exited;
      }
    }
  }
  for (const [r, route] of routes.entries()) report(route, answers.get(route)!.answer, specs, runs[r]!);
}

/**
 * Loads the backend through every proxy once before the rounds: the backend's code for a client's
 * way of calling (grpc-js's headers and frames, or h2's) warms up on its first calls, and without
 * this the proxy that first calls so in round 1 would pay for it, and the next one not.
 */
async function warmBackend(specs: readonly ProxySpec[]): Promise<void> {
  for (const spec of specs) {
    const node = await startNode(spec.script, spec.args, {}, spec.cwd);
    try {
      const proxy: Proxy = { label: spec.label, pid: node.pid, address: node.address };
      for (const route of routes) await load(proxy, route, warmupMs);
    } finally {
      node.kill("SIGTERM");
      await node.exited;
    }
  }
}

/** Prints one route's rounds: the baseline is the last proxy. */
function report(route: Route, answer: string, specs: readonly ProxySpec[], runs: RoundResult[][]): void {
  const base = runs.at(-1)!;
  const gateways = specs.slice(0, -1);
  console.log(`  ${route.name} (answer: ${answer})`);
  for (const [round, b] of base.entries())
    console.log(
      `    round ${round + 1}: baseline ${b.rate.toFixed(0).padStart(6)} req/s; ` +
        gateways.map((g, i) => `${g.label} ${(runs[i]![round]!.rate / b.rate).toFixed(2)}x`).join(", "),
    );
  for (const [i, proxy] of specs.entries()) {
    const list = runs[i]!;
    console.log(
      `    ${proxy.label.padEnd(38)} ${median(list.map((r) => r.rate))
        .toFixed(0)
        .padStart(6)} req/s (noise ±${noise(list.map((r) => r.rate)).toFixed(1)}%)  ` +
        `p50 ${median(list.map((r) => r.p50)).toFixed(1)} ms  p99 ${median(list.map((r) => r.p99)).toFixed(1)} ms  ` +
        `CPU µs/req: proxy ${median(list.map((r) => r.cpuUs)).toFixed(0)}, ` +
        `backend ${median(list.map((r) => r.backendUs)).toFixed(0)}, load ${median(list.map((r) => r.loadUs)).toFixed(0)}`,
    );
  }
  for (const [i, gateway] of gateways.entries()) {
    const ratios = runs[i]!.map((run, round) => run.rate / base[round]!.rate);
    const cpuRatio = median(runs[i]!.map((run, round) => run.cpuUs / base[round]!.cpuUs));
    console.log(
      `    ${gateway.label} / baseline: median ${median(ratios).toFixed(2)}x ` +
        `(rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}); ` +
        `CPU per request ${cpuRatio.toFixed(2)}x the baseline's`,
    );
  }
}

/** Self time per request, by where the code lives and by function, from one `--cpu-prof` profile. */
interface Costs {
  readonly byPlace: Map<string, number>;
  readonly byFunction: Map<string, number>;
  readonly busyUsPerRequest: number;
}

/** Where a profiled frame's code lives: a package, a tsmicro runtime folder, node core or native. */
function placeOf(url: string, functionName: string): string {
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg) return pkg;
  const gateway = /\/runtime\/gateway\/dist\/([^/]+)$/.exec(url)?.[1];
  if (gateway) return "tsmicro gateway";
  const runtime = /\/runtime\/dist\/([^/]+)\//.exec(url)?.[1];
  if (runtime) return `tsmicro runtime/${runtime}`;
  if (url.includes("/test/golden/")) return "generated ts-proto code";
  if (url.startsWith("node:")) return `node:${url.split("/")[1] === "internal" ? url.split("/")[2] : url.slice(5)}`;
  if (url.includes("/bench/")) return "bench fixture";
  return functionName.startsWith("(") ? functionName : "native";
}

/**
 * Runs one proxy under `node --cpu-prof`, warms it up, loads it for `ms` and reads its profile,
 * keeping only the samples of the measured window.
 */
async function profileProxy(
  dir: string,
  script: string,
  args: readonly string[],
  route: Route,
  ms: number,
): Promise<Costs> {
  const spawned = performance.now();
  const child = spawn(
    process.execPath,
    ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--import", "tsx", join(root, script), ...args],
    { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const address = await new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split("\n").find((l) => l.includes('started"'));
      if (line) resolve((JSON.parse(line) as { address: string }).address);
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code} before starting`)));
  });
  const proxy = { label: `${script} (profiled)`, pid: child.pid!, address };
  await load(proxy, route, warmupMs);
  const windowStartUs = (performance.now() - spawned) * 1000;
  const requests = (await load(proxy, route, ms)).requests;
  const windowEndUs = (performance.now() - spawned) * 1000;
  child.kill("SIGTERM");
  await exited;

  // tsx's loader thread writes a profile too: the main thread's is the largest.
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile") && f.includes(`.${child.pid}.`));
  const texts = await Promise.all(files.map((f) => readFile(join(dir, f), "utf8")));
  const text = texts.reduce((a, b) => (b.length > a.length ? b : a), "");
  if (text === "") throw new Error(`no .cpuprofile of ${script} in ${dir}`);
  interface ProfileNode {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const profile = JSON.parse(text) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let at = 0;
  let busy = 0;
  for (const [i, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const frame = byId.get(id)!.callFrame;
    // The profile starts with the process, a few ms after the spawn: close enough to cut startup out.
    if (at < windowStartUs || at > windowEndUs || frame.functionName === "(idle)") continue;
    const place = placeOf(frame.url, frame.functionName);
    const fn = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/(node_modules|work\/main)\//, "")}:${frame.lineNumber + 1}`;
    byPlace.set(place, (byPlace.get(place) ?? 0) + delta / requests);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta / requests);
    busy += delta;
  }
  return { byPlace, byFunction, busyUsPerRequest: busy / requests };
}

/**
 * Profiles the gateway on the grpc-js transport (the goal's) and the baseline on one route, and
 * prints where each spends its CPU per request. BENCH_PROFILE_TRANSPORT=h2 profiles the default.
 */
async function profile(dir: string, registryFlags: readonly string[], backend: string, route: Route): Promise<void> {
  const ms = 2 * roundMs;
  const transport = process.env.BENCH_PROFILE_TRANSPORT ?? "grpc";
  const gatewayArgs = [...registryFlags, `--transport=${transport}`];
  const gateway = await profileProxy(dir, "bench/fixtures/gateway-proxy.ts", gatewayArgs, route, ms);
  const baseline = await profileProxy(dir, "bench/fixtures/fastify-grpc-proxy.ts", [backend], route, ms);
  console.log(
    `  CPU profiles (${route.name}, ${ms} ms each after warm-up, in ${dir}): busy ` +
      `${gateway.busyUsPerRequest.toFixed(0)} µs/req in the gateway on --transport=${transport}, ${baseline.busyUsPerRequest.toFixed(0)} µs/req by hand`,
  );
  console.log(`    ${"self time by place".padEnd(44)} gateway   by hand  (µs/req)`);
  const places = [...new Set([...gateway.byPlace.keys(), ...baseline.byPlace.keys()])];
  places.sort((a, b) => (gateway.byPlace.get(b) ?? 0) - (gateway.byPlace.get(a) ?? 0));
  for (const place of places.slice(0, 16))
    console.log(
      `    ${place.padEnd(44)} ${(gateway.byPlace.get(place) ?? 0).toFixed(1).padStart(7)} ` +
        `${(baseline.byPlace.get(place) ?? 0).toFixed(1).padStart(9)}`,
    );
  console.log("    top self time in tsmicro runtime and gateway code (µs/req):");
  const ours = [...gateway.byFunction.entries()].filter(
    ([fn]) => fn.includes("runtime/dist/") || fn.includes("runtime/gateway/dist/"),
  );
  for (const [fn, us] of ours.sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`    ${us.toFixed(1).padStart(7)}  ${fn}`);
}

/** Runs the gateway benchmark. */
export async function benchGateway(): Promise<void> {
  const compareDir = process.env.BENCH_COMPARE && resolve(process.env.BENCH_COMPARE);
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-bench-gateway-"));
  const registryFlags = ["--registry=local", `--registry_address=${dir}`];
  try {
    const backend = await startNode("test/fixtures/gateway-node.ts", registryFlags);
    backendPid = backend.pid;
    const specs: ProxySpec[] = [
      { label: "gateway, h2 (default)", script: "bench/fixtures/gateway-proxy.ts", args: registryFlags },
      {
        label: "gateway, --transport=grpc",
        script: "bench/fixtures/gateway-proxy.ts",
        args: [...registryFlags, "--transport=grpc"],
      },
      // BENCH_COMPARE=DIR: another checkout, built (the commit before a change, say), whose gateway runs beside this one's.
      ...(compareDir
        ? [
            {
              label: `gateway of ${basename(compareDir)}, --transport=grpc`,
              script: "bench/fixtures/gateway-proxy.ts",
              args: [...registryFlags, "--transport=grpc"],
              cwd: compareDir,
            },
          ]
        : []),
      { label: "fastify + grpc-js by hand", script: "bench/fixtures/fastify-grpc-proxy.ts", args: [backend.address] },
    ];
    console.log(
      `gateway: HTTP JSON -> gRPC unary, autocannon with ${connections} connections, ${rounds} alternating ` +
        `rounds of ${roundMs} ms per proxy and route, each round on fresh proxy processes warmed up for ${warmupMs} ms; ` +
        "one backend process for all (goal >= 1.0x on grpc-js)",
    );
    await measureAll(specs);
    const profileDir = process.env.BENCH_PROFILE;
    // BENCH_PROFILE_ROUTE=get profiles GetShelf: no body to map, so what is left is the gateway's own path.
    const profiled = process.env.BENCH_PROFILE_ROUTE?.toLowerCase() === "get" ? routes[1]! : routes[0]!;
    if (profileDir) await profile(profileDir, registryFlags, backend.address, profiled);
  } finally {
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  }
}
