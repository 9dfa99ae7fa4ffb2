import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { constants } from "node:os";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { styleText } from "node:util";
import { isSetupError } from "@tsmicro/runtime/errors";
import {
  checkFlagSpelling,
  checkRuntimeFlags,
  isFlagValue,
  missingValue,
  runtimeFlagNames,
} from "@tsmicro/runtime/internal";
import { CommandError } from "./command-error.js";
import { shutdownGraceOf } from "./dev-command.js";
import { devLockHolder } from "./dev-lock.js";
import { enclosingWorkspace, readProjectConfig, workspaceServices } from "./workspace.js";

/** One project `tsmicro run` starts: its name (the folder's) and where it is. */
interface RunTarget {
  readonly name: string;
  readonly dir: string;
}

/** Ctrl-C, a stop, and the terminal closing: the services started in groups of their own would outlive it. */
const stopSignals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * How long the services get to stop (deregister, drain) before what is left is killed: 15 s at
 * least, and their --shutdown_grace (which bounds the drain) and 5 s more when that is longer.
 */
const leastStopTimeoutMs = 15_000;
const stopMarginMs = 5_000;

/** Kills the groups of the services still running, saying which; whether there were any. */
function killStragglers(children: readonly DevProcess[], afterMs: number): boolean {
  const left = children.filter(stillRunning);
  if (left.length === 0) return false;
  process.stderr.write(`${left.length} still running after ${afterMs / 1000} s: killed\n`);
  for (const dev of left) void killDevAndService(dev);
  return true;
}

