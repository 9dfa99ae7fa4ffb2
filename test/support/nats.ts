import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedPort } from "./etcd.js";
import { findProgram } from "./programs.js";

/** The nats-server binary (Debian `nats-server`), or undefined when missing and not required: the suite is then skipped. */
export const natsProgram = findProgram("nats-server", "nats-server");

/** A real nats-server on 127.0.0.1, for one suite. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  /** Stops the server (SIGTERM, then SIGKILL); its port and JetStream store stay for start(). */
  kill(): Promise<void>;
  /**
   * Starts it again on the same port, and waits until it accepts clients: on the same store, or
   * with `empty`, on an empty one (a server whose JetStream store was lost).
   */
  start(options?: { readonly empty?: boolean }): Promise<void>;
  /** Stops it and removes the store. */
  stop(): Promise<void>;
}

/** Options of startNatsServer. */
export interface NatsServerOptions {
  /** Enables JetStream with a temporary store directory (`-js -sd DIR`). */
  readonly jetstream?: boolean;
}

const readyTimeoutMs = 10_000;
const stopTimeoutMs = 5_000;

/**
 * Starts nats-server on 127.0.0.1 with a free port (and JetStream on a
 * temporary store when asked) and waits until it says it is ready. The
 * server is killed by its own pid when this process exits, so a failing
 * suite leaves none behind.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const program = natsProgram;
  if (!program) throw new Error("nats-server is not installed (apt-get install nats-server)");
  const root = await mkdtemp(join(tmpdir(), "tsmicro-nats-"));
  const port = await closedPort();
  let child: ChildProcess | undefined;

  // Synchronous by necessity: an 'exit' handler cannot wait.
  const killNow = () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", killNow);

  const launch = async () => {
    const args = ["-a", "127.0.0.1", "-p", String(port), ...(options.jetstream ? ["-js", "-sd", root] : [])];
    const started = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
    child = started;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server not ready after ${readyTimeoutMs} ms:\n${log}`)),
        readyTimeoutMs,
      );
      started.stderr?.setEncoding("utf8");
      started.stderr?.on("data", (chunk: string) => {
        log = (log + chunk).slice(-4000);
        if (log.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code} before it was ready:\n${log}`));
      });
    });
  };

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    kill,
    async start(restart = {}) {
      if (restart.empty) {
        await rm(root, { recursive: true, force: true });
        await mkdir(root, { recursive: true });
      }
      await launch();
    },
    async stop() {
      await kill();
      process.removeListener("exit", killNow);
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await launch();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
