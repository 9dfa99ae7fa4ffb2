import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { constants } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { asksForHelp, defaultServiceSettings, resolveServiceSettings } from "@tsmicro/runtime/internal";
import { CommandError } from "./command-error.js";
import { type DevLock, isHeld, takeDevLock } from "./dev-lock.js";
import { FileWatches, type TreeWatch, watchTree } from "./dev-watch.js";

/** Ctrl-C, a stop, and the terminal closing: each stops the service once, then this process. */
const stopSignals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * What a service restarted for a change gets to stop beyond its --shutdown_grace, which bounds its
 * drain (the calls and event handlers in flight finish): to deregister first and close what it holds
 * after. Past both, it is killed.
 */
const stopMarginMs = 5_000;

/** After this long stopping for a restart, the terminal is told the old service still is: a save seems to do nothing. */
const slowStopNoticeMs = 1_000;

/** The first wait before starting again a service killed by a signal; doubled each time it dies so, up to the most. */
const firstBackoffMs = 1_000;
const mostBackoffMs = 30_000;
/** A service that ran this long before a signal killed it was well: the wait starts again from the first. */
const wellAfterMs = 30_000;

/** Within this long of the first, a stop signal is the same Ctrl-C delivered twice. */
const repeatedSignalMs = 1_000;

/** A save is a burst of events (write, rename, a formatter's second write): one restart this long after the last. */
const settleMs = 100;

/** The files whose change restarts the service: code and JSON, not an editor's swap or backup files. */
const codeFile = /\.(c|m)?[jt]sx?$|\.json$/;

/** Stops the service once this process has ended without stopping it: see dev-parent-watch.ts. */
const parentWatch = new URL("./dev-parent-watch.js", import.meta.url).href;

/** Says a mistake tsx cannot compile in one line, not esbuild's stack: see dev-compile-errors.ts. */
const compileErrors = new URL("./dev-compile-errors.js", import.meta.url).href;

/** Names each file the service loads from outside node_modules: see dev-imports.ts. */
const importsNamed = new URL("./dev-imports.js", import.meta.url).href;

/** Tells dev-imports.ts the pid of the tsmicro dev that gave fd 3, as dev-imports.ts reads it. */
const devParentVariable = "TSMICRO_DEV_PARENT";

/** Tells dev-parent-watch.ts how long the service, once this process has gone, gets to stop before it is killed. */
const killAfterVariable = "TSMICRO_DEV_KILL_AFTER_MS";

/** How often this process checks that what started it is still there. */
const parentCheckMs = 500;

/** What this command's own lines start with, among the service's. */
const tag = "[tsmicro dev]";

function say(line: string): void {
  process.stderr.write(`${tag} ${line}\n`);
}

/**
 * `tsmicro dev ENTRY [flag…]`, a service's `npm run dev`: takes the folder's dev lock (a second
 * one of the same folder is refused, naming the first), runs ENTRY (TypeScript, through tsx)
 * with the flags, restarts it when a file under ENTRY's folder changes, or another file it has
 * imported (outside node_modules), and starts it again after a backoff when a signal killed it
 * (`kill -9`, the OOM killer), as a supervisor would; a service that exits on its own waits for a
 * change. A stop signal stops the service, then this.
 * Resolves with the exit status.
 */
export async function devCommand(cwd: string, words: readonly string[]): Promise<number> {
  const [entry, ...flags] = words;
  if (entry === undefined || entry.startsWith("-"))
    throw new CommandError("name the service's entry file first, as tsmicro dev src/main.ts [flags]");
  const file = resolve(cwd, entry);
  if (!existsSync(file)) throw new CommandError(`no ${entry} in ${cwd}: name the service's entry file`);
  const taken = await takeDevLock(cwd).catch((error: NodeJS.ErrnoException) => {
    throw new CommandError(
      `cannot write tsmicro dev's lock${error.path ? ` ${error.path}` : ""} (${error.code ?? error.message}): ` +
        "set XDG_RUNTIME_DIR to a folder you can write",
    );
  });
  if (!isHeld(taken)) {
    throw new CommandError(
      `${basename(resolve(cwd))} runs already in ${taken.dir} (tsmicro dev, pid ${taken.pid}: npm run dev or ` +
        `tsmicro run in another terminal): stop it there with Ctrl-C, or kill ${taken.pid}, then start it again`,
    );
  }
  process.on("exit", () => taken.release());
  try {
    return await new DevSupervisor(cwd, entry, flags, taken).run();
  } finally {
    taken.release();
  }
}

