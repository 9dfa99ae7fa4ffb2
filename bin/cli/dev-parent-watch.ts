// Loaded into a service by `tsmicro dev` (node --import): the service runs in a process group of
// its own, so when `tsmicro dev` ends without stopping it (kill -9) it would run on, registered,
// holding its database, with nobody to stop it. It stops as on a stop signal instead, and is killed
// when it has not stopped within what `tsmicro dev` gives a service stopping for a restart: one that
// ignores SIGTERM, or hangs in its stop, would run on all the same.

import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";

/** How often the service checks that `tsmicro dev` is still its parent. */
const parentCheckMs = 500;

/**
 * How long tsmicro dev gives the service to stop before it kills it (its --shutdown_grace and a
 * margin), as tsmicro dev passed it on; none in a process started otherwise.
 */
const killAfterMs = Number(process.env["TSMICRO_DEV_KILL_AFTER_MS"]);

/**
 * Kills this process, and the processes of the group it leads (as tsmicro dev's SIGKILL does), once
 * `ms` have passed: from a thread of its own, which runs on when the service's stop holds its event
 * loop. The thread does not keep a service that stops in time running.
 */
function killAfter(ms: number): void {
  const pid = process.pid;
  const code = `setTimeout(() => {
    try { process.kill(-${pid}, "SIGKILL"); } catch { process.kill(${pid}, "SIGKILL"); }
  }, ${ms});`;
  // No --import of the service's (tsx, this file) in the thread: it runs this line alone.
  new Worker(code, { eval: true, execArgv: [] }).unref();
}

/** The tsmicro dev that started the service, as it names itself; passed on to what the service starts too. */
const devPid = Number(process.env["TSMICRO_DEV_PARENT"]);

/**
 * Whether process `pid` runs: not gone, and not a zombie (killed, and not yet reaped by its parent:
 * its children already have another parent).
 */
function runs(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return true;
  }
}

/**
 * Whether tsmicro dev had already ended when this file loaded (killed as the service started): the
 * parent this process has now is then another (init), whose staying would keep the service running.
 * A process the service starts has the service as its parent, with tsmicro dev running.
 */
const devEndedBefore = Number.isSafeInteger(devPid) && devPid > 0 && process.ppid !== devPid && !runs(devPid);

/** Stops the service, and has it killed if it has not stopped in time. */
function stopOrphaned(): void {
  if (Number.isFinite(killAfterMs) && killAfterMs > 0) killAfter(killAfterMs);
  process.kill(process.pid, "SIGTERM");
}

const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid === parent && !devEndedBefore) return;
  clearInterval(timer);
  stopOrphaned();
}, parentCheckMs);
timer.unref();
