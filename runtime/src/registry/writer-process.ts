/**
 * The process that wrote a local registry entry, recorded in the entry so a
 * reader on the same machine can drop the node of a process that was killed
 * (`kill -9`, a crash, the OOM killer) at once instead of after its TTL.
 * Only a reader that can be sure decides: the same boot of the same kernel,
 * the same pid namespace (a container has its own) and time namespace, on Linux. Any other
 * reader (another container or machine sharing the folder, another OS, an
 * entry of an older tsmicro without the record) leaves it to the TTL.
 */
import { bootId, ownPidNamespace, ownTimeNamespace, processRun } from "../platform/process-identity.js";

/** Who wrote an entry: one run of one process, as /proc names it. */
export interface WriterProcess {
  readonly pid: number;
  /** Its start in clock ticks since boot: tells it from a later process that reused the pid. */
  readonly ticks: number;
  /** The kernel's boot id: a pid means nothing after a reboot, or on another machine. */
  readonly boot: string;
  /** The inode of its pid namespace: a pid means nothing in another namespace (another container). */
  readonly pidNamespace: number;
  /**
   * The inode of its time namespace, 0 where the kernel has none: /proc shows ticks shifted by the
   * reader's namespace's boot time offset (unshare --time), so ticks read in another one would make
   * a live writer look like a later process on its pid.
   */
  readonly timeNamespace: number;
}

/** This process as an entry records it; undefined where readers could not check it (not Linux, /proc unreadable). */
export async function thisWriterProcess(): Promise<WriterProcess | undefined> {
  const [boot, run, pidNamespace, timeNamespace] = await Promise.all([
    bootId(),
    processRun(process.pid),
    ownPidNamespace(),
    ownTimeNamespace(),
  ]);
  if (boot === undefined || run === undefined || pidNamespace === undefined || timeNamespace === undefined)
    return undefined;
  return { pid: process.pid, ticks: run.ticks, boot, pidNamespace, timeNamespace };
}

/** The writer record of an entry read from a file, or undefined when it has none or a damaged one (the TTL decides). */
export function parseWriterProcess(value: unknown): WriterProcess | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { pid, ticks, boot, pidNamespace, timeNamespace } = value as Record<string, unknown>;
  // A pid of 0 or below would name a process group to kill(2): only a real pid is checked.
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || !Number.isSafeInteger(ticks)) return undefined;
  if (typeof boot !== "string" || boot === "" || !Number.isSafeInteger(pidNamespace)) return undefined;
  if (!Number.isSafeInteger(timeNamespace)) return undefined;
  return {
    pid: pid as number,
    ticks: ticks as number,
    boot,
    pidNamespace: pidNamespace as number,
    timeNamespace: timeNamespace as number,
  };
}

/** A check of one writer, shared by the reads that want it while it is fresh. */
interface Check {
  readonly at: number;
  readonly gone: Promise<boolean>;
  usedAt: number;
}

/** Checks nobody asked for in this long are dropped, so the cache holds only writers still seen. */
const forgetAfterMs = 60_000;

/**
 * Whether writers of entries are gone, checked against /proc and cached per
 * writer: a lookup reuses a check younger than its `maxAgeMs`, so reads in a
 * loop do not read /proc for every node on every call, while a watch's
 * rescan asks afresh and so learns of a death within one poll.
 */
export class WriterChecks {
  readonly #checks = new Map<string, Check>();
  #own: Promise<WriterProcess | undefined> | undefined;
  #sweptAt = Date.now();

  /** This process's record: what it writes into its entries, and what tells which writers it can check. */
  own(): Promise<WriterProcess | undefined> {
    this.#own ??= thisWriterProcess();
    return this.#own;
  }

  /**
   * Whether `writer` has certainly exited, by a check at most `maxAgeMs` old; false when it
   * runs, and when this process cannot tell (no record, another boot or pid namespace).
   */
  async gone(writer: WriterProcess | undefined, maxAgeMs: number): Promise<boolean> {
    if (writer === undefined) return false;
    const own = await this.own();
    if (own === undefined || !sameClockAndPids(writer, own)) return false;
    const now = Date.now();
    this.#sweep(now);
    const key = `${writer.pid}/${writer.ticks}`;
    let check = this.#checks.get(key);
    if (check === undefined || now - check.at > maxAgeMs) {
      check = { at: now, gone: runEnded(writer), usedAt: now };
      this.#checks.set(key, check);
    }
    check.usedAt = now;
    return check.gone;
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < forgetAfterMs) return;
    this.#sweptAt = now;
    for (const [key, check] of this.#checks) if (now - check.usedAt > forgetAfterMs) this.#checks.delete(key);
  }
}

/** Whether `writer`'s pid and ticks mean to this process what they meant to it: one boot, pid namespace and time namespace. */
function sameClockAndPids(writer: WriterProcess, own: WriterProcess): boolean {
  return (
    writer.boot === own.boot && writer.pidNamespace === own.pidNamespace && writer.timeNamespace === own.timeNamespace
  );
}

/** Whether the run `writer` names has ended: its pid is free, a zombie, or another process's (reused). */
async function runEnded(writer: WriterProcess): Promise<boolean> {
  const run = await processRun(writer.pid);
  if (run !== undefined) return run.exited || run.ticks !== writer.ticks;
  // Not in /proc: gone, unless /proc hides it (mounted with hidepid, another user's process), which kill(2) sees through.
  try {
    process.kill(writer.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