/** The one service `tsmicro dev` runs, and what it does when it ends, a file changes, or a stop arrives. */
class DevSupervisor {
  private child: ChildProcess | undefined;
  /** Set while a change or a stop has the service stopping: its end is expected. */
  private stopping = false;
  private stopRequested = false;
  private backoffMs = firstBackoffMs;
  private startedAt = 0;
  private firstStopAt = 0;
  /** The stop signal that ended this: its number makes the exit status when the service had to be killed. */
  private stopSignal: NodeJS.Signals = "SIGTERM";
  /** How long the service gets to drain its calls in flight when it stops: its --shutdown_grace. */
  private readonly graceMs: number;
  private pendingStart: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private watcher: TreeWatch | undefined;
  /** The folder whose changes restart the service: the entry's. */
  private readonly watched: string;
  /** The files outside it the service has imported. */
  private readonly imports = new FileWatches((path) => this.changed(path));
  private finish: (code: number) => void = () => {};

  constructor(
    private readonly dir: string,
    private readonly entry: string,
    private readonly flags: readonly string[],
    /** Told each service's pid: tsmicro run, killing this process's group, kills the service's too. */
    private readonly lock: DevLock,
  ) {
    this.graceMs = shutdownGraceOf(flags);
    this.watched = dirname(resolve(dir, entry));
  }

