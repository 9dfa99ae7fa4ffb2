import { randomBytes } from "node:crypto";
import { unlinkSync } from "node:fs";
import { link, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { SetupError } from "../errors/setup-error.js";
import {
  type LockHolderRecord,
  lockHolderRuns,
  recordedRunOf,
  type ProcessRecord,
  thisProcessRecord,
} from "../platform/process-identity.js";

/** The lock file's name inside a PGlite data directory (inside, so it travels with a mounted volume). */
export const lockFileName = ".tsmicro.lock";

/** A held data directory lock. */
export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still this holder's. */
  release(): Promise<void>;
  /** The same, synchronously, for a process `exit` handler. */
  releaseSync(): void;
}

/**
 * Who holds the lock. On Linux also its ProcessRecord (boot id, start in clock ticks, pid and time
 * namespaces), so a lock from before a reboot, or whose pid a live process reused, is stale, and
 * one of a holder in another time namespace (whose ticks read otherwise here) is not taken for one.
 */
interface Holder extends LockHolderRecord {
  readonly host: string;
  /** When the holding process started: tells a reused pid (pid 1 in every container) from the holder. */
  readonly started: number;
}

/**
 * Creates `dir` and its missing parents one by one, and checks it is a folder: Node's recursive
 * mkdir loops forever under /proc, and answers a file in the way with a bare EEXIST.
 */
async function makeDataDir(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = resolve(dir);
  for (;;) {
    const found = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (found) {
      if (!found.isDirectory())
        throw Object.assign(new Error(`${current} is a file, not a folder`), { code: "ENOTDIR" });
      break;
    }
    missing.unshift(current);
    if (dirname(current) === current) break;
    current = dirname(current);
  }
  for (const folder of missing)
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
}

/** Takeover guards older than this are left by a crash between two file operations. */
const abandonedGuardMs = 10_000;

/**
 * Takes the lock on a PGlite data directory, because PGlite lets two
 * processes open one directory and then corrupts it. The lock file holds
 * the owner's pid, host and start time; a lock whose process is gone is
 * taken over, and a live one is a TSM_ERR_DATABASE_LOCKED SetupError.
 * `shown` is how messages name the directory (as the user gave it).
 */
export async function lockDataDir(dataDir: string, shown: string = dataDir): Promise<DataDirLock> {
  await makeDataDir(dataDir).catch((error: NodeJS.ErrnoException) => {
    throw new SetupError(
      "TSM_ERR_DATABASE_DIR",
      shown,
      error.code === "ENOTDIR" ? error.message : (error.code ?? error.message),
    );
  });
  const path = join(dataDir, lockFileName);
  const own = await thisProcessRecord();
  const mine = JSON.stringify({
    host: hostname(),
    started: processStarted(),
    ...own,
    pid: process.pid,
  } satisfies Holder);
  for (let attempt = 0; attempt < 20; attempt++) {
    if (await createLockFile(path, mine)) return heldLock(path, mine);
    const existing = await readIfPresent(path);
    if (existing === undefined) continue;
    const holder = parseHolder(existing);
    if (holder && (await isRunning(holder))) {
      throw new SetupError("TSM_ERR_DATABASE_LOCKED", shown, describeHolder(holder, path, own));
    }
    if (await takeOverStale(path, existing, mine)) return heldLock(path, mine);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new SetupError("TSM_ERR_DATABASE_LOCKED", shown, "other processes starting at the same time");
}

function heldLock(path: string, mine: string): DataDirLock {
  return {
    path,
    async release() {
      if ((await readIfPresent(path)) === mine) await unlink(path).catch(ignoreMissing);
    },
    releaseSync() {
      // Best effort at exit: a lock left behind names a dead pid and is taken over.
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}

/**
 * Creates the lock file with its content in one step: written to a unique
 * temporary file, then hard-linked to the lock's name, which fails when the
 * name exists. (A bare `wx` open would let a reader see an empty file
 * between the create and the write.)
 */
export async function createLockFile(path: string, content: string): Promise<boolean> {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
  await writeFile(temporary, content, { flag: "wx" });
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  } finally {
    await unlink(temporary).catch(ignoreMissing);
  }
}

/**
 * Replaces a stale lock. Two processes may find the same stale lock; a
 * guard file (created with `wx`) lets one at a time check that the lock
 * still holds the stale content before removing it, so neither removes a
 * lock the other has just taken.
 */
async function takeOverStale(path: string, stale: string, mine: string): Promise<boolean> {
  const guard = `${path}.takeover`;
  try {
    await writeFile(guard, String(process.pid), { flag: "wx" });
  } catch (error) {
    if (errorCode(error) !== "EEXIST") throw error;
    const since = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (since > abandonedGuardMs) await unlink(guard).catch(ignoreMissing);
    return false;
  }
  try {
    if ((await readIfPresent(path)) === stale) await unlink(path).catch(ignoreMissing);
    return await createLockFile(path, mine);
  } finally {
    await unlink(guard).catch(ignoreMissing);
  }
}

async function isRunning(holder: Holder): Promise<boolean> {
  // A pid on another host cannot be checked: assume it runs rather than risk the data.
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return holder.started === processStarted();
  // Its pid alive, but after a reboot (a lock left by a shutdown's SIGTERM) or a pid reuse, it is another process.
  return lockHolderRuns(holder);
}

function describeHolder(holder: Holder, path: string, own: ProcessRecord | undefined): string {
  if (holder.host !== hostname()) {
    return `process ${holder.pid} on host ${holder.host} (if it no longer runs there, delete ${path})`;
  }
  // Its pid names another process here, alive: the holder (a container's, before a restart) cannot be checked.
  if (holder.pidNamespace !== undefined && own !== undefined && holder.pidNamespace !== own.pidNamespace) {
    return (
      `process ${holder.pid} of another pid namespace (another container, or this one before a restart), ` +
      `which this process cannot see (if it no longer runs, delete ${path})`
    );
  }
  if (holder.pid === process.pid) return `this process (it is open already; close that Database first)`;
  return `process ${holder.pid}`;
}

function parseHolder(content: string): Holder | undefined {
  try {
    const value = JSON.parse(content) as Partial<Holder>;
    if (typeof value.pid === "number" && typeof value.host === "string" && typeof value.started === "number") {
      return {
        pid: value.pid,
        host: value.host,
        started: value.started,
        ...recordedRunOf(value),
      };
    }
  } catch {
    // Not ours, or damaged: treated as stale.
  }
  return undefined;
}

function processStarted(): number {
  return Math.round(performance.timeOrigin);
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

function ignoreMissing(error: unknown): void {
  if (errorCode(error) !== "ENOENT") throw error;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined;
}
