import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { chmod, chown, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { findFile } from "./programs.js";

/** A PostgreSQL server started for a suite. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust auth, no password). */
  readonly url: string;
  /**
   * Stops the server as SIGSTOP stops it (a paused VM, a debugger, a stuck host): the postmaster and
   * every process it started (the backends of open connections), by their pids. New connections are
   * still accepted by the kernel, and nothing answers them or the queries of open ones.
   */
  freeze(): void;
  /** Resumes a frozen server (SIGCONT to the same processes). */
  thaw(): void;
  /** Stops the server (fast shutdown, then SIGKILL) and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * The folder of Debian's PostgreSQL binaries (newest version), or undefined
 * when `postgresql` is not installed and not required: the suite is then skipped.
 */
export const postgresBinDir = await findPostgresBinDir();

const readyTimeoutMs = 30_000;
const stopTimeoutMs = 10_000;

/**
 * Starts a throwaway PostgreSQL on 127.0.0.1 and a free port: `initdb` into
 * a temporary folder with trust auth, then `postgres` on it. Postgres
 * refuses to run as root, so under root both run as the `postgres` user.
 * The server is killed if this process exits first.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir;
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  // The postgres user must reach the folder: root's own TMPDIR may be closed to it, /tmp never is.
  const root = await mkdtemp(join(owner ? "/tmp" : tmpdir(), "tsmicro-postgres-"));
  const dataDir = join(root, "data");
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chmod(root, 0o700);
  }
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  try {
    execFileSync(
      join(bin, "initdb"),
      ["-D", dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"],
      { ...asOwner, stdio: "pipe" },
    );
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String((error as { stderr?: unknown }).stderr ?? error)}`);
  }
  const port = await freePort();
  const child = spawn(
    join(bin, "postgres"),
    ["-D", dataDir, "-k", root, "-p", String(port), "-h", "127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"],
    { ...asOwner, stdio: ["ignore", "ignore", "pipe"] },
  );
  // Synchronous by necessity: an 'exit' handler cannot wait. Kills this server by its own pid.
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", kill);
  let log = "";
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`postgres not ready after ${readyTimeoutMs} ms:\n${log}`)),
      readyTimeoutMs,
    );
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      log = (log + chunk).slice(-4000);
      if (log.includes("ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited early (${code}):\n${log}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGINT"); // fast shutdown: ends sessions and stops at once
      const timer = setTimeout(kill, stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    }
    process.removeListener("exit", kill);
    await rm(root, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  let frozen: number[] = [];
  const freeze = () => {
    // The postmaster first, so it starts no process after its children are listed.
    process.kill(child.pid!, "SIGSTOP");
    frozen = [child.pid!, ...childrenOf(child.pid!)];
    for (const pid of frozen.slice(1)) process.kill(pid, "SIGSTOP");
  };
  const thaw = () => {
    // The postmaster last: a child listed had exited already (a backend of a pool closed just before),
    // and once running the postmaster reaps it, after which signalling its pid fails and the rest stay stopped.
    for (const pid of frozen.splice(0).reverse()) process.kill(pid, "SIGCONT");
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    freeze,
    thaw,
    stop: async () => {
      thaw();
      await stop();
    },
  };
}

/** The pids of the processes whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // The fields after the command, which may hold spaces and parentheses: state, then the parent's pid.
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false; // gone since the listing
      }
    })
    .map(Number);
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new Error("running as root, PostgreSQL needs the postgres user, which the Debian package postgresql creates");
  }
}

async function findPostgresBinDir(): Promise<string | undefined> {
  const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  const newest = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0];
  const postgres = findFile(`/usr/lib/postgresql/${newest ?? "VERSION"}/bin/postgres`, "postgresql");
  return postgres ? join(postgres, "..") : undefined;
}