  /** Runs until a stop signal has stopped the service; resolves with the exit status. */
  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    const stop = (signal: NodeJS.Signals) => this.stop(signal);
    for (const signal of stopSignals) process.on(signal, stop);
    this.watcher = watchTree(this.watched, isIgnored, (name) => {
      if (codeFile.test(name)) this.changed(join(this.watched, name));
    });
    // An install: a package the service could not import (it waits for a change) is there now, or
    // one it runs is another version. npm writes this file last, once node_modules is complete.
    const installed = installRecord(this.dir);
    if (installed !== undefined) this.imports.add(installed);
    // npm, stopped by a signal of its own, exits without passing it on: the service would run on.
    const parentAtStart = process.ppid;
    const orphaned = setInterval(() => {
      // After a Ctrl-C the shell npm ran this in ends too: that is the same stop, not a second one.
      if (process.ppid !== parentAtStart && !this.stopRequested) this.stop("SIGTERM");
    }, parentCheckMs).unref();
    this.start();
    return done.finally(() => {
      clearInterval(orphaned);
      for (const signal of stopSignals) process.off(signal, stop);
      this.watcher?.close();
      this.imports.close();
    });
  }

  /** Starts the service: node with tsx's loader, in a process group of its own, so a terminal's Ctrl-C reaches it once, from here. */
  private start(): void {
    this.pendingStart = undefined;
    // Removed (a branch switched, a file moved): Node would say so with its loader's stack. Its return
    // is a change in the watched folder, which starts it.
    if (!existsSync(resolve(this.dir, this.entry))) {
      say(`${this.entry} is gone: waiting for it to come back to start the service (Ctrl-C to stop)`);
      return;
    }
    this.startedAt = performance.now();
    const child = spawn(
      process.execPath,
      [
        ...["--import", "tsx", "--import", parentWatch, "--import", compileErrors, "--import", importsNamed],
        this.entry,
        ...this.flags,
      ],
      {
        cwd: this.dir,
        // fd 3: the files the service imports, one a line (dev-imports.ts), which writes only when
        // this process is its parent: a process the service forks has its own fd 3 (fork's IPC).
        // And how long it gets to stop when this process has gone without stopping it: as long as here.
        env: {
          ...process.env,
          [devParentVariable]: String(process.pid),
          [killAfterVariable]: String(this.graceMs + stopMarginMs),
        },
        stdio: ["ignore", "inherit", "inherit", "pipe"],
        detached: true,
      },
    );
    this.child = child;
    const imports = child.stdio[3] as Readable | null;
    if (imports) createInterface({ input: imports }).on("line", (line) => this.imported(line));
    this.lock.serving(child.pid);
    child.once("error", (error) => {
      say(`could not start ${this.entry}: ${error.message}`);
      this.child = undefined;
    });
    child.once("exit", (code, signal) => this.ended(child, code, signal));
  }

  /** What follows the service's end: the next start, a wait for a change, or this command's end. */
  private ended(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.lock.serving(undefined);
    if (this.stopRequested) {
      // Stopped, it ends as it ended (0 after a clean stop, as tsx watch did). Killed (a second
      // Ctrl-C), it ends as a program Ctrl-C stopped does for a shell: 128 + the signal's number, 130.
      this.finish(code ?? 128 + constants.signals[this.stopSignal]);
      return;
    }
    if (this.stopping) return;
    if (signal) {
      // Something outside killed it (kill -9, the OOM killer): its code did not fail, so start it again,
      // as a supervisor would, more slowly each time it dies again soon after a start.
      if (performance.now() - this.startedAt >= wellAfterMs) this.backoffMs = firstBackoffMs;
      say(`the service was killed by ${signal}: starting it again in ${this.backoffMs / 1000} s`);
      this.pendingStart = setTimeout(() => this.start(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, mostBackoffMs);
      return;
    }
    // Asked for its flags (npm run dev -- --help), it printed them and ended: so does this, as a service run alone.
    if (code === 0 && asksForHelp(this.flags)) {
      this.finish(0);
      return;
    }
    // It ended on its own (a mistake at start, a refused flag): starting it again would fail the same way.
    const how = code === 0 ? "exited" : `exited with code ${code}`;
    say(`the service ${how}: waiting for a change to start it again (Ctrl-C to stop)`);
  }

  /**
   * The service loaded a file (a file: URL, outside node_modules): one outside the watched folder is
   * watched too, as tsx watch followed the imports, from then on, for every later start.
   */
  private imported(line: string): void {
    // `URL MTIME` (dev-imports.ts): file URLs have no spaces, %-escaped.
    const space = line.lastIndexOf(" ");
    const url = space < 0 ? line : line.slice(0, space);
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch {
      return;
    }
    if (!codeFile.test(path) || isWithin(this.watched, path)) return;
    this.imports.add(path);
    // Written since the service read it, before this line was read and its watch began (a watch build
    // of shared code writing it as the service loaded it): no watch heard it, and the service may run
    // the old text. A file the service writes before it imports it is read as written: no restart.
    const read = space < 0 ? "" : line.slice(space + 1);
    if (read !== "" && modifiedSinceRead(path, Number(read))) this.changed(path);
  }

  /** A file changed: once the burst of events settles, the service restarts (or starts, when it had ended). */
  private changed(path: string): void {
    if (this.stopRequested) return;
    clearTimeout(this.settle);
    this.settle = setTimeout(() => void this.restart(path), settleMs);
  }

  private async restart(path: string): Promise<void> {
    const file = basename(path) === installRecordName ? "node_modules (npm install)" : relative(this.dir, path);
    // A second signal would have the service exit before it deregisters, and the start that follows
    // its end loads this change too.
    if (this.stopping) {
      say(`${file} changed: the service starts with it once it has stopped`);
      return;
    }
    clearTimeout(this.pendingStart);
    this.backoffMs = firstBackoffMs;
    say(`${file} changed: ${this.child ? "restarting" : "starting"}`);
    const child = this.child;
    if (child) {
      this.stopping = true;
      await stopChild(child, this.graceMs);
      this.stopping = false;
      if (this.stopRequested) return;
    }
    this.start();
  }

  /**
   * A stop signal: the service gets it once, and a second one kills it, but not one within
   * repeatedSignalMs of the first, which is the same Ctrl-C passed on by what ran this (npm, a
   * shell). With no service running, this ends now.
   */
  private stop(signal: NodeJS.Signals): void {
    if (this.stopRequested && performance.now() - this.firstStopAt < repeatedSignalMs) return;
    const again = this.stopRequested;
    if (!again) {
      this.firstStopAt = performance.now();
      this.stopSignal = signal;
    }
    this.stopRequested = true;
    clearTimeout(this.pendingStart);
    clearTimeout(this.settle);
    const child = this.child;
    if (!child) {
      this.finish(0);
      return;
    }
    // A service that ignores the signal, or hangs in its stop, is killed as on a restart: npm stopped,
    // or a process manager's stop, has no second Ctrl-C to give. One stopping for a restart has its own.
    if (!again && !this.stopping) killAfterGrace(child, this.graceMs);
    signalGroup(child, again ? "SIGKILL" : signal === "SIGHUP" ? "SIGTERM" : signal);
  }
}

