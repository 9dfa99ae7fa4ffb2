import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { findProgram } from "./programs.js";

/** The prometheus binary (Debian `prometheus`), or undefined when missing and not required. */
export const prometheusProgram = findProgram("prometheus", "prometheus");
/** promtool, from the same Debian package. */
export const promtoolProgram = findProgram("promtool", "prometheus");

/** A real Prometheus on 127.0.0.1 that a test started. */
export interface PrometheusServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly pid: number;
  /** Runs an instant PromQL query through the HTTP API; throws on an error answer. */
  query(promql: string): Promise<PromSample[]>;
  /** Its output so far, for failure messages. */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL by pid) and removes its data directory. */
  stop(): Promise<void>;
}

/** One sample of an instant vector. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

const readyTimeoutMs = 20_000;

/**
 * Starts Prometheus with `config` (YAML text) on a free loopback port with a
 * temporary TSDB directory, and waits until `/-/ready` answers. It is killed
 * when this process exits, so a failing suite leaves none behind.
 */
export async function startPrometheus(config: string): Promise<PrometheusServer> {
  const program = prometheusProgram;
  if (!program) throw new Error("prometheus is not installed (apt-get install prometheus)");
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-prometheus-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    program,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  // Synchronous by necessity: an 'exit' handler cannot wait. Kills by the child's own pid.
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", kill);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(kill, 5_000);
      await exited;
      clearTimeout(timer);
    }
    process.off("exit", kill);
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within ${readyTimeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    pid: child.pid!,
    log: () => output,
    stop,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== "success") throw new Error(`query ${promql} failed: ${body.error ?? response.status}`);
      if (body.data?.resultType !== "vector") throw new Error(`query ${promql} is no instant vector`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}
