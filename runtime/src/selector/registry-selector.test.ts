import { describe, expect, it } from "vitest";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Node, Registry, RegistryEvent, Service, Watcher } from "../registry/registry.js";
import { deadlinePassedBeforeSending } from "../transport/call-errors.js";
import type { ClientCall } from "../transport/transport.js";
import { createRegistrySelector } from "./registry-selector.js";
import { leastInflight, random, roundRobin } from "./strategies.js";

const node = (id: string): Node => ({ id, address: `127.0.0.1:${id}`, metadata: {} });
const service = (nodes: Node[]): Service => ({ name: "svc", version: "1", metadata: {}, endpoints: [], nodes });

/** A registry stub whose contents and reachability the test controls, with a watch the test feeds. */
function stubRegistry(initial: Node[]) {
  let nodes = initial;
  let reachable = true;
  let reads = 0;
  const queue: RegistryEvent[] = [];
  let wake: (() => void) | undefined;
  const registry: Registry = {
    kind: "stub",
    start: async () => {},
    stop: async () => {},
    register: async () => {},
    deregister: async () => {},
    getService: async () => {
      reads++;
      if (!reachable) throw new Error("registry down");
      return nodes.length > 0 ? [service(nodes)] : [];
    },
    listServices: async () => [],
    watch(): Watcher {
      let stopped = false;
      return {
        stop: () => {
          stopped = true;
          wake?.();
        },
        async *[Symbol.asyncIterator]() {
          while (!stopped) {
            const event = queue.shift();
            if (event) yield event;
            else await new Promise<void>((resolve) => (wake = resolve));
          }
        },
      };
    },
  };
  return {
    registry,
    set: (next: Node[]) => (nodes = next),
    setReachable: (value: boolean) => (reachable = value),
    reads: () => reads,
    emit: (event: RegistryEvent) => {
      queue.push(event);
      wake?.();
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("registry selector", () => {
  it("round robin spreads calls evenly", async () => {
    const { registry } = stubRegistry([node("1"), node("2"), node("3")]);
    const selector = createRegistrySelector({ registry, strategy: roundRobin });
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const picked = (await selector.select("svc"))();
      counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
      selector.mark("svc", picked, undefined);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
    await selector.stop();
  });

  it("reads the registry once and then follows its watch", async () => {
    const stub = stubRegistry([node("1")]);
    const selector = createRegistrySelector({ registry: stub.registry });
    await selector.select("svc");
    stub.emit({ action: "create", service: service([node("2")]) });
    await tick();
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await selector.select("svc"))().id);
    expect(seen).toEqual(new Set(["1", "2"]));
    stub.emit({ action: "delete", service: service([node("1")]) });
    await tick();
    for (let i = 0; i < 5; i++) expect((await selector.select("svc"))().id).toBe("2");
    expect(stub.reads()).toBe(1);
    await selector.stop();
  });

  it("keeps serving the last known nodes when the registry is unreachable", async () => {
    let t = 0;
    const stub = stubRegistry([node("1"), node("2")]);
    const selector = createRegistrySelector({ registry: stub.registry, refreshMs: 10, now: () => t });
    await selector.select("svc");
    stub.setReachable(false);
    t += 1_000;
    for (let i = 0; i < 4; i++) expect(["1", "2"]).toContain((await selector.select("svc"))().id);
    await selector.stop();
  });

  it("fails with UNAVAILABLE when the registry is unreachable and nothing is cached", async () => {
    const stub = stubRegistry([node("1")]);
    stub.setReachable(false);
    const selector = createRegistrySelector({ registry: stub.registry });
    await expect(selector.select("svc")).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      message: "cannot look up service svc: registry unreachable",
    });
  });

  it("ejects a node marked UNAVAILABLE for a while, unless nothing else is left", async () => {
    let t = 0;
    const { registry } = stubRegistry([node("1"), node("2")]);
    const selector = createRegistrySelector({ registry, ejectMs: 1_000, now: () => t });
    const down = node("1");
    selector.mark("svc", down, undefined);
    await selector.select("svc");
    selector.mark("svc", down, new TsmicroError(Code.UNAVAILABLE, "connection refused"));
    for (let i = 0; i < 6; i++) expect((await selector.select("svc"))().id).toBe("2");
    // Only node 1 remains selectable once node 2 is excluded: it is used rather than failing.
    expect((await selector.select("svc", { exclude: new Set(["2"]) }))().id).toBe("1");
    t += 1_001;
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await selector.select("svc"))().id);
    expect(seen).toEqual(new Set(["1", "2"]));
    await selector.stop();
  });

  it("does not eject for business errors", async () => {
    const { registry } = stubRegistry([node("1"), node("2")]);
    const selector = createRegistrySelector({ registry });
    await selector.select("svc");
    selector.mark("svc", node("1"), new TsmicroError(Code.NOT_FOUND, "no such user"));
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await selector.select("svc"))().id);
    expect(seen).toEqual(new Set(["1", "2"]));
    await selector.stop();
  });

  it("excludes nodes a retry already tried", async () => {
    const { registry } = stubRegistry([node("1"), node("2"), node("3")]);
    const selector = createRegistrySelector({ registry, strategy: random });
    for (let i = 0; i < 20; i++) {
      expect((await selector.select("svc", { exclude: new Set(["1", "3"]) }))().id).toBe("2");
    }
    await selector.stop();
  });

  it("treats nodes at one address as one server: a restarted node's new id is left out and ejected with the old", async () => {
    const old = { id: "old", address: "127.0.0.1:5001", metadata: {} };
    const restarted = { id: "restarted", address: "127.0.0.1:5001", metadata: {} };
    const { registry } = stubRegistry([old, restarted, node("2")]);
    const selector = createRegistrySelector({ registry, strategy: random });
    for (let i = 0; i < 20; i++) {
      expect((await selector.select("svc", { exclude: new Set(["old"]) }))().id).toBe("2");
    }
    selector.mark("svc", old, new TsmicroError(Code.UNAVAILABLE, "connection refused"));
    for (let i = 0; i < 20; i++) expect((await selector.select("svc"))().id).toBe("2");
    await selector.stop();
  });

  it("least-inflight steers away from a node with calls piling up", async () => {
    const { registry } = stubRegistry([node("1"), node("2")]);
    const selector = createRegistrySelector({ registry, strategy: leastInflight });
    const next = await selector.select("svc");
    // Node 1 is slow: its calls never finish.
    let slow = 0;
    for (let i = 0; i < 200; i++) {
      const picked = next();
      if (picked.id === "1") slow++;
      else selector.mark("svc", picked, undefined);
    }
    expect(slow).toBeLessThan(20);
    await selector.stop();
  });
});

