/**
 * The behaviour every registry backend must show, as vitest tests a
 * backend's test file declares with `describeRegistryConformance`. Each test
 * uses service names of its own, so a backend may share one server across
 * tests. Test support only: not exported from the package.
 *
 * Watch contract: every change made after `watch()` returns reaches the
 * watcher, in order, but a backend that polls may merge changes closer
 * together than it looks (a create then an update arrive as one create), so
 * tests let each change arrive before making the next one about the same node.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "../errors/tsmicro-error.js";
import type { Registry, RegistryEvent, Service, Watcher } from "./registry.js";

/** A backend under test: a started registry on it, and how to release what the backend holds (server, folder). */
export interface RegistryUnderTest {
  readonly registry: Registry;
  cleanup(): Promise<void>;
}

/** Timing a backend may need; the defaults suit the memory and local registries. */
export interface ConformanceOptions {
  /** How long after its TTL an unrenewed node may take to disappear. Default 2000. */
  readonly expiryMarginMs?: number;
}

/** Events a watcher has delivered so far, read in the background. */
export interface CollectedEvents {
  readonly events: readonly RegistryEvent[];
  /** Whether the watcher's iteration has ended. */
  readonly ended: boolean;
}

/** Reads a watcher in the background, so a test can wait for events instead of racing them. */
export function collectEvents(watcher: Watcher): CollectedEvents {
  const events: RegistryEvent[] = [];
  let ended = false;
  void (async () => {
    for await (const event of watcher) events.push(event);
    ended = true;
  })();
  return {
    events,
    get ended() {
      return ended;
    },
  };
}

/** Polls `probe` until it returns something truthy, which it returns; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Short enough to keep the suite fast, long enough that a loaded machine renews in time. */
const ttlMs = 1_000;

