/**
 * bench/startup: what a tsmicro service costs before its first call, on
 * plain node running compiled JS (no loader), each figure from a fresh
 * process, rounds alternating between tsmicro and its baseline:
 * - `import('@tsmicro/runtime')` against `import('@grpc/grpc-js')` alone:
 *   wall time from spawn to exit and peak RSS (goal within 1.5x on both);
 * - a service on the local registry from spawn to registered against a raw
 *   grpc-js server from spawn to listening (goal within 1.3x);
 * - the idle RSS of those two processes (goal within 15 MB).
 * The fixtures (bench/fixtures/startup-*.ts and the golden files they
 * import) are compiled to `.tmp/bench-startup/` first.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { stripTypeScriptTypes } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const idleMs = Number(process.env.BENCH_IDLE_MS ?? 2_000);
const built = join(root, ".tmp/bench-startup");
const sources = [
  "bench/fixtures/startup-service.ts",
  "bench/fixtures/startup-raw.ts",
  "bench/fixtures/raw-server.ts",
  "test/golden/10-services/services.ts",
  "test/golden/10-services/services.micro.ts",
];

/** Compiles the fixtures to JS under `built` (node's own type stripping), keeping their relative paths. */
async function compileFixtures(): Promise<void> {
  for (const source of sources) {
    const outputText = stripTypeScriptTypes(await readFile(join(root, source), "utf8"));
    const out = join(built, source.replace(/\.ts$/, ".js"));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
  // Plain node reads `.js` under .tmp as ES modules only with a package.json saying so.
  await writeFile(join(built, "package.json"), '{ "type": "module" }\n');
}

/** Wall time from spawn to exit of a process that imports `specifier`, and its peak RSS. */
async function importCost(specifier: string): Promise<{ ms: number; peakMb: number }> {
  const script = `await import(${JSON.stringify(specifier)}); console.log(process.resourceUsage().maxRSS);`;
  const start = performance.now();
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const ms = performance.now() - start;
  if (code !== 0) throw new Error(`importing ${specifier} exited with ${code}`);
  return { ms, peakMb: Number(output.trim()) / 1024 };
}

/** Spawns a compiled program, times until it prints `started"`, reads its RSS once idle, and kills it. */
async function startCost(script: string, args: readonly string[]): Promise<{ ms: number; idleMb: number }> {
  const start = performance.now();
  const child = spawn(process.execPath, [join(built, script), ...args], {
    cwd: root,
    env: { ...process.env, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('started"')) resolve();
      });
      child.once("exit", (code) => reject(new Error(`${script} exited with ${code} before starting:\n${output}`)));
    });
    const ms = performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const status = await readFile(`/proc/${child.pid}/status`, "utf8");
    return { ms, idleMb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 };
  } finally {
    child.kill("SIGKILL");
  }
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: readonly number[], digits = 0) =>
  `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;
/** Relative standard deviation, in percent: the round-to-round noise of one series. */
function noise(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return (Math.sqrt(variance) / mean) * 100;
}

/** Runs the startup benchmark. */
export async function benchStartup(): Promise<void> {
  await compileFixtures();
  const registryDir = await mkdtemp(join(tmpdir(), "tsmicro-bench-startup-"));
  const serviceArgs = ["--registry=local", `--registry_address=${registryDir}`, "--log_level=info"];
  const grpcImport: { ms: number; peakMb: number }[] = [];
  const ourImport: { ms: number; peakMb: number }[] = [];
  const rawStart: { ms: number; idleMb: number }[] = [];
  const ourStart: { ms: number; idleMb: number }[] = [];
  try {
    // One unrecorded round first: it warms the file cache for both sides.
    await importCost("@grpc/grpc-js");
    await importCost("@tsmicro/runtime");
    for (let round = 0; round < rounds; round++) {
      grpcImport.push(await importCost("@grpc/grpc-js"));
      ourImport.push(await importCost("@tsmicro/runtime"));
      rawStart.push(await startCost("bench/fixtures/startup-raw.js", []));
      ourStart.push(await startCost("bench/fixtures/startup-service.js", serviceArgs));
    }
  } finally {
    await rm(registryDir, { recursive: true, force: true });
  }

  const line = (label: string, values: readonly number[], unit: string, digits = 0) =>
    `  ${label.padEnd(44)} ${median(values).toFixed(digits).padStart(6)} ${unit} ` +
    `(rounds ${spread(values, digits)}, noise ±${noise(values).toFixed(1)}%)`;
  const ratio = (label: string, ours: readonly number[], base: readonly number[], goal: string) => {
    const perRound = ours.map((value, i) => value / base[i]!);
    console.log(
      `  ${label.padEnd(44)} ${(median(ours) / median(base)).toFixed(2)}x ` +
        `(per round ${spread(perRound, 2)}; goal ${goal})`,
    );
  };
  console.log(`startup: fresh node processes on compiled JS, ${rounds} alternating rounds, medians`);
  console.log(
    line(
      "import @grpc/grpc-js, spawn to exit",
      grpcImport.map((r) => r.ms),
      "ms",
    ),
  );
  console.log(
    line(
      "import @tsmicro/runtime, spawn to exit",
      ourImport.map((r) => r.ms),
      "ms",
    ),
  );
  console.log(
    line(
      "import @grpc/grpc-js, peak RSS",
      grpcImport.map((r) => r.peakMb),
      "MB",
      1,
    ),
  );
  console.log(
    line(
      "import @tsmicro/runtime, peak RSS",
      ourImport.map((r) => r.peakMb),
      "MB",
      1,
    ),
  );
  ratio(
    "import time tsmicro / grpc-js:",
    ourImport.map((r) => r.ms),
    grpcImport.map((r) => r.ms),
    "<= 1.5x",
  );
  ratio(
    "import peak RSS tsmicro / grpc-js:",
    ourImport.map((r) => r.peakMb),
    grpcImport.map((r) => r.peakMb),
    "<= 1.5x",
  );
  console.log(
    line(
      "raw grpc-js server, spawn to listening",
      rawStart.map((r) => r.ms),
      "ms",
    ),
  );
  console.log(
    line(
      "tsmicro service, spawn to registered (local)",
      ourStart.map((r) => r.ms),
      "ms",
    ),
  );
  ratio(
    "start tsmicro / raw:",
    ourStart.map((r) => r.ms),
    rawStart.map((r) => r.ms),
    "<= 1.3x",
  );
  console.log(
    line(
      `raw grpc-js server, RSS after ${idleMs} ms idle`,
      rawStart.map((r) => r.idleMb),
      "MB",
      1,
    ),
  );
  console.log(
    line(
      `tsmicro service, RSS after ${idleMs} ms idle`,
      ourStart.map((r) => r.idleMb),
      "MB",
      1,
    ),
  );
  const extra = ourStart.map((r, i) => r.idleMb - rawStart[i]!.idleMb);
  console.log(
    `  ${"idle RSS tsmicro - raw:".padEnd(44)} ${median(extra).toFixed(1)} MB ` +
      `(per round ${spread(extra, 1)}; goal <= 15 MB)`,
  );
}
