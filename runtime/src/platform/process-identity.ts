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