/** Declares the conformance tests of the backend `make` builds (a fresh, started registry per test). */
export function describeRegistryConformance(
  name: string,
  make: () => Promise<RegistryUnderTest>,
  options: ConformanceOptions = {},
): void {
  const expiryMarginMs = options.expiryMarginMs ?? 2_000;
  /** Time for a change made through the registry to reach a watcher. */
  const eventTimeoutMs = 2_000;

  describe(`${name} registry (conformance)`, () => {
    let underTest: RegistryUnderTest;
    let registry: Registry;
    const watchers: Watcher[] = [];

    beforeEach(async () => {
      underTest = await make();
      registry = underTest.registry;
    });

    afterEach(async () => {
      for (const watcher of watchers.splice(0)) watcher.stop();
      await registry.stop();
      await underTest.cleanup();
    });

    const watch = (service?: string) => {
      const watcher = registry.watch(service === undefined ? {} : { service });
      watchers.push(watcher);
      return watcher;
    };
    const nodeIds = (services: readonly Service[]) => services.flatMap((s) => s.nodes.map((n) => n.id)).sort();
    const about = (event: RegistryEvent) =>
      `${event.action} ${event.service.name}@${event.service.version} ${event.service.nodes.map((n) => n.id).join(",")}`;
    const waitForEvent = (collected: CollectedEvents, expected: string, timeoutMs = eventTimeoutMs) =>
      waitFor(`event "${expected}"`, () => collected.events.some((event) => about(event) === expected), timeoutMs);

    it("shows a registered service, with its record and node, in getService and listServices", async () => {
      const service = greeter(unique("go.micro.srv.greeter"), "1.0.0", ["node-1"]);
      await registry.register(service, { ttlMs: 10_000 });

      expect(await registry.getService(service.name)).toEqual([service]);
      const listed = await registry.listServices();
      expect(listed.filter((s) => s.name === service.name).map((s) => s.version)).toEqual(["1.0.0"]);
    });

    it("returns nothing for a service nobody registered", async () => {
      expect(await registry.getService(unique("nobody"))).toEqual([]);
    });

    it("forgets a deregistered service in getService and listServices", async () => {
      const service = greeter(unique("greeter"), "1.0.0", ["node-1"]);
      await registry.register(service, { ttlMs: 10_000 });
      await registry.deregister(service);

      expect(await registry.getService(service.name)).toEqual([]);
      expect((await registry.listServices()).map((s) => s.name)).not.toContain(service.name);
    });

    it("merges nodes registered separately under one version and keeps versions apart", async () => {
      const serviceName = unique("greeter");
      await registry.register(greeter(serviceName, "1.0.0", ["a"]), { ttlMs: 10_000 });
      await registry.register(greeter(serviceName, "1.0.0", ["b", "c"]), { ttlMs: 10_000 });
      await registry.register(greeter(serviceName, "2.0.0", ["d"]), { ttlMs: 10_000 });

      const services = await registry.getService(serviceName);
      const byVersion = Object.fromEntries(services.map((s) => [s.version, nodeIds([s])]));
      expect(byVersion).toEqual({ "1.0.0": ["a", "b", "c"], "2.0.0": ["d"] });
      const listed = (await registry.listServices()).filter((s) => s.name === serviceName);
      expect(listed.map((s) => s.version).sort()).toEqual(["1.0.0", "2.0.0"]);
    });

    it("deregisters only the nodes it is given", async () => {
      const serviceName = unique("greeter");
      await registry.register(greeter(serviceName, "1.0.0", ["a", "b"]), { ttlMs: 10_000 });
      await registry.deregister(greeter(serviceName, "1.0.0", ["a"]));

      expect(nodeIds(await registry.getService(serviceName))).toEqual(["b"]);
    });

    it("treats deregistering an unknown node or service as harmless", async () => {
      const serviceName = unique("greeter");
      await registry.register(greeter(serviceName, "1.0.0", ["a"]), { ttlMs: 10_000 });

      await registry.deregister(greeter(serviceName, "1.0.0", ["never-registered"]));
      await registry.deregister(greeter(unique("never-registered"), "1.0.0", ["x"]));
      expect(nodeIds(await registry.getService(serviceName))).toEqual(["a"]);
    });

    it("drops a node whose heartbeats stop, once its TTL has passed", async () => {
      const service = greeter(unique("greeter"), "1.0.0", ["a"]);
      await registry.register(service, { ttlMs });

      await sleep(ttlMs / 2);
      expect(nodeIds(await registry.getService(service.name))).toEqual(["a"]);
      await waitFor(
        "the node to expire",
        async () => (await registry.getService(service.name)).length === 0,
        ttlMs + expiryMarginMs,
      );
      expect((await registry.listServices()).map((s) => s.name)).not.toContain(service.name);
    });

    it("keeps a heartbeating node alive well past its TTL, without reporting the heartbeats", async () => {
      const service = greeter(unique("greeter"), "1.0.0", ["a"]);
      const collected = collectEvents(watch(service.name));
      // Longer than the other tests' TTL: on a loaded machine a heartbeat a quarter TTL apart can
      // arrive a second late, and the node would rightly expire in between.
      const heartbeatTtlMs = 3 * ttlMs;
      await registry.register(service, { ttlMs: heartbeatTtlMs });

      const until = Date.now() + heartbeatTtlMs * 2.5;
      while (Date.now() < until) {
        await sleep(heartbeatTtlMs / 4);
        await registry.register(service, { ttlMs: heartbeatTtlMs });
        expect(nodeIds(await registry.getService(service.name))).toEqual(["a"]);
      }
      expect(collected.events.map(about)).toEqual([`create ${service.name}@1.0.0 a`]);
    });

    it("reports create, update and delete to a watcher", async () => {
      const service = greeter(unique("greeter"), "1.0.0", ["a"]);
      const collected = collectEvents(watch());

      await registry.register(service, { ttlMs: 10_000 });
      await waitForEvent(collected, `create ${service.name}@1.0.0 a`);

      const moved = { ...service, nodes: [{ ...service.nodes[0]!, address: "127.0.0.1:9999" }] };
      await registry.register(moved, { ttlMs: 10_000 });
      await waitForEvent(collected, `update ${service.name}@1.0.0 a`);
      const update = collected.events.find((event) => event.action === "update")!;
      expect(update.service.nodes[0]?.address).toBe("127.0.0.1:9999");
      expect((await registry.getService(service.name))[0]?.nodes[0]?.address).toBe("127.0.0.1:9999");

      await registry.deregister(moved);
      await waitForEvent(collected, `delete ${service.name}@1.0.0 a`);
      expect(collected.events.filter((e) => e.service.name === service.name).map(about)).toEqual([
        `create ${service.name}@1.0.0 a`,
        `update ${service.name}@1.0.0 a`,
        `delete ${service.name}@1.0.0 a`,
      ]);
    });

    it("reports changed service metadata as an update, and getService shows the new metadata", async () => {
      const service = greeter(unique("greeter"), "1.0.0", ["a"]);
      const collected = collectEvents(watch(service.name));
      await registry.register(service, { ttlMs: 10_000 });
      await waitForEvent(collected, `create ${service.name}@1.0.0 a`);
      await registry.register({ ...service, metadata: { region: "eu" } }, { ttlMs: 10_000 });

      await waitForEvent(collected, `update ${service.name}@1.0.0 a`);
      expect(collected.events.at(-1)?.service.metadata).toEqual({ region: "eu" });
      expect((await registry.getService(service.name))[0]?.metadata).toEqual({ region: "eu" });
    });

    it("reports expiry to a watcher as a delete, without anyone reading the registry", async () => {
      const service = greeter(unique("greeter"), "1.0.0", ["a"]);
      const collected = collectEvents(watch());
      await registry.register(service, { ttlMs });

      await waitForEvent(collected, `delete ${service.name}@1.0.0 a`, ttlMs + expiryMarginMs);
    });

    it("shows a filtered watcher only its service", async () => {
      const watched = greeter(unique("watched"), "1.0.0", ["w"]);
      const other = greeter(unique("other"), "1.0.0", ["o"]);
      const collected = collectEvents(watch(watched.name));

      await registry.register(other, { ttlMs: 10_000 });
      await registry.register(watched, { ttlMs: 10_000 });
      await waitForEvent(collected, `create ${watched.name}@1.0.0 w`);
      await registry.deregister(other);
      await registry.deregister(watched);

      await waitForEvent(collected, `delete ${watched.name}@1.0.0 w`);
      expect(collected.events.map(about)).toEqual([`create ${watched.name}@1.0.0 w`, `delete ${watched.name}@1.0.0 w`]);
    });

    it("ends a watcher's iteration when it is stopped, and delivers nothing after", async () => {
      const watcher = watch();
      const collected = collectEvents(watcher);
      watcher.stop();

      await waitFor("the iteration to end", () => collected.ended, eventTimeoutMs);
      await registry.register(greeter(unique("greeter"), "1.0.0", ["a"]), { ttlMs: 10_000 });
      await sleep(200);
      expect(collected.events).toEqual([]);
    });

    it("ends every watcher's iteration when the registry stops", async () => {
      const all = collectEvents(watch());
      const one = collectEvents(watch(unique("greeter")));

      await registry.stop();
      await waitFor("both iterations to end", () => all.ended && one.ended, eventTimeoutMs);
    });

    it("refuses names that could escape a folder or key, and bad TTLs, as INVALID_ARGUMENT", async () => {
      const refused = { name: "TsmicroError", code: Code.INVALID_ARGUMENT };
      for (const badName of ["", "..", "../escape", "a/b", "a\\b", ".hidden", "nul\0byte"]) {
        await expect(registry.register(greeter(badName, "1.0.0", ["a"]), { ttlMs }), badName).rejects.toMatchObject(
          refused,
        );
        await expect(
          registry.register(greeter(unique("greeter"), "1.0.0", [badName]), { ttlMs }),
          badName,
        ).rejects.toMatchObject(refused);
      }
      await expect(registry.register(greeter(unique("greeter"), "1.0.0", ["a"]), { ttlMs: 0 })).rejects.toMatchObject(
        refused,
      );
      await expect(registry.register(greeter(unique("greeter"), "1.0.0", []), { ttlMs })).rejects.toMatchObject(
        refused,
      );
      expect(await registry.getService("../escape")).toEqual([]);
    });
  });
}

/** A service record as tsmicro services register them, with one node per id. */
function greeter(name: string, version: string, ids: readonly string[]): Service {
  return {
    name,
    version,
    metadata: {},
    endpoints: [{ name: "Greeter.Hello", request: "HelloRequest", response: "HelloReply", metadata: {} }],
    nodes: ids.map((id, port) => ({ id, address: `127.0.0.1:${50_000 + port}`, metadata: { protocol: "grpc" } })),
  };
}

/** A name no other test (or earlier run on a shared backend) uses. */
function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
