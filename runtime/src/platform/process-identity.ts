/**
 * Telling one run of a process from another on Linux through /proc: what
 * locks and the local registry record of whoever wrote them, so a reader can
 * say the writer is gone. Nothing here holds state.
 */
import { readFile, readlink } from "node:fs/promises";

/** One run of a process as /proc shows it. */
export interface ProcessRun {
  /** Its start in clock ticks since boot: a later process that reused the pid started later. */
  readonly ticks: number;
  /** Exited (killed, crashed) and not yet reaped by its parent: a zombie holds nothing and serves nothing. */
  readonly exited: boolean;
}

/**
 * On Linux, the boot id and the start time of `pid` in clock ticks since
 * boot: together they name one run of one process exactly, with no wall
 * clock involved; and whether it has exited (a zombie its parent has not
 * reaped yet). Undefined elsewhere, or when `pid` is not visible.
 */
export async function linuxIdentity(
  pid: number,
): Promise<{ boot: string; ticks: number; exited: boolean } | undefined> {
  if (process.platform !== "linux") return undefined;
  const [boot, run] = await Promise.all([bootId(), processRun(pid)]);
  return boot !== undefined && run !== undefined ? { boot, ...run } : undefined;
}

/** The kernel's boot id (Linux): new on every boot, so it tells a pid of this boot from one of an earlier boot. */
export async function bootId(): Promise<string | undefined> {
  try {
    return (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The run of `pid` that /proc shows now, or undefined when it shows none (no such process, not Linux, hidden). */
export async function processRun(pid: number): Promise<ProcessRun | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after the parenthesised command name (which may hold spaces) start at field 3, the state;
  // starttime is field 22.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  return Number.isInteger(ticks) ? { ticks, exited: fields[0] === "Z" || fields[0] === "X" } : undefined;
}

/**
 * The inode of this process's pid namespace (Linux): a pid names the same process only within one
 * namespace, and a container has its own. Undefined when it cannot be read, or when /proc is
 * mounted from another namespace than this process's (its pids would not be this process's).
 */
export async function ownPidNamespace(): Promise<number | undefined> {
  if (process.platform !== "linux") return undefined;
  try {
    const [self, namespace] = await Promise.all([readlink("/proc/self"), readlink("/proc/self/ns/pid")]);
    if (self !== String(process.pid)) return undefined;
    return namespaceInode(namespace, "pid");
  } catch {
    return undefined;
  }
}

/**
 * The inode of this process's time namespace (Linux), 0 on a kernel without time namespaces (before
 * 5.6): /proc shows a process's start (its ticks) shifted by the boot time offset of the namespace of
 * whoever reads it, so two processes compare ticks only within one. Undefined when it cannot be read.
 */
export async function ownTimeNamespace(): Promise<number | undefined> {
  if (process.platform !== "linux") return undefined;
  try {
    return namespaceInode(await readlink("/proc/self/ns/time"), "time");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? 0 : undefined;
  }
}

/** The inode in a namespace link's text (`pid:[4026531836]`), or undefined when it is not one. */
function namespaceInode(link: string, kind: string): number | undefined {
  const inode = Number(new RegExp(`^${kind}:\\[(\\d+)\\]$`).exec(link)?.[1]);
  return Number.isSafeInteger(inode) && inode > 0 ? inode : undefined;
}

/**
 * One run of one process, as a lock or a local registry entry records who wrote it: what a reader
 * on the same machine needs to tell whether that run still goes.
 */
export interface ProcessRecord {
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

/** This process as a record names it; undefined where readers could not check it (not Linux, /proc unreadable). */
export async function thisProcessRecord(): Promise<ProcessRecord | undefined> {
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

/** The record in `value` (read from a file), or undefined when it has none or a damaged one. */
export function parseProcessRecord(value: unknown): ProcessRecord | undefined {
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

/**
 * Whether `record`'s pid and ticks mean to this process (`own`) what they meant to its writer: one
 * boot, pid namespace and time namespace. Only then does a difference in ticks say the run ended.
 */
export function sameClockAndPids(record: ProcessRecord, own: ProcessRecord): boolean {
  return (
    record.boot === own.boot && record.pidNamespace === own.pidNamespace && record.timeNamespace === own.timeNamespace
  );
}

/** Whether the run `record` names has ended: its pid is free, a zombie, or another process's (reused). */
export async function runEnded(record: ProcessRecord): Promise<boolean> {
  const run = await processRun(record.pid);
  if (run !== undefined) return run.exited || run.ticks !== record.ticks;
  // Not in /proc: gone, unless /proc hides it (mounted with hidepid, another user's process), which kill(2) sees through.
  try {
    process.kill(record.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** What a lock records of its holder: a whole ProcessRecord, or the part an older tsmicro wrote, or the pid alone. */
export type LockHolderRecord = Pick<ProcessRecord, "pid"> & Partial<Omit<ProcessRecord, "pid">>;

/**
 * Whether the process a lock names as its holder still runs, as far as this process can tell: a lock
 * errs on the side of what it guards. Its pid free or a zombie: gone. Of another boot: gone (the pid,
 * alive now, is another process). A record whose ticks mean the same here (sameClockAndPids): gone
 * when they differ. Anything else (no record, one written in another pid or time namespace, a /proc
 * this process cannot read): it runs.
 */
export async function lockHolderRuns(holder: LockHolderRecord): Promise<boolean> {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (process.platform !== "linux") return true;
  const [now, own] = await Promise.all([processRun(holder.pid), thisProcessRecord()]);
  // Killed and not reaped yet by its parent: it holds nothing.
  if (now?.exited) return false;
  // A record of an older tsmicro has the boot without the namespaces: a reboot frees its lock too.
  if (own !== undefined && holder.boot !== undefined && holder.boot !== own.boot) return false;
  const record = parseProcessRecord(holder);
  if (now === undefined || own === undefined || record === undefined || !sameClockAndPids(record, own)) return true;
  return record.ticks === now.ticks;
}

/** The parts of a ProcessRecord a lock file holds beside the pid, each only when it is of its type: lockHolderRuns decides with what there is. */
export function recordedRunOf(value: { readonly [field: string]: unknown }): Omit<LockHolderRecord, "pid"> {
  const { boot, ticks, pidNamespace, timeNamespace } = value;
  return {
    ...(typeof boot === "string" ? { boot } : {}),
    ...(typeof ticks === "number" ? { ticks } : {}),
    ...(typeof pidNamespace === "number" ? { pidNamespace } : {}),
    ...(typeof timeNamespace === "number" ? { timeNamespace } : {}),
  };
}