describe("outlier ejection", () => {
  it("ejects a node failing with server errors five times in a row, not one failing with business errors", async () => {
    let t = 0;
    const { registry } = stubRegistry([node("1"), node("2"), node("3")]);
    const selector = createRegistrySelector({ registry, strategy: roundRobin, ejectMs: 1_000, now: () => t });
    await selector.select("svc");
    for (let i = 0; i < 10; i++) selector.mark("svc", node("3"), new TsmicroError(Code.NOT_FOUND, "no such user"));
    for (let i = 0; i < 4; i++) selector.mark("svc", node("1"), new TsmicroError(Code.INTERNAL, "db down"));
    const picks = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) seen.add((await selector.select("svc"))().id);
      return seen;
    };
    expect(await picks()).toEqual(new Set(["1", "2", "3"]));
    selector.mark("svc", node("1"), new TsmicroError(Code.UNKNOWN, "handler threw"));
    expect(await picks()).toEqual(new Set(["2", "3"]));
    t += 1_001;
    expect(await picks()).toEqual(new Set(["1", "2", "3"]));
    await selector.stop();
  });

  it("ejects a node timing out three times in a row, not one whose calls were not sent as their deadline had passed", async () => {
    const { registry } = stubRegistry([node("1"), node("2")]);
    const selector = createRegistrySelector({ registry, strategy: roundRobin, ejectMs: 1_000 });
    await selector.select("svc");
    const method = { path: "/svc.Svc/Do" } as ClientCall["method"];
    const notSent = deadlinePassedBeforeSending({ method, deadline: new Date(Date.now() - 1) } as ClientCall);
    for (let i = 0; i < 5; i++) selector.mark("svc", node("2"), notSent, 0);
    const picks = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await selector.select("svc"))().id);
      return seen;
    };
    expect(await picks()).toEqual(new Set(["1", "2"]));
    const timeout = new TsmicroError(Code.DEADLINE_EXCEEDED, "Deadline exceeded: /svc.Svc/Do got no answer in time");
    for (let i = 0; i < 3; i++) selector.mark("svc", node("2"), timeout, 5_000);
    expect(await picks()).toEqual(new Set(["1"]));
    await selector.stop();
  });

  it("ejects a node answering far slower than its peers, and measures it afresh when it is back", async () => {
    let t = 0;
    const { registry } = stubRegistry([node("1"), node("2"), node("3"), node("4")]);
    const selector = createRegistrySelector({ registry, strategy: roundRobin, ejectMs: 1_000, now: () => t });
    await selector.select("svc");
    const answer = (id: string, ms: number) => selector.mark("svc", node(id), undefined, ms);
    for (let i = 0; i < 10; i++) for (const id of ["2", "3", "4"]) answer(id, 5);
    // Slow but not an outlier: 40 ms is 8x the median and only 35 ms above it.
    for (let i = 0; i < 10; i++) answer("1", 40);
    const picks = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) seen.add((await selector.select("svc"))().id);
      return seen;
    };
    expect(await picks()).toEqual(new Set(["1", "2", "3", "4"]));
    for (let i = 0; i < 10; i++) answer("1", 300);
    expect(await picks()).toEqual(new Set(["2", "3", "4"]));
    // At most a third of the nodes: another slow one stays in.
    for (let i = 0; i < 10; i++) answer("2", 300);
    expect(await picks()).toEqual(new Set(["2", "3", "4"]));
    t += 1_001;
    expect(await picks()).toEqual(new Set(["1", "2", "3", "4"]));
    await selector.stop();
  });
});