function stillRunning({ child }: DevProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Within this long of the first, a signal is the same Ctrl-C delivered twice. */
const repeatedSignalMs = 1_000;

const prefixColours = ["cyan", "magenta", "yellow", "green", "blue", "red"] as const;

/** What `tsmicro run`'s words say: the services to start (all when none) and the flags for every one of them. */
export interface RunArguments {
  readonly names: readonly string[];
  readonly flags: readonly string[];
  /** A name's flag right before it, one of the user's own written without `=`: the name may be meant as its value. */
  readonly flagBefore: ReadonlyMap<string, string>;
  /** A service's flag and the next word, taken as its value (`--migrate user`): the word may be meant as a name. */
  readonly valuesTaken: readonly (readonly [flag: string, value: string])[];
}

/**
 * Splits the words after `tsmicro run` into service names and the services'
 * flags, which may come anywhere (`run user --registry etcd`) or after `--`,
 * as they are. A service's own flag given without `=` takes the next word as
 * its value, as every one has one; any other flag is passed alone.
 */
export function runArguments(words: readonly string[]): RunArguments {
  const dashes = words.indexOf("--");
  const before = dashes < 0 ? words : words.slice(0, dashes);
  const names: string[] = [];
  const flags: string[] = [];
  const flagBefore = new Map<string, string>();
  const valuesTaken: [string, string][] = [];
  for (let i = 0; i < before.length; i++) {
    const word = before[i]!;
    if (!word.startsWith("-")) {
      names.push(word);
      const previous = before[i - 1];
      if (previous?.startsWith("-") && !previous.includes("=")) flagBefore.set(word, previous);
    } else if (!takesNextWord(word)) flags.push(word);
    else if (i + 1 < before.length && isFlagValue(before[i + 1]!)) {
      flags.push(word, before[++i]!);
      valuesTaken.push([word, before[i]!]);
    } else throw missingValue(word);
  }
  if (dashes >= 0) flags.push(...words.slice(dashes + 1));
  // A misspelt flag (or tsmicro api's --address) is refused here once, not by every service, whose
  // dev script would then wait for a save.
  checkFlagSpelling(flags, runtimeFlagNames, undefined, { serves: true });
  return { names, flags, flagBefore, valuesTaken };
}

/** `--registry` (no `=`), one of the flags a service reads, all of which take a value. */
function takesNextWord(word: string): boolean {
  const name = /^--?([^=]+)$/.exec(word)?.[1];
  return name !== undefined && runtimeFlagNames.includes(name);
}

/**
 * `tsmicro run [service…] [flag…] [-- flag…]`: starts the `dev` script (tsmicro dev)
 * of every service of the workspace around `cwd`, or of the named ones, or
 * of the project `cwd` is, each line of their output prefixed with the
 * service's name; `flags` go to every service. Ctrl-C (or SIGTERM) stops
 * them all; resolves with the exit status once every one has ended: 0 when
 * they were stopped, 1 when one ended on its own with a failure, 128 + the stop
 * signal's number (130 for Ctrl-C) when one had to be killed.
 */
export async function runCommand(
  cwd: string,
  { names, flags, flagBefore, valuesTaken }: RunArguments,
): Promise<number> {
  const all = await runTargets(cwd);
  checkFlagValues(flags, valuesTaken, all);
  const targets = pickTargets(all, names, flagBefore);
  const scripts = await Promise.all(targets.map(devScript));
  await checkNotRunning(targets);
  const width = Math.max(...targets.map((t) => t.name.length));
  const colour = process.stdout.isTTY === true;
  const children = targets.map((target, i) =>
    startDev(target, scripts[i]!, flags, {
      prefix: `${target.name.padEnd(width)} |`,
      colour: colour ? prefixColours[i % prefixColours.length]! : undefined,
    }),
  );
  const stopTimeoutMs = Math.max(leastStopTimeoutMs, shutdownGraceOf(flags) + stopMarginMs);
  let stopping = false;
  let firstSignalAt = 0;
  let stopSignal: NodeJS.Signals = "SIGTERM";
  /** Whether a service had to be killed: this then exits as a program Ctrl-C stopped does for a shell. */
  let killed = false;
  const stop = (signal: NodeJS.Signals) => {
    // A second Ctrl-C ends what is still shutting down; one Ctrl-C can arrive
    // twice (from the terminal and again from `npm run dev` around this), so
    // only a later one counts.
    if (stopping && Date.now() - firstSignalAt < repeatedSignalMs) return;
    const sent = stopping ? "SIGKILL" : "SIGTERM";
    if (!stopping) {
      firstSignalAt = Date.now();
      stopSignal = signal;
      // A dev script can hang (tsx watch, after its service died by kill -9): what has not ended by then is killed.
      setTimeout(() => (killed ||= killStragglers(children, stopTimeoutMs)), stopTimeoutMs).unref();
    }
    if (sent === "SIGKILL") killed ||= children.some(stillRunning);
    stopping = true;
    for (const child of children) {
      if (sent === "SIGKILL") void killDevAndService(child);
      else killDev(child, sent);
    }
    if (signal === "SIGINT" && sent === "SIGTERM")
      process.stderr.write("stopping every service (Ctrl-C again to kill)\n");
  };
  let failed = false;
  for (const dev of children) {
    // A service that ends while the others run says so: a crash, or kill -9 from another terminal.
    dev.child.once("exit", (code, signal) => {
      if (stopping) return;
      failed ||= code !== 0;
      process.stderr.write(`${dev.prefix} ${endingOf(code, signal)}\n`);
    });
    dev.child.once("error", (error) => {
      failed = true;
      process.stderr.write(`${dev.prefix} could not start: ${error.message}\n`);
    });
  }
  for (const signal of stopSignals) process.on(signal, stop);
  const orphaned = watchParent(() => {
    process.stderr.write("the process that started tsmicro run has ended: stopping every service\n");
    stop("SIGTERM");
  });
  watchOutput(() => stop("SIGTERM"));
  await Promise.all(children.map(ended));
  clearInterval(orphaned);
  for (const signal of stopSignals) process.off(signal, stop);
  if (failed) return 1;
  // 128 + the signal's number: 130 after Ctrl-C, as tsmicro dev does.
  return killed ? 128 + constants.signals[stopSignal] : 0;
}

/**
 * Calls `gone` once the process that started this one has ended: npm, when
 * `npm run dev` is stopped by a signal to npm alone, exits without passing
 * it on, and the services (in process groups of their own) would run on,
 * registered, with nobody to stop them.
 */
function watchParent(gone: () => void): NodeJS.Timeout {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone();
  }, parentCheckMs);
  return timer.unref();
}

