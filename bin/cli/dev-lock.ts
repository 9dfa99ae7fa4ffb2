import { createHash, randomBytes } from "node:crypto";
import {
  createLockFile,
  type LockHolderRecord,
  lockHolderRuns,
  recordedRunOf,
  thisProcessRecord,
} from "@tsmicro/runtime/internal";
import { readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { link, mkdir, readFile, rename, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout } from "node:timers/promises";

/**
 * Who holds a project folder's dev lock: a `tsmicro dev` running its service. On Linux also its
 * ProcessRecord (boot id, start in clock ticks, pid and time namespaces), so a reused pid is not
 * taken for the holder, nor a holder in another time namespace for a reused pid.
 */
export interface DevLockHolder extends LockHolderRecord {
  /** The folder it runs. */
  readonly dir: string;
  /**
   * The pid of the service it runs now, in a process group of its own (so a terminal's Ctrl-C
   * reaches it once, from the holder): a kill of the holder's group does not reach it.
   */
  readonly service?: number;
}

/** A held dev lock. */
export interface DevLock {
  /** Records the pid of the service the holder runs now (undefined: none), if the lock is still this holder's. */
  serving(pid: number | undefined): void;
  /** Removes the lock file if it is still this holder's; synchronous, for an `exit` handler. */
  release(): void;
}

/**
 * The lock file of `dir`'s `tsmicro dev`: beside the local registry (per user, under
 * `$XDG_RUNTIME_DIR` or the temp folder), named after the folder's path, so the project's
 * own folder gets no file of it and a stale one goes with the machine's runtime folder.
 */
function lockPath(dir: string, env: NodeJS.ProcessEnv): string {
  const key = createHash("sha256").update(realFolder(dir)).digest("hex").slice(0, 24);
  const uid = process.getuid?.() ?? "user";
  return join(env["XDG_RUNTIME_DIR"] || tmpdir(), `tsmicro-${uid}`, "dev", `${key}.json`);
}

/** `dir` with its symbolic links resolved: one folder reached by two paths is one service. */
function realFolder(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

/**
 * Takes the dev lock of `dir` for this process, or answers who holds it: two `npm run dev` of
 * one service would each start it, and the second, failing on the database or the port, would
 * wait under the watcher and take it over on the next save. A lock whose holder has died
 * (`kill -9`) is taken over.
 */
export async function takeDevLock(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<DevLock | DevLockHolder> {
  const path = lockPath(dir, env);
  await mkdir(join(path, ".."), { recursive: true });
  const mine = JSON.stringify({
    dir: resolve(dir),
    ...(await thisProcessRecord()),
    pid: process.pid,
  } satisfies DevLockHolder);
  for (let attempt = 0; attempt < 10; attempt++) {
    if (await createLockFile(path, mine)) return heldLock(path, mine);
    const existing = await readFile(path, "utf8").catch(() => undefined);
    if (existing === undefined) continue;
    const holder = parseHolder(existing);
    if (holder && (await isRunning(holder))) return holder;
    await removeStale(path, existing);
  }
  throw new Error(`could not take ${path}: other starts of ${resolve(dir)} keep taking it`);
}

/**
 * Removes the stale lock `stale` (its text, as read) from `path`, and no other: two starts that both
 * read it stale would otherwise each remove what is there, the second the lock the first had just
 * taken, and both would run the service. On Linux, under a takeover lock the kernel lets go of
 * when its holder dies however it dies: while it is held, only the lock's holder (dead, as it is
 * stale) could change the file, so what is there when read again is what goes.
 */
async function removeStale(path: string, stale: string): Promise<void> {
  const takeover = await holdTakeover(path);
  if (takeover === undefined) return removeStaleAside(path, stale);
  try {
    if ((await readFile(path, "utf8").catch(() => undefined)) === stale) await unlink(path).catch(() => {});
  } finally {
    takeover.close();
  }
}

/**
 * Where there is no takeover lock: the stale file is renamed aside first, which one start alone
 * can do to a given file, then checked, and a lock another start took since goes back in place with
 * `link`, which puts nothing over a file made there meanwhile (its holder's newer record). Left
 * open: a third start taking the lock in the moment it is aside, which then runs beside the one put
 * back.
 */
async function removeStaleAside(path: string, stale: string): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.stale`;
  try {
    await rename(path, aside);
  } catch {
    // Gone: another start has removed it, and the next attempt takes its place or meets its taker.
    return;
  }
  if ((await readFile(aside, "utf8").catch(() => undefined)) !== stale) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
}

/**
 * How long a start waits before trying again for a takeover lock another start holds (a takeover is
 * a few file operations), and how many times, before it does without (a holder stopped with SIGSTOP).
 */
const takeoverRetryMs = 5;
const takeoverTries = 400;

/**
 * Linux: the takeover lock of the lock at `path`, an abstract Unix socket listening (a name, no
 * file, gone with its process), waited for while another start holds it; undefined elsewhere, or
 * when it cannot be had (then the stale lock is renamed aside instead).
 */
async function holdTakeover(path: string): Promise<Server | undefined> {
  if (process.platform !== "linux") return undefined;
  const name = `\0tsmicro-dev-takeover-${createHash("sha256").update(path).digest("hex").slice(0, 32)}`;
  for (let tries = 0; tries < takeoverTries; tries++) {
    const server = createServer();
    const failure = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once("error", resolve);
      server.listen(name, () => resolve(undefined));
    });
    if (failure === undefined) return server.unref();
    if (failure.code !== "EADDRINUSE") return undefined;
    await setTimeout(takeoverRetryMs);
  }
  return undefined;
}

/** Who holds `dir`'s dev lock now, if a live process does: what `tsmicro run` checks before it starts anything. */
export async function devLockHolder(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DevLockHolder | undefined> {
  const text = await readFile(lockPath(dir, env), "utf8").catch(() => undefined);
  const holder = text === undefined ? undefined : parseHolder(text);
  return holder && (await isRunning(holder)) ? holder : undefined;
}

/** Whether `taken` is a held lock rather than the holder that refused it. */
export function isHeld(taken: DevLock | DevLockHolder): taken is DevLock {
  return "release" in taken;
}

function heldLock(path: string, taken: string): DevLock {
  let mine = taken;
  return {
    serving(pid) {
      const { service: _, ...holder } = JSON.parse(mine) as DevLockHolder;
      const next = JSON.stringify(pid === undefined ? holder : { ...holder, service: pid });
      const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
      try {
        if (readFileSync(path, "utf8") !== mine) return;
        // Renamed over it: a reader sees the old record or the new, never half of one.
        writeFileSync(temporary, next, { flag: "wx" });
        renameSync(temporary, path);
        mine = next;
      } catch {
        // Gone (the runtime folder removed): nothing to record in. A temporary left behind goes with that folder.
      }
    },
    release() {
      try {
        if (readFileSync(path, "utf8") === mine) unlinkSync(path);
      } catch {
        // Gone already.
      }
    },
  };
}

function parseHolder(text: string): DevLockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<DevLockHolder>;
    if (typeof value.pid !== "number" || typeof value.dir !== "string") return undefined;
    return {
      pid: value.pid,
      dir: value.dir,
      ...recordedRunOf(value),
      ...(typeof value.service === "number" ? { service: value.service } : {}),
    };
  } catch {
    // Damaged: as good as stale.
    return undefined;
  }
}

/** Whether the holder still runs: its pid is alive and, on Linux, is the same run of the same process (lockHolderRuns). */
function isRunning(holder: DevLockHolder): Promise<boolean> {
  return lockHolderRuns(holder);
}
