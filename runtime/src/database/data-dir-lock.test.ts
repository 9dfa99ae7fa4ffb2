import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { linuxIdentity, processRun, thisProcessRecord } from "../platform/process-identity.js";
import { lockDataDir, lockFileName } from "./data-dir-lock.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tsmicro-lock-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("lockDataDir", () => {
  it("creates the folder and a lock naming this process, and removes it on release", async () => {
    const lock = await lockDataDir(join(dir, "db"));
    expect(JSON.parse(await readFile(lock.path, "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
    await lock.release();
    expect(await readdir(join(dir, "db"))).toEqual([]);
  });

  it("creates missing parents, and refuses a folder it cannot make, naming it and why, under /proc too", async () => {
    const nested = await lockDataDir(join(dir, "a/b/db"));
    await nested.release();
    await writeFile(join(dir, "afile"), "");
    const cases = [
      [join(dir, "afile"), "is a file, not a folder"],
      [join(dir, "afile/db"), "ENOTDIR"],
      ["/proc/tsmicro-nope/db", "ENOENT"],
    ] as const;
    for (const [folder, why] of cases) {
      const error = await lockDataDir(folder).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string },
      );
      expect(error?.code, folder).toBe("TSM_ERR_DATABASE_DIR");
      expect(error?.message).toContain(`the embedded database's folder ${folder} cannot be used (`);
      expect(error?.message).toContain(why);
    }
  });

  it("refuses a held lock, naming the folder as given", async () => {
    const lock = await lockDataDir(dir);
    await expect(lockDataDir(dir, "data/db")).rejects.toMatchObject({
      code: "TSM_ERR_DATABASE_LOCKED",
      message: expect.stringMatching(/^the embedded database in data\/db is in use by this process/),
    });
    await lock.release();
  });

  it("refuses a lock of a live process and of another host", async () => {
    const path = join(dir, lockFileName);
    const parent = process.ppid; // alive, and not this process
    await writeFile(path, JSON.stringify({ pid: parent, host: hostname(), started: 1 }));
    await expect(lockDataDir(dir)).rejects.toThrow(`in use by process ${parent};`);
    await writeFile(path, JSON.stringify({ pid: 1, host: "elsewhere", started: 1 }));
    await expect(lockDataDir(dir)).rejects.toThrow(/process 1 on host elsewhere \(if it no longer runs there, delete/);
  });

  it("takes over a lock whose process is gone, or that this pid left in an earlier run", async () => {
    const path = join(dir, lockFileName);
    await writeFile(path, JSON.stringify({ pid: await deadPid(), host: hostname(), started: 1 }));
    await (await lockDataDir(dir)).release();
    // A restarted container runs as pid 1 again: same pid, another start time.
    await writeFile(path, JSON.stringify({ pid: process.pid, host: hostname(), started: 1 }));
    await (await lockDataDir(dir)).release();
    await writeFile(path, "damaged");
    await (await lockDataDir(dir)).release();
  });

  it.runIf(process.platform === "linux")(
    "tells a live process that reused the pid, or a reboot, from the holder",
    async () => {
      const path = join(dir, lockFileName);
      const parent = process.ppid;
      // As a holder in this boot and these namespaces records itself.
      const identity = { ...(await thisProcessRecord())!, pid: parent, ticks: (await processRun(parent))!.ticks };
      const lock = (extra: object) => JSON.stringify({ host: hostname(), started: 1, ...identity, ...extra });
      await writeFile(path, lock({}));
      await expect(lockDataDir(dir)).rejects.toThrow(`in use by process ${parent};`);
      await writeFile(path, lock({ ticks: identity.ticks + 1 }));
      await (await lockDataDir(dir)).release();
      await writeFile(path, lock({ boot: "another-boot" }));
      await (await lockDataDir(dir)).release();
    },
  );

  it.runIf(process.platform === "linux")(
    "refuses a lock written in another pid namespace whose pid is alive here, saying it cannot see it and what to delete",
    async () => {
      const path = join(dir, lockFileName);
      const parent = process.ppid;
      // A container's holder before a restart: its pid names another, live process here.
      const own = (await thisProcessRecord())!;
      await writeFile(
        path,
        JSON.stringify({ host: hostname(), started: 1, ...own, pid: parent, pidNamespace: own.pidNamespace + 1 }),
      );
      await expect(lockDataDir(dir)).rejects.toThrow(
        `in use by process ${parent} of another pid namespace (another container, or this one before a restart), ` +
          `which this process cannot see (if it no longer runs, delete ${path})`,
      );
    },
  );

  // A time namespace shifts the start /proc shows for every process by its boot offset, for readers in it.
  const timeNamespaced = ["unshare", "--time", "--boottime", "100000"];
  const canUnshareTime =
    process.platform === "linux" && spawnSync(timeNamespaced[0]!, [...timeNamespaced.slice(1), "true"]).status === 0;

  it.runIf(canUnshareTime)(
    "refuses the lock of a live holder in another time namespace, whose start /proc shows it otherwise",
    async () => {
      const take = `import { lockDataDir } from "./data-dir-lock.ts"; await lockDataDir(process.argv[1]); console.log("locked"); setInterval(() => {}, 1000);`;
      const command = [...timeNamespaced, process.execPath, "--import", "tsx", "--input-type=module", "-e", take, dir];
      const holder = spawn(command[0]!, command.slice(1), {
        cwd: import.meta.dirname,
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        await new Promise((resolve, reject) => {
          holder.stdout.on("data", (out) => String(out).includes("locked") && resolve(undefined));
          holder.once("exit", (code) => reject(new Error(`the holder exited with ${code} before it locked`)));
        });
        // Its ticks, as read here, are not those it wrote: it still holds the folder.
        const { pid } = JSON.parse(await readFile(join(dir, lockFileName), "utf8")) as { pid: number };
        await expect(lockDataDir(dir)).rejects.toThrow(`in use by process ${pid};`);
      } finally {
        holder.kill("SIGKILL");
      }
    },
  );

  it.runIf(process.platform === "linux")(
    "reads a lock of an older tsmicro (boot and ticks, no namespaces): a reboot frees it, and a live pid holds it",
    async () => {
      const path = join(dir, lockFileName);
      const parent = process.ppid;
      const { boot } = (await thisProcessRecord())!;
      await writeFile(path, JSON.stringify({ pid: parent, host: hostname(), started: 1, boot, ticks: 1 }));
      await expect(lockDataDir(dir)).rejects.toThrow(`in use by process ${parent};`);
      await writeFile(
        path,
        JSON.stringify({ pid: parent, host: hostname(), started: 1, boot: "another-boot", ticks: 1 }),
      );
      await (await lockDataDir(dir)).release();
    },
  );

  it.runIf(process.platform === "linux")(
    "takes over a lock whose process was killed and not yet reaped (a zombie)",
    async () => {
      // A child that exits at once, whose parent never waits for it: a zombie until the parent ends.
      const forker =
        "import os, signal, time\nsignal.signal(signal.SIGCHLD, signal.SIG_DFL)\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)";
      const parent = spawn("python3", ["-c", forker], { stdio: ["ignore", "pipe", "ignore"] });
      try {
        const zombie = Number(
          await new Promise<string>((resolve) => parent.stdout.once("data", (out) => resolve(String(out)))),
        );
        let identity = await linuxIdentity(zombie);
        for (let i = 0; i < 100 && !identity?.exited; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          identity = await linuxIdentity(zombie);
        }
        expect(identity?.exited, `child ${zombie}: ${identity ? "still running" : "not in /proc"}`).toBe(true);
        const path = join(dir, lockFileName);
        const { boot, ticks } = identity!;
        await writeFile(path, JSON.stringify({ pid: zombie, host: hostname(), started: 1, boot, ticks }));
        await (await lockDataDir(dir)).release();
      } finally {
        parent.kill("SIGKILL");
      }
    },
  );

  it("lets exactly one of many simultaneous takeovers of a stale lock win", async () => {
    await writeFile(join(dir, lockFileName), JSON.stringify({ pid: await deadPid(), host: hostname(), started: 1 }));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => lockDataDir(dir)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results)
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "TSM_ERR_DATABASE_LOCKED" });
    expect((await readdir(dir)).sort()).toEqual([lockFileName]);
  });

  it("does not remove a lock that another holder has taken since", async () => {
    const lock = await lockDataDir(dir);
    const other = JSON.stringify({ pid: process.ppid, host: hostname(), started: 1 });
    await writeFile(lock.path, other);
    await lock.release();
    expect(await readFile(lock.path, "utf8")).toBe(other);
  });
});

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}
