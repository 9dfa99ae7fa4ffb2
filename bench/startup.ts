/**
 * bench/startup: what a tsmicro service costs before its first call, on
 * plain node running compiled JS (no loader), each figure from a fresh
 * process, rounds alternating between tsmicro and its baseline:
 * - `import('@tsmicro/runtime')` against `import('@grpc/grpc-js')` alone:
 *   wall time from spawn to exit and peak RSS (goal within 1.5x on both);
 * - a service on the local registry from spawn to registered against a raw
 *   grpc-js server from spawn to listening (goal within 1.3x);
 * - the idle RSS of those two processes (goal within 15 MB).
 * Each also reports the CPU time the process used (user + system), which a
 * busy machine disturbs less than wall time. A third process, the same
 * service with tracing and metrics off, shows what those two defaults cost.
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
/** Imports are cheap: three times as many rounds of them. */
const importRounds = rounds * 3;
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

interface ImportCost {
  readonly ms: number;
  readonly cpuMs: number;
  readonly peakMb: number;
}

/** Wall time from spawn to exit of a process that imports `specifier`, its CPU time and its peak RSS. */
async function importCost(specifier: string): Promise<ImportCost> {
  const script =
    `await import(${JSON.stringify(specifier)}); const cpu = process.cpuUsage(); ` +
    `console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, maxRss: process.resourceUsage().maxRSS }));`;
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
  const { cpuMs, maxRss } = JSON.parse(output) as { cpuMs: number; maxRss: number };
  return { ms, cpuMs, peakMb: maxRss / 1024 };
}

interface StartCost {
  readonly ms: number;
  readonly cpuMs: number;
  readonly idleMb: number;
}

/** User + system CPU time a live process has used, in milliseconds (clock ticks of 10 ms). */
async function cpuMsOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Spawns a compiled program, times until it prints `started"`, reads its RSS once idle, and kills it. */
async function startCost(
  script: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<StartCost> {
  const start = performance.now();
  const child = spawn(process.execPath, [join(built, script), ...args], {
    cwd: root,
    env: { ...process.env, NODE_ENV: "production", ...env },
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
    const cpuMs = await cpuMsOf(child.pid!);
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const status = await readFile(`/proc/${child.pid}/status`, "utf8");
    return { ms, cpuMs, idleMb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024 };
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
  const grpcImport: ImportCost[] = [];
  const ourImport: ImportCost[] = [];
  const rawStart: StartCost[] = [];
  const ourStart: StartCost[] = [];
  const bareStart: StartCost[] = [];
  try {
    // One unrecorded round first: it warms the file cache for both sides.
    await importCost("@grpc/grpc-js");
    await importCost("@tsmicro/runtime");
    for (let round = 0; round < importRounds; round++) {
      grpcImport.push(await importCost("@grpc/grpc-js"));
      ourImport.push(await importCost("@tsmicro/runtime"));
    }
    for (let round = 0; round < rounds; round++) {
      rawStart.push(await startCost("bench/fixtures/startup-raw.js", []));
      ourStart.push(await startCost("bench/fixtures/startup-service.js", serviceArgs));
      bareStart.push(
        await startCost("bench/fixtures/startup-service.js", [...serviceArgs, "--metrics_address=off"], {
          OTEL_SDK_DISABLED: "true",
        }),
      );
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
        `(per round ${spread(perRound, 2)}${goal ? `; goal ${goal}` : ""})`,
    );
  };
  const of = <T, K extends keyof T>(list: readonly T[], key: K) => list.map((r) => r[key] as number);
  console.log(
    `startup: fresh node processes on compiled JS, medians of alternating rounds ` +
      `(${importRounds} of imports, ${rounds} of starts)`,
  );
  console.log(line("import @grpc/grpc-js, spawn to exit", of(grpcImport, "ms"), "ms"));
  console.log(line("import @tsmicro/runtime, spawn to exit", of(ourImport, "ms"), "ms"));
  console.log(line("import @grpc/grpc-js, CPU", of(grpcImport, "cpuMs"), "ms"));
  console.log(line("import @tsmicro/runtime, CPU", of(ourImport, "cpuMs"), "ms"));
  console.log(line("import @grpc/grpc-js, peak RSS", of(grpcImport, "peakMb"), "MB", 1));
  console.log(line("import @tsmicro/runtime, peak RSS", of(ourImport, "peakMb"), "MB", 1));
  ratio("import time tsmicro / grpc-js:", of(ourImport, "ms"), of(grpcImport, "ms"), "<= 1.5x");
  ratio("import CPU tsmicro / grpc-js:", of(ourImport, "cpuMs"), of(grpcImport, "cpuMs"), "");
  ratio("import peak RSS tsmicro / grpc-js:", of(ourImport, "peakMb"), of(grpcImport, "peakMb"), "<= 1.5x");
  console.log(line("raw grpc-js server, spawn to listening", of(rawStart, "ms"), "ms"));
  console.log(line("tsmicro service, spawn to registered (local)", of(ourStart, "ms"), "ms"));
  console.log(line("  the same, tracing and metrics off", of(bareStart, "ms"), "ms"));
  console.log(line("raw grpc-js server, CPU to listening", of(rawStart, "cpuMs"), "ms"));
  console.log(line("tsmicro service, CPU to registered", of(ourStart, "cpuMs"), "ms"));
  console.log(line("  the same, tracing and metrics off", of(bareStart, "cpuMs"), "ms"));
  ratio("start tsmicro / raw:", of(ourStart, "ms"), of(rawStart, "ms"), "<= 1.3x");
  ratio("start CPU tsmicro / raw:", of(ourStart, "cpuMs"), of(rawStart, "cpuMs"), "");
  ratio("start, tracing and metrics off / raw:", of(bareStart, "ms"), of(rawStart, "ms"), "");
  console.log(line(`raw grpc-js server, RSS after ${idleMs} ms idle`, of(rawStart, "idleMb"), "MB", 1));
  console.log(line(`tsmicro service, RSS after ${idleMs} ms idle`, of(ourStart, "idleMb"), "MB", 1));
  console.log(line("  the same, tracing and metrics off", of(bareStart, "idleMb"), "MB", 1));
  const extra = (list: readonly StartCost[]) => list.map((r, i) => r.idleMb - rawStart[i]!.idleMb);
  const extraLine = (label: string, list: readonly StartCost[], goal: string) =>
    console.log(
      `  ${label.padEnd(44)} ${median(extra(list)).toFixed(1)} MB ` +
        `(per round ${spread(extra(list), 1)}${goal ? `; goal ${goal}` : ""})`,
    );
  extraLine("idle RSS tsmicro - raw:", ourStart, "<= 15 MB");
  extraLine("idle RSS, tracing and metrics off - raw:", bareStart, "");
}