/** The file npm writes in node_modules at the end of each install (npm install, ci, uninstall). */
const installRecordName = ".package-lock.json";

/** The install record of the node_modules the service loads its packages from: the nearest above `dir` (a workspace's root). */
function installRecord(dir: string): string | undefined {
  for (let folder = resolve(dir); ; folder = dirname(folder)) {
    if (existsSync(join(folder, "node_modules"))) return join(folder, "node_modules", installRecordName);
    if (dirname(folder) === folder) return undefined;
  }
}

/** Whether the file at `path` was modified since the service read it, at modification time `read`. */
function modifiedSinceRead(path: string, read: number): boolean {
  try {
    return statSync(path).mtimeMs !== read;
  } catch {
    return false;
  }
}

/** Whether `path` is `folder` or under it. */
function isWithin(folder: string, path: string): boolean {
  const way = relative(folder, path);
  return way !== ".." && !way.startsWith(`..${sep}`) && !isAbsolute(way);
}

/** Folders and files under the entry's folder whose changes are no code of the service. */
function isIgnored(part: string): boolean {
  return part.startsWith(".") || part === "node_modules";
}

/**
 * The service's --shutdown_grace, as it reads it from its flags (those tsmicro dev passes on) and
 * TSMICRO_SHUTDOWN_GRACE or MICRO_SHUTDOWN_GRACE; the default when it is not given or a value it
 * would refuse (it then ends at its start). One its code sets in its options is not seen here.
 */
export function shutdownGraceOf(flags: readonly string[]): number {
  try {
    return resolveServiceSettings({}, flags, process.env).shutdownGraceMs;
  } catch {
    return defaultServiceSettings.shutdownGraceMs;
  }
}

/**
 * Stops a service for a restart: SIGTERM, then SIGKILL when it has not ended within its drain
 * (`graceMs`) and stopMarginMs, saying so when it takes long, as the save seems to do nothing.
 */
function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  const grace = `its --shutdown_grace of ${graceMs / 1000} s`;
  return new Promise((resolve) => {
    const notice = setTimeout(() => {
      say(
        `the old service is still stopping (its calls in flight get ${grace} to finish): the new one starts once it has stopped`,
      );
    }, slowStopNoticeMs);
    const killer = killAfterGrace(child, graceMs);
    child.once("exit", () => {
      clearTimeout(notice);
      clearTimeout(killer);
      resolve();
    });
    signalGroup(child, "SIGTERM");
  });
}

/** Kills the stopping service, saying so, when it has not ended within its drain (`graceMs`) and stopMarginMs. */
function killAfterGrace(child: ChildProcess, graceMs: number): NodeJS.Timeout {
  const killer = setTimeout(() => {
    say(
      `the service did not stop within ${(graceMs + stopMarginMs) / 1000} s (its --shutdown_grace of ${graceMs / 1000} s, ` +
        `and ${stopMarginMs / 1000} s more): killed`,
    );
    signalGroup(child, "SIGKILL");
  }, graceMs + stopMarginMs);
  child.once("exit", () => clearTimeout(killer));
  return killer;
}

/** Sends `signal` to the service, and SIGKILL to all it started too. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (signal === "SIGKILL") process.kill(-child.pid!, signal);
    else child.kill(signal);
  } catch {
    // It has ended already.
  }
}