describe("registry selector after its registry stops", () => {
  it("stops following without an unhandled rejection when the registry refuses a new watch", async () => {
    const { createMemoryRegistry } = await import("../registry/memory-registry.js");
    const memory = createMemoryRegistry();
    await memory.register(service([node("1")]), { ttlMs: 60_000 });
    // As the etcd registry does once stopped: its watches end, and a new one is refused.
    let closed = false;
    const watchers: Watcher[] = [];
    const registry: Registry = {
      ...memory,
      kind: memory.kind,
      getService: (name) => memory.getService(name),
      watch: (options) => {
        if (closed) throw new TsmicroError(Code.FAILED_PRECONDITION, "the registry is stopped");
        const watcher = memory.watch(options);
        watchers.push(watcher);
        return watcher;
      },
    };
    const selector = createRegistrySelector({ registry });
    expect((await selector.select("svc"))().id).toBe("1");
    const rejections: unknown[] = [];
    const noted = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", noted);
    try {
      closed = true;
      for (const watcher of watchers) watcher.stop();
      // The selector watches again a second after its watch ended.
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", noted);
      await selector.stop();
    }
  });
});

describe("registry selector on the local registry", () => {
  it("drops a node that left between its first read and its watch's first scan", async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { createLocalRegistry } = await import("../registry/local-registry.js");
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-selector-"));
    const local = createLocalRegistry({ dir });
    const other = createLocalRegistry({ dir });
    await Promise.all([local.start(), other.start()]);
    await other.register(service([node("1"), node("2")]), { ttlMs: 60_000 });
    // Node 2 leaves right after the selector's read, before anything else of the selector runs.
    const registry: Registry = {
      kind: local.kind,
      start: () => local.start(),
      stop: () => local.stop(),
      register: (record, options) => local.register(record, options),
      deregister: (record) => local.deregister(record),
      listServices: () => local.listServices(),
      getService: async (name) => {
        const read = await local.getService(name);
        await other.deregister(service([node("2")]));
        return read;
      },
      watch: (options) => local.watch(options),
    };
    const counts: number[] = [];
    const selector = createRegistrySelector({ registry, onNodes: (_service, count) => counts.push(count) });
    try {
      await selector.select("svc");
      expect(counts).toEqual([2]);
      // The watch saw node 2 through the read, so its next scan reports it gone.
      await expect.poll(() => counts.at(-1), { timeout: 5_000 }).toBe(1);
      const next = await selector.select("svc");
      expect([next().id, next().id]).toEqual(["1", "1"]);
    } finally {
      await selector.stop();
      await Promise.all([local.stop(), other.stop()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