/**
 * Calls `closed` once what reads this process's output has gone (`npm run dev | less`, then q):
 * the next line written fails with EPIPE, which unhandled would end this process and leave the
 * services, in process groups of their own, running and registered, with nobody to stop them.
 * The listeners stay: lines the services write while they stop fail the same way.
 */
function watchOutput(closed: () => void): void {
  let called = false;
  const onError = () => {
    if (called) return;
    called = true;
    closed();
  };
  process.stdout.on("error", onError);
  process.stderr.on("error", onError);
}

/** How often `tsmicro run` checks that its parent is still there. */
const parentCheckMs = 500;

/** The services of the workspace around `cwd`, or the project `cwd` is when it is not in a workspace. */
async function runTargets(cwd: string): Promise<RunTarget[]> {
  const root = await enclosingWorkspace(cwd);
  if (root) {
    // Web services have no protos, so no tsmicro.json: every package of services/ is one.
    const dirs = await workspaceServices(root, "package.json");
    if (dirs.length === 0)
      throw new CommandError(`the workspace ${root} has no services yet: add one with tsmicro new NAME`);
    return dirs.map((dir) => ({ name: basename(dir), dir }));
  }
  if (await readProjectConfig(cwd)) return [{ name: basename(resolve(cwd)), dir: resolve(cwd) }];
  throw new CommandError(
    `${resolve(cwd)} is neither a tsmicro workspace nor a project (no tsmicro.json): run tsmicro run inside one`,
  );
}

/**
 * Refuses, once and before any service starts, a flag value (or `TSMICRO_*`
 * variable) every service would refuse on its own, read with the services'
 * own tables. A refused value that is a service's name, taken as the flag
 * before it's (`--migrate user`), says how to start that service.
 */
function checkFlagValues(
  flags: readonly string[],
  valuesTaken: RunArguments["valuesTaken"],
  targets: readonly RunTarget[],
): void {
  for (const [flag, value] of valuesTaken) {
    const refused = targets.some((t) => t.name === value) ? refusal([flag, value]) : undefined;
    if (refused === undefined) continue;
    // An on/off flag written alone (--migrate user) is meant on.
    const example = refusal([`${flag}=on`]) === undefined ? "on" : "VALUE";
    throw new CommandError(`${refused}; to start the service ${value}, write ${flag}=${example} ${value}`);
  }
  checkRuntimeFlags(flags, process.env);
}

/** The message of the SetupError a service would refuse `flags` with (environment aside), if any. */
function refusal(flags: readonly string[]): string | undefined {
  try {
    checkRuntimeFlags(flags, {});
    return undefined;
  } catch (error) {
    if (isSetupError(error)) return error.message;
    throw error;
  }
}

/**
 * The targets `names` asks for (all when empty); an unknown name is a CommandError listing the
 * others, and saying how to give a flag its value when the name came right after one.
 */
function pickTargets(
  targets: readonly RunTarget[],
  names: readonly string[],
  flagBefore: ReadonlyMap<string, string>,
): RunTarget[] {
  if (names.length === 0) return [...targets];
  return names.map((name) => {
    const target = targets.find((t) => t.name === name);
    if (target) return target;
    const flag = flagBefore.get(name);
    const asValue = flag === undefined ? "" : `; if ${name} is ${flag}'s value, write ${flag}=${name}`;
    throw new CommandError(
      `no service ${name} here: the services are ${targets.map((t) => t.name).join(", ")}${asValue}`,
    );
  });
}

/**
 * Refuses, before any starts, services that run already (their `tsmicro dev` holds the folder's
 * dev lock: `npm run dev` or `tsmicro run` in another terminal), naming each one's pid and the
 * services that could start: started twice, the second would fail on the database or the
 * port, then wait for a save and take the service over from the first.
 */
async function checkNotRunning(targets: readonly RunTarget[]): Promise<void> {
  const holders = await Promise.all(targets.map(({ dir }) => devLockHolder(dir)));
  const running = targets.flatMap((target, i) => (holders[i] ? [`${target.name} (pid ${holders[i].pid})`] : []));
  if (running.length === 0) return;
  const others = targets.filter((_, i) => holders[i] === undefined);
  const rest =
    others.length === 0 ? "" : `, or start only the others: tsmicro run ${others.map((t) => t.name).join(" ")}`;
  throw new CommandError(
    `${running.join(", ")} ${running.length === 1 ? "runs" : "run"} already, started by npm run dev or tsmicro run ` +
      `in another terminal: stop ${running.length === 1 ? "it" : "them"} there with Ctrl-C (or kill the pid)${rest}`,
  );
}

