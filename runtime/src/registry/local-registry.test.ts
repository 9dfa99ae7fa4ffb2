import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../logging/logger.js";
import { createLocalRegistry, defaultLocalRegistryDir } from "./local-registry.js";
import { collectEvents, describeRegistryConformance, waitFor } from "./registry-conformance.js";
import type { Registry, Service } from "./registry.js";

describeRegistryConformance("local", async () => {
  const root = await mkdtemp(join(tmpdir(), "tsmicro-registry-"));
  const registry = createLocalRegistry({ dir: join(root, "registry") });
  await registry.start();
  return { registry, cleanup: () => rm(root, { recursive: true, force: true }) };
});

const greeter = (ids: readonly string[], ttlMs = 10_000): [Service, { ttlMs: number }] => [
  {
    name: "greeter",
    version: "1.0.0",
    metadata: {},
    endpoints: [],
    nodes: ids.map((id) => ({ id, address: "127.0.0.1:50051", metadata: {} })),
  },
  { ttlMs },
];

describe("local registry", () => {
  let root: string;
  let dir: string;
  const registries: Registry[] = [];
  const open = async (options: { dir?: string } = { dir }) => {
    const registry = createLocalRegistry(options);
    registries.push(registry);
    await registry.start();
    return registry;
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "tsmicro-registry-"));
    dir = join(root, "registry");
  });

  afterEach(async () => {
    for (const registry of registries.splice(0)) await registry.stop();
    vi.unstubAllEnvs();
    await rm(root, { recursive: true, force: true });
  });

  it("keeps one JSON file per node under <dir>/<service>/, with its expiry, and no temp files", async () => {
    const registry = await open();
    const before = Date.now();
    await registry.register(...greeter(["a", "b"]));

    expect((await readdir(join(dir, "greeter"))).sort()).toEqual(["a.json", "b.json"]);
    const file = JSON.parse(await readFile(join(dir, "greeter", "a.json"), "utf8")) as Record<string, unknown>;
    expect(file).toMatchObject({
      service: { name: "greeter", version: "1.0.0", metadata: {}, endpoints: [] },
      node: { id: "a", address: "127.0.0.1:50051", metadata: {} },
    });
    expect(file["expiresAt"]).toBeGreaterThanOrEqual(before + 10_000);
    expect(file["expiresAt"]).toBeLessThanOrEqual(Date.now() + 10_000);
    // And, on Linux, the process that wrote it, for readers to tell when it is gone.
    if (process.platform === "linux")
      expect(file["process"]).toEqual({
        pid: process.pid,
        ticks: expect.any(Number),
        boot: expect.any(String),
        pidNamespace: expect.any(Number),
        timeNamespace: expect.any(Number),
      });
  });

  it("creates its folder readable by this user only", async () => {
    await open();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it("lets a second registry on the same folder see registrations and watch them come and go", async () => {
    const writer = await open();
    const reader = await open();
    const collected = collectEvents(reader.watch({ service: "greeter" }));
    // Let the reader's watcher take its starting point before the other registry writes.
    await sleep(100);

    await writer.register(...greeter(["a"]));
    expect((await reader.getService("greeter"))[0]?.nodes.map((n) => n.id)).toEqual(["a"]);
    await waitFor("create", () => collected.events.some((e) => e.action === "create"), 10_000);

    await writer.deregister(greeter(["a"])[0]);
    await waitFor("delete", () => collected.events.some((e) => e.action === "delete"), 10_000);
    expect(collected.events.map((e) => `${e.action} ${e.service.nodes[0]?.id}`)).toEqual(["create a", "delete a"]);
  });

  it("reports what its own reads saw, so a node that came and went between two scans is seen leaving", async () => {
    const writer = await open();
    const reader = await open();
    const collected = collectEvents(reader.watch({ service: "greeter" }));
    await writer.register(...greeter(["old"]));
    await waitFor("the old node", () => collected.events.length === 1, 10_000);
    // No scan from here on: timers stand still, so only the reader's own reads can move its watch.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await writer.register(...greeter(["new"]));
      expect((await reader.getService("greeter"))[0]?.nodes.map((n) => n.id).sort()).toEqual(["new", "old"]);
      await writer.deregister(greeter(["new"])[0]);
      await reader.listServices();
      await sleep(0);
      expect(collected.events.map((e) => `${e.action} ${e.service.nodes[0]?.id}`)).toEqual([
        "create old",
        "create new",
        "delete new",
      ]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("makes a removed folder again on the next heartbeat, which says so; watchers see the node leave and come back", async () => {
    const warned: string[] = [];
    const logger = {
      ...silentLogger(),
      warn: (_fields: object | string, message?: string) => void warned.push(message ?? ""),
    };
    const writer = createLocalRegistry({ dir: `${dir}/`, logger });
    registries.push(writer);
    await writer.start();
    const reader = await open();
    const collected = collectEvents(reader.watch());
    const seen = () => collected.events.map((e) => `${e.action} ${e.service.name} ${e.service.nodes[0]?.id}`);
    await writer.register(...greeter(["a"]));
    await writer.register(...greeter(["a"]));
    // Generous waits: a full run's load has held this process's scans for over 10 s (they end as soon as the event comes).
    await waitFor("the node", () => seen().length === 1, 30_000);
    expect(warned).toEqual([]);

    await rm(root, { recursive: true });
    await waitFor("the node gone", () => seen().length === 2, 30_000);
    // The heartbeat: the node's process registers it again.
    await writer.register(...greeter(["a"]));
    await waitFor("the node back", () => seen().length === 3, 30_000);
    expect(seen()).toEqual(["create greeter a", "delete greeter a", "create greeter a"]);
    expect((await readdir(join(dir, "greeter"))).sort()).toEqual(["a.json"]);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(warned).toEqual([expect.stringMatching(new RegExp(`the folder ${dir}/? was removed .* made it again`))]);

    // Only the service's folder removed: said as such.
    await rm(join(dir, "greeter"), { recursive: true });
    await writer.register(...greeter(["a"]));
    expect(warned[1]).toMatch(
      /the folder of greeter in .* was removed; made it again and registered greeter \(a\) again/,
    );
    // A new service's first folder is no removal.
    await writer.register({ ...greeter(["b"])[0], name: "other" }, { ttlMs: 10_000 });
    expect(warned).toHaveLength(2);
  });

  it("says once that the folder was removed, however many services of its process register again", async () => {
    const warned: string[] = [];
    const logger = {
      ...silentLogger(),
      warn: (_fields: object | string, message?: string) => void warned.push(message ?? ""),
    };
    const registry = createLocalRegistry({ dir, logger });
    registries.push(registry);
    await registry.start();
    // A service and its subscriptions (the http broker's tsmicro.broker nodes) heartbeat in one registry.
    const services = [greeter(["a"])[0], { ...greeter(["s"])[0], name: "tsmicro.broker" }];
    for (const service of services) await registry.register(service, { ttlMs: 10_000 });

    await rm(root, { recursive: true });
    for (const service of services) await registry.register(service, { ttlMs: 10_000 });
    expect(warned).toEqual([expect.stringMatching(/the folder .* was removed while services were registered in it/)]);
    expect((await registry.listServices()).map((s) => s.name).sort()).toEqual(["greeter", "tsmicro.broker"]);
  });

  it("hears of nodes registered in a folder removed and made again at once, not at its next poll", async () => {
    // No poll and no expiry within the test: only filesystem notifications can bring the events.
    const reader = createLocalRegistry({ dir, pollIntervalMs: 600_000 });
    registries.push(reader);
    await reader.start();
    const writer = await open();
    // A watch of everything follows the folder's folders; one of a service, that service's alone.
    const watches = [collectEvents(reader.watch()), collectEvents(reader.watch({ service: "greeter" }))];
    /** Each watch's events since `since` of them. */
    let since = 0;
    const seen = () =>
      watches.map((watch) =>
        watch.events.slice(since).map((e) => `${e.action} ${e.service.name} ${e.service.nodes[0]?.id}`),
      );
    const heard = (count: number) => () => seen().every((events) => events.length === count);
    const longTtl = { ttlMs: 600_000 };
    await writer.register(greeter(["a"])[0], longTtl);
    await waitFor("the node", heard(1), 10_000);

    for (const removed of [root, join(dir, "greeter")]) {
      since = watches[0]!.events.length;
      await rm(removed, { recursive: true });
      await waitFor(`the node gone with ${removed}`, heard(1), 10_000);
      // Another process's heartbeat makes the folder again, then a new node arrives in it.
      await writer.register(greeter(["a"])[0], longTtl);
      await waitFor(`the node back in ${removed}`, heard(2), 10_000);
      await writer.register(greeter(["b"])[0], longTtl);
      await waitFor(`the new node in ${removed}`, heard(3), 10_000);
      await writer.deregister(greeter(["b"])[0]);
      await waitFor(`the new node gone from ${removed}`, heard(4), 10_000);
      const events = ["delete greeter a", "create greeter a", "create greeter b", "delete greeter b"];
      expect(seen()).toEqual([events, events]);
    }
  });

  it("reports a node's expiry on time even when its poll interval is long", async () => {
    const registry = createLocalRegistry({ dir, pollIntervalMs: 60_000 });
    registries.push(registry);
    await registry.start();
    const collected = collectEvents(registry.watch());
    await registry.register(...greeter(["a"], 1_000));

    await waitFor("the delete event", () => collected.events.some((e) => e.action === "delete"), 10_000);
  });

  it("ignores a dead process's expired file and removes it", async () => {
    const registry = await open();
    await registry.register(...greeter(["alive"]));
    const [record] = greeter(["dead"]);
    const deadFile = join(dir, "greeter", "dead.json");
    await writeFile(
      deadFile,
      JSON.stringify({ service: { ...record, nodes: undefined }, node: record.nodes[0], expiresAt: Date.now() - 1 }),
    );

    expect((await registry.getService("greeter"))[0]?.nodes.map((n) => n.id)).toEqual(["alive"]);
    expect((await readdir(join(dir, "greeter"))).sort()).toEqual(["alive.json"]);
  });

  it.runIf(process.platform === "linux")(
    "drops a node whose pid another process has taken since (a reused pid), and keeps this process's",
    async () => {
      const registry = await open();
      await registry.register(...greeter(["alive"], 600_000));
      const alive = JSON.parse(await readFile(join(dir, "greeter", "alive.json"), "utf8")) as {
        node: object;
        process: { ticks: number };
      };
      // This process's pid, but a run that started earlier: the run that wrote it has ended.
      const reused = { ...alive, node: { ...alive.node, id: "reused" } };
      reused.process = { ...alive.process, ticks: alive.process.ticks - 1 };
      await writeFile(join(dir, "greeter", "reused.json"), JSON.stringify(reused));

      expect((await registry.getService("greeter"))[0]?.nodes.map((n) => n.id)).toEqual(["alive"]);
      expect(await readdir(join(dir, "greeter"))).toEqual(["alive.json"]);
    },
  );

  it("skips files that are not node records instead of failing", async () => {
    const registry = await open();
    await registry.register(...greeter(["a"]));
    await writeFile(join(dir, "greeter", "garbage.json"), "not json");
    await writeFile(join(dir, "greeter", "misplaced.json"), await readFile(join(dir, "greeter", "a.json")));
    await writeFile(join(dir, "greeter", ".half-written.tmp"), "{");
    await mkdir(join(dir, ".hidden"));

    expect((await registry.getService("greeter"))[0]?.nodes.map((n) => n.id)).toEqual(["a"]);
    expect((await registry.listServices()).map((s) => s.name)).toEqual(["greeter"]);
  });

  it("fails to start with a SetupError naming the folder and the fix when it cannot be created", async () => {
    const notAFolder = join(root, "file");
    await writeFile(notAFolder, "");
    const unusable = join(notAFolder, "registry");

    const error = await createLocalRegistry({ dir: unusable })
      .start()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_REGISTRY_UNREACHABLE" });
    expect((error as Error).message).toBe(
      `the local registry at ${unusable} cannot be reached (a part of its path is a file, not a folder); ` +
        "pass --registry_address with a folder (made if missing)",
    );
    // A file where the folder goes: said so, not Node's "EEXIST: file already exists, mkdir".
    const file = await createLocalRegistry({ dir: notAFolder })
      .start()
      .catch((e: unknown) => e);
    expect((file as Error).message).toBe(
      `the local registry at ${notAFolder} cannot be reached (it is a file, not a folder); ` +
        "pass --registry_address with a folder (made if missing)",
    );
  });

  it("defaults to a per-user folder under XDG_RUNTIME_DIR and refuses one other users may write to", async () => {
    vi.stubEnv("XDG_RUNTIME_DIR", root);
    const userFolder = join(root, `tsmicro-${process.getuid?.() ?? ""}`);
    expect(defaultLocalRegistryDir()).toBe(join(userFolder, "registry"));

    const registry = await open({});
    await registry.register(...greeter(["a"]));
    expect(await readdir(join(userFolder, "registry", "greeter"))).toEqual(["a.json"]);

    if (process.platform === "win32") return;
    await chmod(userFolder, 0o777);
    await expect(createLocalRegistry().start()).rejects.toMatchObject({ code: "TSM_ERR_REGISTRY_UNREACHABLE" });
  });
});

describe("local registry across processes", () => {
  const fixture = fileURLToPath(new URL("./testdata/greeter-node.ts", import.meta.url));
  // The runtime package folder: `--import tsx` resolves from here up to the workspace's node_modules.
  const runtimeDir = fileURLToPath(new URL("../..", import.meta.url));
  const ttlMs = 1_500; // the fixture's default
  /** A TTL no test waits out: a node gone before it was dropped because its process was seen gone. */
  const longTtlMs = 60_000;
  const children: ChildProcess[] = [];
  const registries: Registry[] = [];
  const roots: string[] = [];

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const registry of registries) await registry.stop();
    for (const root of roots) await rm(root, { recursive: true, force: true });
  });

  /** A registry folder of its own for one test. */
  async function registryDir(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), "tsmicro-registry-"));
    roots.push(root);
    return join(root, "registry");
  }

  async function openRegistry(dir: string): Promise<Registry> {
    const registry = createLocalRegistry({ dir });
    registries.push(registry);
    await registry.start();
    return registry;
  }

  const nodeIds = async (registry: Registry) =>
    (await registry.getService("greeter")).flatMap((s) => s.nodes.map((n) => n.id)).sort();

  /** Resolves once `registry`'s watches have their starting point: a registration waits for that. */
  const watchesReady = (registry: Registry) =>
    registry.register({ ...greeter(["marker"])[0], name: "marker" }, { ttlMs: longTtlMs });

  /** Starts a greeter node process (run by `prefix`, a command that execs it) and resolves once it says its node is registered. */
  function startGreeter(
    dir: string,
    id: string,
    ttl = ttlMs,
    prefix: readonly string[] = [],
  ): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
    const command = [...prefix, process.execPath, "--import", "tsx", fixture, dir, id, String(ttl)];
    const child = spawn(command[0]!, command.slice(1), {
      cwd: runtimeDir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let output = "";
    return new Promise((resolve, reject) => {
      const onOutput = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(`registered ${id}\n`)) resolve({ child, exited });
      };
      child.stdout?.on("data", onOutput);
      child.stderr?.on("data", onOutput);
      void exited.then((code) => reject(new Error(`greeter ${id} exited with ${code} before registering:\n${output}`)));
    });
  }

  const deletedFrom =
    ({ events }: { events: readonly { action: string; service: Service }[] }) =>
    (id: string) =>
    () =>
      events.some((e) => e.action === "delete" && e.service.nodes[0]?.id === id);

  it("sees three processes' nodes, drops a killed one's and a terminated one's, and keeps a heartbeating one's", async () => {
    const dir = await registryDir();
    const startedAt = Date.now();
    const [killed, terminated, survivor] = await Promise.all(
      ["node-killed", "node-terminated", "node-survivor"].map((id) => startGreeter(dir, id)),
    );
    const registry = await openRegistry(dir);

    expect(await nodeIds(registry)).toEqual(["node-killed", "node-survivor", "node-terminated"]);
    const collected = collectEvents(registry.watch({ service: "greeter" }));
    const deleted = deletedFrom(collected);

    killed!.child.kill("SIGKILL");
    await killed!.exited;
    // Its file stays behind: the registry drops it when it sees the process gone, or else on expiry.
    await waitFor("the killed node's delete event", deleted("node-killed"), ttlMs + 1_500);
    expect(await nodeIds(registry)).toEqual(["node-survivor", "node-terminated"]);

    terminated!.child.kill("SIGTERM");
    expect(await terminated!.exited).toBe(0);
    // Deregistered on the way out: gone as soon as the process is, long before its TTL could lapse.
    expect(await nodeIds(registry)).toEqual(["node-survivor"]);
    await waitFor("the terminated node's delete event", deleted("node-terminated"), 1_000);

    // The survivor's heartbeats keep it registered well past its TTL, with no events of its own.
    await sleep(Math.max(0, startedAt + 2 * ttlMs - Date.now()));
    expect(await nodeIds(registry)).toEqual(["node-survivor"]);
    expect(collected.events.filter((e) => e.service.nodes[0]?.id === "node-survivor")).toEqual([]);
    expect(survivor!.child.exitCode).toBeNull();
  });

  it.runIf(process.platform === "linux")(
    "drops a SIGKILLed process's node long before its TTL: from watches (a delete event), lookups and the folder",
    async () => {
      const dir = await registryDir();
      const [killed, alive] = await Promise.all(
        ["node-killed", "node-alive"].map((id) => startGreeter(dir, id, longTtlMs)),
      );
      // One registry that watches, one that only looks up (and has checked both processes already).
      const watching = await openRegistry(dir);
      const collected = collectEvents(watching.watch({ service: "greeter" }));
      await watchesReady(watching);
      const lookingUp = await openRegistry(dir);
      expect(await nodeIds(lookingUp)).toEqual(["node-alive", "node-killed"]);

      killed!.child.kill("SIGKILL");
      await killed!.exited;
      // Well within the TTL: only seeing its process gone can have dropped it.
      await waitFor("the killed node's delete event", deletedFrom(collected)("node-killed"), longTtlMs / 2);
      const onlyAlive = async () => JSON.stringify(await nodeIds(lookingUp)) === '["node-alive"]';
      await waitFor("lookups without the killed node", onlyAlive, longTtlMs / 2);
      expect(await readdir(join(dir, "greeter"))).toEqual(["node-alive.json"]);

      // The live process's node stays, with no event of its own.
      expect(await nodeIds(watching)).toEqual(["node-alive"]);
      expect(collected.events.map((e) => `${e.action} ${e.service.nodes[0]?.id}`)).toEqual(["delete node-killed"]);
      expect(alive!.child.exitCode).toBeNull();
    },
  );

  // A time namespace shifts the start /proc shows for every process by its boot offset, for readers in it.
  const timeNamespaced = ["unshare", "--time", "--boottime", "100000"];
  const canUnshareTime =
    process.platform === "linux" && spawnSync(timeNamespaced[0]!, [...timeNamespaced.slice(1), "true"]).status === 0;

  it.runIf(canUnshareTime)(
    "keeps the node of a live process in another time namespace, whose start /proc shows it otherwise",
    async () => {
      const dir = await registryDir();
      const shifted = await startGreeter(dir, "node-shifted", longTtlMs, timeNamespaced);
      const registry = await openRegistry(dir);
      // Lookups see it running (ticks read here differ from those it wrote), and leave its file.
      expect(await nodeIds(registry)).toEqual(["node-shifted"]);
      expect(await readdir(join(dir, "greeter"))).toEqual(["node-shifted.json"]);
      expect(shifted.child.exitCode).toBeNull();
      shifted.child.kill("SIGKILL");
      await shifted.exited;
    },
  );

  it.runIf(process.platform === "linux")(
    "leaves to the TTL a dead process's node it cannot check: of another pid namespace or boot, or with no record",
    async () => {
      const dir = await registryDir();
      const model = await startGreeter(dir, "node-model", longTtlMs);
      const registry = await openRegistry(dir);
      const collected = collectEvents(registry.watch({ service: "greeter" }));
      await watchesReady(registry);
      const file = (id: string) => join(dir, "greeter", `${id}.json`);
      const written = JSON.parse(await readFile(file("node-model"), "utf8")) as {
        node: object;
        process: { pidNamespace: number };
      };
      model.child.kill("SIGKILL");
      await model.exited;
      // Its process is dead everywhere; these copies name it as seen from elsewhere, or not at all.
      const copies = {
        "node-other-namespace": { ...written.process, pidNamespace: written.process.pidNamespace + 1 },
        "node-other-boot": { ...written.process, boot: "00000000-0000-0000-0000-000000000000" },
        "node-no-record": undefined,
      };
      for (const [id, writer] of Object.entries(copies))
        await writeFile(file(id), JSON.stringify({ ...written, node: { ...written.node, id }, process: writer }));

      // The model's node goes at the next scan; the copies, checked by the same reads, stay until their TTL.
      const seen = () => collected.events.map((e) => `${e.action} ${e.service.nodes[0]?.id}`).sort();
      const expected = ["create node-no-record", "create node-other-boot", "create node-other-namespace"];
      await waitFor("the model's delete event", () => seen().includes("delete node-model"), longTtlMs / 2);
      await waitFor("the copies' create events", () => seen().length === 4, longTtlMs / 2);
      expect(seen()).toEqual([...expected, "delete node-model"]);
      expect(await nodeIds(registry)).toEqual(["node-no-record", "node-other-boot", "node-other-namespace"]);
      expect((await readdir(join(dir, "greeter"))).sort()).toEqual(
        Object.keys(copies)
          .map((id) => `${id}.json`)
          .sort(),
      );
    },
  );
});
