import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { processRun } from "../platform/process-identity.js";
import { parseWriterProcess, thisWriterProcess, WriterChecks, type WriterProcess } from "./writer-process.js";

describe.runIf(process.platform === "linux")("writer checks", () => {
  /** A child process that idles until killed, with its writer record (as its registry would write it). */
  async function idleChild(): Promise<{ writer: WriterProcess; kill: () => Promise<void> }> {
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    const own = (await thisWriterProcess())!;
    const { ticks } = (await processRun(child.pid!))!;
    return {
      writer: { ...own, pid: child.pid!, ticks },
      kill: async () => {
        child.kill("SIGKILL");
        await once(child, "exit");
      },
    };
  }

  it("says a live process runs and a killed one is gone, once a check may be that fresh", async () => {
    const checks = new WriterChecks();
    const { writer, kill } = await idleChild();
    expect(await checks.gone(writer, 60_000)).toBe(false);

    await kill();
    // A lookup trusts the check made before the kill for as long as it allows: no /proc read per call.
    expect(await checks.gone(writer, 60_000)).toBe(false);
    // A scan wants it fresh, and every later read then shares what it found.
    expect(await checks.gone(writer, 0)).toBe(true);
    expect(await checks.gone(writer, 60_000)).toBe(true);
  });

  it("never calls gone what it cannot check: no record, another boot or pid namespace", async () => {
    const checks = new WriterChecks();
    const { writer, kill } = await idleChild();
    await kill();
    expect(await checks.gone(writer, 0)).toBe(true);
    expect(await checks.gone(undefined, 0)).toBe(false);
    expect(await checks.gone({ ...writer, boot: "another-boot" }, 0)).toBe(false);
    expect(await checks.gone({ ...writer, pidNamespace: writer.pidNamespace + 1 }, 0)).toBe(false);
  });

  it("never takes ticks read in another time namespace (unshare --time) for a later process on the pid", async () => {
    // /proc shows a process's start shifted by the reader's time namespace's boot offset: this very
    // process, as a reader in another namespace sees it, is still running.
    const own = (await thisWriterProcess())!;
    const elsewhere = { ...own, ticks: own.ticks + 100_000_00, timeNamespace: own.timeNamespace + 1 };
    expect(await new WriterChecks().gone(elsewhere, 0)).toBe(false);
  });

  it("calls gone a run whose pid another process has taken", async () => {
    const own = (await thisWriterProcess())!;
    expect(await new WriterChecks().gone(own, 0)).toBe(false);
    expect(await new WriterChecks().gone({ ...own, ticks: own.ticks - 1 }, 0)).toBe(true);
  });
});

describe("writer records read from files", () => {
  const record = { pid: 4242, ticks: 7, boot: "b", pidNamespace: 4026531836, timeNamespace: 4026531834 };

  it("takes a whole record and nothing else", () => {
    expect(parseWriterProcess(record)).toEqual(record);
    expect(parseWriterProcess(undefined)).toBeUndefined();
    expect(parseWriterProcess({ ...record, boot: "" })).toBeUndefined();
    expect(parseWriterProcess({ ...record, ticks: "7" })).toBeUndefined();
    expect(parseWriterProcess({ ...record, pidNamespace: undefined })).toBeUndefined();
    // A record written before the time namespace was: the TTL decides, as for a record of another namespace.
    expect(parseWriterProcess({ ...record, timeNamespace: undefined })).toBeUndefined();
  });

  it("refuses a pid kill(2) would take for a process group or every process", () => {
    for (const pid of [0, -1, -4242, 1.5]) expect(parseWriterProcess({ ...record, pid })).toBeUndefined();
  });
});