/** The target's `dev` script; a CommandError when it has none or its dependencies are not installed. */
async function devScript({ name, dir }: RunTarget): Promise<string> {
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8").catch(() => "{}")) as {
    scripts?: Record<string, string>;
  };
  const script = pkg.scripts?.dev;
  if (!script) throw new CommandError(`${name} has no dev script in ${join(dir, "package.json")}`);
  if (!binFolders(dir).some((bin) => existsSync(bin)))
    throw new CommandError(`${name}'s dependencies are not installed: run npm install first`);
  return script;
}

/** `node_modules/.bin` in `dir` and every folder above it, nearest first: where npm looks for a script's programs. */
function binFolders(dir: string): string[] {
  const folders: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    folders.push(join(at, "node_modules", ".bin"));
    if (dirname(at) === at) return folders;
  }
}

/**
 * Runs `script` as `npm run dev` would, in a process group of its own. A
 * plain command (tsmicro dev …, as scaffolded) replaces the shell, so a stop
 * signal reaches tsmicro dev alone, which passes it to the service once; npm in
 * between would die on it without passing it on, and a service that gets a
 * second signal exits before it deregisters. A script with `&&`, `;` or `|`
 * keeps its shell, and a stop goes to the whole group.
 */
function startDev(
  { dir }: RunTarget,
  script: string,
  flags: readonly string[],
  style: { readonly prefix: string; readonly colour: (typeof prefixColours)[number] | undefined },
): DevProcess {
  const plain = !/[;&|]/.test(script);
  const command = [plain ? `exec ${script}` : script, ...flags.map(shellQuote)].join(" ");
  const path = [...binFolders(dir), process.env.PATH].join(delimiter);
  const child = spawn("sh", ["-c", command], {
    cwd: dir,
    env: { ...process.env, PATH: path, ...(style.colour ? { FORCE_COLOR: "1" } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const prefix = style.colour ? styleText(style.colour, style.prefix) : style.prefix;
  for (const [from, to] of [
    [child.stdout!, process.stdout],
    [child.stderr!, process.stderr],
  ] as const) {
    createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
      to.write(`${prefix} ${line}\n`),
    );
  }
  return { child, plain, prefix, dir };
}

interface DevProcess {
  readonly child: ChildProcess;
  /** The script is one command that replaced its shell. */
  readonly plain: boolean;
  /** What its lines start with: the service's name. */
  readonly prefix: string;
  /** The service's folder, whose dev lock names the service tsmicro dev runs. */
  readonly dir: string;
}

/** How a service's process ended, for the line `tsmicro run` writes when one ends on its own. */
function endingOf(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `stopped: killed by ${signal}`;
  return code === 0 ? "stopped: exited" : `stopped: exited with code ${code}`;
}

/** SIGTERM to the command a plain script runs, or to the whole group (always for SIGKILL). */
function killDev({ child, plain }: DevProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (plain && signal !== "SIGKILL") child.kill(signal);
    else process.kill(-child.pid!, signal);
  } catch {
    // it has ended already
  }
}

/**
 * SIGKILL to the script's group and, first, to the group of the service its tsmicro dev runs
 * (named in the folder's dev lock), which is a group of its own: a service hung in its stop,
 * its event loop held, would run on after tsmicro dev died, and hold this command's output open.
 */
async function killDevAndService(dev: DevProcess): Promise<void> {
  const service = (await devLockHolder(dev.dir).catch(() => undefined))?.service;
  if (service !== undefined) {
    try {
      process.kill(-service, "SIGKILL");
    } catch {
      // It has ended already.
    }
  }
  killDev(dev, "SIGKILL");
}

/** `value` as one shell word. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

/** Resolves once the child has ended, and kills what it started and left behind in its group. */
function ended({ child }: DevProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("error", () => resolve());
    child.once("exit", () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // nothing was left
      }
      resolve();
    });
  });
}
