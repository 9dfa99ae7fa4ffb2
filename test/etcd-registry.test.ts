import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { Etcd3 } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isSetupError } from "../runtime/src/errors/setup-error.js";
import { Code, isTsmicroError } from "../runtime/src/errors/tsmicro-error.js";
import { createEtcdRegistry, type EtcdRegistryOptions, etcdFailure } from "../runtime/src/registry/etcd-registry.js";
import { createRegistrySelector } from "../runtime/src/selector/registry-selector.js";
import { describeRegistryConformance } from "../runtime/src/registry/registry-conformance.js";
import type { Registry, RegistryEvent, Service, Watcher } from "../runtime/src/registry/registry.js";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { repoRoot } from "./support/cli.js";
import { closedPort, etcdProgram, startEtcdCluster, type EtcdCluster } from "./support/etcd.js";
import { startFaultProxy } from "./support/fault-proxy.js";

const describeEtcd = etcdProgram ? describe : describe.skip;

/** A greeter at `version` with one node per id. */
function greeter(
  name: string,
  ids: readonly string[],
  version = "1.0.0",
  nodeMetadata: Record<string, string> = {},
): Service {
  return {
    name,
    version,
    metadata: { team: "core" },
    endpoints: [
      { name: "Greeter.Hello", request: "HelloRequest", response: "HelloReply", metadata: { stream: "false" } },
    ],
    nodes: ids.map((id, i) => ({
      id,
      address: `127.0.0.1:${50_000 + i}`,
      metadata: { protocol: "grpc", ...nodeMetadata },
    })),
  };
}

/** Polls `check` until it stops throwing, or rethrows its last error after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** The next event matching `accept`, failing after `timeoutMs`. */
async function nextEvent(
  events: AsyncIterator<RegistryEvent>,
  accept: (event: RegistryEvent) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<RegistryEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    const result = await Promise.race([events.next(), sleep(Math.max(remaining, 0)).then(() => "timeout" as const)]);
    if (result === "timeout") throw new Error(`no matching registry event within ${timeoutMs} ms`);
    if (result.done) throw new Error("the watch ended");
    if (accept(result.value)) return result.value;
  }
}

const nodeIds = (services: readonly Service[]) => services.flatMap((s) => s.nodes.map((n) => n.id)).sort();

describeEtcd("etcd registry", () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
    raw = new Etcd3({ hosts: [...cluster.endpoints] });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    raw?.close();
    await cluster?.stop();
  });

  async function started(options: Partial<EtcdRegistryOptions> = {}): Promise<Registry> {
    const registry = createEtcdRegistry({ addresses: [...cluster.endpoints], ...options });
    await registry.start();
    cleanups.push(() => registry.stop());
    return registry;
  }

  async function startedThrough(address: string): Promise<Registry> {
    const registry = createEtcdRegistry({ addresses: [address], requestTimeoutMs: 500 });
    await registry.start();
    cleanups.push(() => registry.stop());
    return registry;
  }

  function watching(registry: Registry, service: string): AsyncIterator<RegistryEvent> {
    const watcher: Watcher = registry.watch({ service });
    cleanups.push(() => watcher.stop());
    return watcher[Symbol.asyncIterator]();
  }

  it("used before start, says to call registry.start(), which a service does for its own; after stop, that it stopped", async () => {
    const registry = createEtcdRegistry({ addresses: [...cluster.endpoints] });
    await expect(registry.getService("x")).rejects.toMatchObject({
      code: Code.FAILED_PRECONDITION,
      message: expect.stringContaining(
        "the etcd registry is not started; call registry.start() first (whoever creates a registry starts it; " +
          "a service, connect() and the gateway start theirs)",
      ),
    });
    await registry.start();
    await registry.stop();
    await expect(registry.listServices()).rejects.toThrow("the etcd registry is stopped");
  });

  it("registers, finds, lists and deregisters nodes, grouping them by version", async () => {
    const registry = await started();
    await registry.register(greeter("crud.greeter", ["a", "b"]), { ttlMs: 10_000 });
    await registry.register(greeter("crud.greeter", ["c"], "2.0.0"), { ttlMs: 10_000 });

    const versions = await registry.getService("crud.greeter");
    expect(versions.map((s) => s.version).sort()).toEqual(["1.0.0", "2.0.0"]);
    const v1 = versions.find((s) => s.version === "1.0.0");
    expect(v1?.nodes.map((n) => n.id).sort()).toEqual(["a", "b"]);
    expect(v1?.endpoints).toEqual(greeter("x", []).endpoints);
    expect(v1?.nodes.find((n) => n.id === "a")).toEqual({
      id: "a",
      address: "127.0.0.1:50000",
      metadata: { protocol: "grpc" },
    });
    const listed = (await registry.listServices()).filter((s) => s.name === "crud.greeter");
    expect(listed.map((s) => s.version).sort()).toEqual(["1.0.0", "2.0.0"]);

    await registry.deregister(greeter("crud.greeter", ["a"]));
    expect(nodeIds(await registry.getService("crud.greeter"))).toEqual(["b", "c"]);
    await registry.deregister(greeter("crud.greeter", ["b"]));
    await registry.deregister(greeter("crud.greeter", ["c"], "2.0.0"));
    expect(await registry.getService("crud.greeter")).toEqual([]);
    expect((await registry.listServices()).some((s) => s.name === "crud.greeter")).toBe(false);
    expect(await registry.getService("never.registered")).toEqual([]);
  });

  it("writes go-micro's key layout and JSON, on a lease with the TTL, and reads go-micro's records", async () => {
    const registry = await started();
    await registry.register(greeter("go.micro.srv.layout", ["layout-1"]), { ttlMs: 2_500 });

    const key = "/micro/registry/go.micro.srv.layout/layout-1";
    const kv = (await raw.get(key).exec()).kvs[0];
    expect(kv, `${key} missing`).toBeDefined();
    expect(JSON.parse(kv?.value.toString("utf8") ?? "")).toEqual({
      name: "go.micro.srv.layout",
      version: "1.0.0",
      metadata: { team: "core" },
      endpoints: [
        {
          name: "Greeter.Hello",
          request: { name: "HelloRequest", type: "HelloRequest" },
          response: { name: "HelloReply", type: "HelloReply" },
          metadata: { stream: "false" },
        },
      ],
      nodes: [{ id: "layout-1", address: "127.0.0.1:50000", metadata: { protocol: "grpc" } }],
    });
    expect(kv?.lease).not.toBe("0");
    const lease = await raw.leaseClient.leaseTimeToLive({ ID: kv?.lease ?? "0" });
    expect(lease.grantedTTL).toBe("3"); // 2.5 s rounds up to whole seconds

    // A record as go-micro itself writes it: nested Values, nulls.
    await raw.put("/micro/registry/go.greeter/go-1").value(
      JSON.stringify({
        name: "go.greeter",
        version: "latest",
        metadata: null,
        endpoints: [
          {
            name: "Say.Hello",
            request: { name: "Request", type: "Request", values: [{ name: "name", type: "string", values: null }] },
            response: { name: "Response", type: "Response", values: null },
            metadata: { stream: "false" },
          },
        ],
        nodes: [{ id: "go-1", address: "10.0.0.1:8080", metadata: { protocol: "grpc" } }],
      }),
    );
    cleanups.push(() => raw.delete().key("/micro/registry/go.greeter/go-1"));
    expect(await registry.getService("go.greeter")).toEqual([
      {
        name: "go.greeter",
        version: "latest",
        metadata: {},
        endpoints: [{ name: "Say.Hello", request: "Request", response: "Response", metadata: { stream: "false" } }],
        nodes: [{ id: "go-1", address: "10.0.0.1:8080", metadata: { protocol: "grpc" } }],
      },
    ]);

    // go-micro turns slashes in a service name into dashes in the key.
    const slashed = greeter("acme/store", ["s-1"]);
    await raw
      .put("/micro/registry/acme-store/s-1")
      .value(
        JSON.stringify({ ...slashed, endpoints: [], nodes: [{ id: "s-1", address: "10.0.0.2:8080", metadata: {} }] }),
      );
    cleanups.push(() => raw.delete().key("/micro/registry/acme-store/s-1"));
    expect(nodeIds(await registry.getService("acme/store"))).toEqual(["s-1"]);
  });

  it("drops the node of a killed process once its TTL runs out", async () => {
    const registry = await started();
    const events = watching(registry, "killed.greeter");
    const script = `
      const { createEtcdRegistry } = await import(${JSON.stringify(`${repoRoot}runtime/src/registry/etcd-registry.js`)});
      const registry = createEtcdRegistry({ addresses: ${JSON.stringify(cluster.endpoints)} });
      await registry.start();
      await registry.register(${JSON.stringify(greeter("killed.greeter", ["k1"]))}, { ttlMs: 1000 });
      console.log("registered");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    cleanups.push(() => child.kill("SIGKILL"));
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on("data", (chunk: Buffer) => chunk.toString().includes("registered") && resolve());
      child.once("exit", (code) => reject(new Error(`registering child exited with ${code}`)));
    });
    expect((await nextEvent(events)).action).toBe("create");
    expect(nodeIds(await registry.getService("killed.greeter"))).toEqual(["k1"]);

    child.kill("SIGKILL");
    const killedAt = Date.now();
    const gone = await nextEvent(events, (e) => e.action === "delete", 4_000);
    expect(gone.service.nodes.map((n) => n.id)).toEqual(["k1"]);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(500); // expired by the lease, not at once
    expect(await registry.getService("killed.greeter")).toEqual([]);
  });

  it("watches creates, updates and deletes, including expiry of a stopped registry's node", async () => {
    const watcherSide = await started();
    const owner = createEtcdRegistry({ addresses: [...cluster.endpoints] });
    await owner.start();
    cleanups.push(() => owner.stop());
    const events = watching(watcherSide, "watched.greeter");
    const other = watching(watcherSide, "other.greeter");

    await owner.register(greeter("watched.greeter", ["w1"]), { ttlMs: 1_000 });
    const created = await nextEvent(events);
    expect(created.action).toBe("create");
    expect(created.service).toEqual(greeter("watched.greeter", ["w1"]));

    await owner.register(greeter("watched.greeter", ["w1"], "1.0.0", { zone: "b" }), { ttlMs: 1_000 });
    const updated = await nextEvent(events);
    expect(updated.action).toBe("update");
    expect(updated.service.nodes[0]?.metadata).toEqual({ protocol: "grpc", zone: "b" });

    // A heartbeat with nothing changed is no event; the deregistration is the next one.
    await owner.register(greeter("watched.greeter", ["w1"], "1.0.0", { zone: "b" }), { ttlMs: 1_000 });
    await owner.deregister(greeter("watched.greeter", ["w1"]));
    const deleted = await nextEvent(events);
    expect(deleted.action).toBe("delete");
    expect(deleted.service.name).toBe("watched.greeter");
    expect(deleted.service.nodes.map((n) => n.id)).toEqual(["w1"]);

    await owner.register(greeter("watched.greeter", ["w2"]), { ttlMs: 1_000 });
    expect(await nextEvent(events)).toMatchObject({ action: "create" });
    await owner.stop(); // no deregistration: the node must expire
    const expired = await nextEvent(events, () => true, 4_000);
    expect(expired.action).toBe("delete");
    expect(expired.service.nodes.map((n) => n.id)).toEqual(["w2"]);

    // The watch of another service saw none of it.
    await expect(nextEvent(other, () => true, 300)).rejects.toThrow(/no matching registry event/);
  });

  it("sees what was registered between a read and the start of the watch", async () => {
    const registry = await started();
    const writer = await started();
    expect(await registry.getService("raced.greeter")).toEqual([]);
    await writer.register(greeter("raced.greeter", ["r1"]), { ttlMs: 5_000 });
    const events = watching(registry, "raced.greeter");
    expect(await nextEvent(events)).toMatchObject({ action: "create", service: { name: "raced.greeter" } });
  });

  it("a selector over it drops a node that left between its first read and its watch", async () => {
    const reader = await started();
    const other = await started();
    await other.register(greeter("gap.greeter", ["g1", "g2"]), { ttlMs: 60_000 });
    // g2 leaves right after the selector's read, and the reader then answers a later lookup (of
    // another service: a gateway's, another caller's), which moves the revision it knows past g2's leaving.
    const registry: Registry = {
      kind: reader.kind,
      start: () => reader.start(),
      stop: () => reader.stop(),
      register: (record, options) => reader.register(record, options),
      deregister: (record) => reader.deregister(record),
      listServices: () => reader.listServices(),
      getService: async (name) => {
        const read = await reader.getService(name);
        await other.deregister(greeter("gap.greeter", ["g2"]));
        await reader.getService("elsewhere.greeter");
        return read;
      },
      watch: (options) => reader.watch(options),
    };
    const counts: number[] = [];
    const selector = createRegistrySelector({ registry, onNodes: (_service, count) => counts.push(count) });
    cleanups.push(() => selector.stop());
    await selector.select("gap.greeter");
    // The read's two nodes first; the watch's delete may already have followed by the time select() returns.
    expect(counts[0]).toBe(2);
    await eventually(async () => expect(counts.at(-1)).toBe(1));
    const next = await selector.select("gap.greeter");
    expect([next().id, next().id]).toEqual(["g1", "g1"]);
  });

  it("keeps a node alive past its TTL with heartbeats that do not rewrite it", async () => {
    const registry = await started();
    const reader = await started();
    const service = greeter("heartbeat.greeter", ["h1"]);
    await registry.register(service, { ttlMs: 1_000 });
    const firstRevision = (await raw.get("/micro/registry/heartbeat.greeter/h1").exec()).kvs[0]?.mod_revision;
    for (let beat = 0; beat < 8; beat++) {
      await sleep(400);
      await registry.register(service, { ttlMs: 1_000 });
      expect(nodeIds(await reader.getService("heartbeat.greeter"))).toEqual(["h1"]);
    }
    expect((await raw.get("/micro/registry/heartbeat.greeter/h1").exec()).kvs[0]?.mod_revision).toBe(firstRevision);
  });

  it("re-registers at once when its lease is lost, without waiting for the next heartbeat", async () => {
    const registry = await started();
    const key = "/micro/registry/lost.greeter/l1";
    await registry.register(greeter("lost.greeter", ["l1"]), { ttlMs: 3_000 });
    const lease = (await raw.get(key).exec()).kvs[0]?.lease ?? "0";
    await raw.leaseClient.leaseRevoke({ ID: lease });

    // No heartbeat follows: the registry notices through its watch of its own keys (so quickly
    // that the key may be back before this looks: what counts is that it is back on a new lease).
    const back = await eventually(async () => {
      const kv = (await raw.get(key).exec()).kvs[0];
      if (!kv || kv.lease === lease) throw new Error(`${key} not re-registered`);
      return kv;
    }, 3_000);
    expect(back.lease).not.toBe(lease);
    expect(nodeIds(await registry.getService("lost.greeter"))).toEqual(["l1"]);
  });

  it("re-registers at once a node whose lease expired while its heartbeats could not reach etcd", async () => {
    // A partition between the service and etcd (or a frozen etcd) outlasting the TTL: etcd expires the
    // lease while the service heartbeats on, in vain. Once etcd answers again, the node is written back
    // at once, not at the next heartbeat (--register_interval later, with no node for callers meanwhile).
    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    cleanups.push(() => proxy.close());
    const registry = await startedThrough(proxy.address);
    const key = "/micro/registry/partitioned.greeter/p1";
    const service = greeter("partitioned.greeter", ["p1"]);
    await registry.register(service, { ttlMs: 8_000 });
    const lease = (await raw.get(key).exec()).kvs[0]?.lease;
    proxy.refuse(true);
    proxy.reset();
    await eventually(async () => {
      await registry.register(service, { ttlMs: 8_000 }).catch(() => undefined);
      if ((await raw.get(key).exec()).kvs.length > 0) throw new Error(`${key} not expired yet`);
    }, 16_000);
    // The last heartbeat, which failed too; none follows.
    await expect(registry.register(service, { ttlMs: 8_000 })).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    proxy.refuse(false);
    const back = await eventually(async () => {
      const kv = (await raw.get(key).exec()).kvs[0];
      if (!kv) throw new Error(`${key} not re-registered`);
      return kv;
    }, 7_000);
    expect(back.lease).not.toBe(lease);
  });

  it("lets a node lapse when its heartbeats stop, and the next heartbeat registers it on a new lease", async () => {
    const registry = await started();
    const key = "/micro/registry/lapsed.greeter/p1";
    const service = greeter("lapsed.greeter", ["p1"]);
    await registry.register(service, { ttlMs: 1_000 });
    const lease = (await raw.get(key).exec()).kvs[0]?.lease;
    await eventually(async () => expect(await registry.getService("lapsed.greeter")).toEqual([]), 4_000);

    // The service was merely slow: its next heartbeat finds the lease gone and starts over.
    await registry.register(service, { ttlMs: 1_000 });
    const kv = (await raw.get(key).exec()).kvs[0];
    expect(kv?.lease).toBeDefined();
    expect(kv?.lease).not.toBe(lease);
    for (let beat = 0; beat < 5; beat++) {
      await sleep(400);
      await registry.register(service, { ttlMs: 1_000 });
    }
    expect(nodeIds(await registry.getService("lapsed.greeter"))).toEqual(["p1"]);
  });

  describeRegistryConformance(
    "etcd",
    async () => {
      const registry = createEtcdRegistry({ addresses: [...cluster.endpoints] });
      await registry.start();
      return { registry, cleanup: async () => {} };
    },
    // etcd checks for expired leases every 500 ms.
    { expiryMarginMs: 3_000 },
  );

  it("start() fails at once against a closed port, naming the address and what to do", async () => {
    const port = await closedPort();
    const registry = createEtcdRegistry({ addresses: [`127.0.0.1:${port}`] });
    const began = Date.now();
    const error: unknown = await registry.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - began).toBeLessThan(3_000);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_REGISTRY_UNREACHABLE");
    expect(String(error)).toContain(`127.0.0.1:${port}`);
    expect(String(error)).toContain("start etcd or pass --registry_address");
  });

  it("says in words that etcd did not answer in time, without grpc-js's timings", async () => {
    // A frozen etcd (stopped by SIGSTOP, a dead link): its connection stays open, nothing comes back.
    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    cleanups.push(() => proxy.close());
    const registry = createEtcdRegistry({ addresses: [proxy.address], requestTimeoutMs: 500 });
    await registry.start();
    cleanups.push(() => registry.stop());
    proxy.freeze();
    const error: unknown = await registry.listServices().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTsmicroError(error) && error.code).toBe(Code.UNAVAILABLE);
    expect(String(error)).toMatch(
      new RegExp(
        `etcd registry at ${proxy.address}: .* failed: etcd did not answer within 0\\.5 s; is it running and reachable\\?`,
      ),
    );
    expect(String(error)).not.toMatch(/DEADLINE_EXCEEDED|LB pick|name resolution/);
  });

  it("words a heartbeat that got no answer with its whole timeout, not the little its last try had left", async () => {
    // etcd stopped, then back but not answering yet (replaying its log, say): the heartbeat's first
    // tries fail at once, and the one that meets the silent etcd waits out what is left of the timeout.
    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    cleanups.push(() => proxy.close());
    const registry = createEtcdRegistry({ addresses: [proxy.address], requestTimeoutMs: 4_000 });
    await registry.start();
    cleanups.push(() => registry.stop());
    const service = greeter("starting.greeter", ["s1"]);
    await registry.register(service, { ttlMs: 10_000 });
    proxy.refuse(true);
    proxy.reset();
    const heartbeat = registry.register(service, { ttlMs: 10_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Well inside the timeout, so a late wake-up on a busy machine still meets the silent etcd.
    await sleep(1_500);
    proxy.freeze();
    proxy.refuse(false);
    const error = await heartbeat;
    expect(isTsmicroError(error) && error.code).toBe(Code.UNAVAILABLE);
    expect(String(error)).toContain("failed: etcd did not answer within 4 s; is it running and reachable?");
  });
});

describe("etcd failures in words", () => {
  it("names the deadline set, not grpc-js's time, which runs late on a busy machine", () => {
    const late = new Error("4 DEADLINE_EXCEEDED: Deadline exceeded after 0.612s,name resolution: 0.000s");
    expect(etcdFailure(late, 500)).toBe("etcd did not answer within 0.5 s; is it running and reachable?");
    expect(etcdFailure(late)).toBe("etcd did not answer within 0.6 s; is it running and reachable?");
  });
});

describe("etcd registry addresses", () => {
  it("refuses a malformed endpoint at once, as the flag would, rather than dial it", () => {
    expect(() => createEtcdRegistry({ addresses: ["127.0.0.1:2379", "127.0.0.1:notaport"] })).toThrowError(
      expect.objectContaining({
        code: "TSM_ERR_FLAG",
        message:
          '--registry_address has an invalid value "127.0.0.1:notaport": use host:port, such as 127.0.0.1:2379 or http://etcd-1:2379, or a host alone for port 2379',
      }),
    );
  });

  it("says in words that a host name does not resolve, without grpc-js's text", async () => {
    // .invalid never resolves (RFC 2606): no etcd, and no network, is needed.
    const registry = createEtcdRegistry({ addresses: ["nohost.invalid"], dialTimeoutMs: 3_000 });
    const error: unknown = await registry.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_REGISTRY_UNREACHABLE");
    expect(String(error)).toContain(
      "the etcd registry at nohost.invalid:2379 cannot be reached (the name nohost.invalid does not resolve); start etcd or pass --registry_address",
    );
    expect(String(error)).not.toMatch(/UNAVAILABLE|Name resolution|failures in a row/);
  });
});

describeEtcd("etcd registry across an etcd restart", () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("keeps the node registered after etcd was down longer than the TTL, and the watch resumes", async () => {
    const options = { addresses: [...cluster.endpoints], requestTimeoutMs: 1_000 };
    const registry = createEtcdRegistry(options);
    const { logger, entries } = recordingLogger();
    const reader = createEtcdRegistry({ ...options, logger });
    const said = (level: string) => entries.filter((entry) => entry.level === level).map((entry) => entry.message);
    await registry.start();
    await reader.start();
    const watcher = reader.watch({ service: "restart.greeter" });
    const events = watcher[Symbol.asyncIterator]();
    const service = greeter("restart.greeter", ["n1"]);
    const heartbeatErrors: unknown[] = [];
    let beating = true;
    const heartbeat = (async () => {
      while (beating) {
        await registry.register(service, { ttlMs: 2_000 }).catch((error: unknown) => heartbeatErrors.push(error));
        await sleep(1_000);
      }
    })();
    try {
      await nextEvent(events, (e) => e.action === "create");

      await cluster.stopMember(0);
      await expect(reader.getService("restart.greeter")).rejects.toSatisfy(
        (e: unknown) =>
          isTsmicroError(e) && e.code === Code.UNAVAILABLE && e.message.includes(cluster.endpoints[0] ?? ""),
      );
      await sleep(10_000);
      // The watch's loss is said once, however often etcd3 tried to reconnect meanwhile.
      expect(said("warn")).toEqual([
        `lost the etcd registry at ${cluster.endpoints[0]}: calls go to the nodes it last listed until it answers; reconnecting`,
      ]);
      expect(entries[0]?.fields).toMatchObject({ registry: "etcd", reason: expect.stringMatching(/^[A-Za-z]/) });
      await cluster.startMember(0);
      // Heartbeats failed loudly while etcd was away.
      expect(heartbeatErrors.length).toBeGreaterThan(0);
      expect(heartbeatErrors.every((e) => isTsmicroError(e) && e.code === Code.UNAVAILABLE)).toBe(true);
      // In one line a person reads: grpc-js's own text (the socket error in it twice) is left out.
      for (const error of heartbeatErrors) {
        const message = (error as Error).message;
        expect(message).not.toContain("Resolution note");
        expect(message.match(/ECONNREFUSED/g)?.length ?? 0).toBeLessThanOrEqual(1);
      }

      await eventually(async () => expect(nodeIds(await reader.getService("restart.greeter"))).toEqual(["n1"]), 8_000);
      // Still there well past the TTL: it sits on a lease that is kept alive again.
      await sleep(3_000);
      expect(nodeIds(await reader.getService("restart.greeter"))).toEqual(["n1"]);

      // The watch reconnected by itself and sees new changes.
      await registry.register(greeter("restart.greeter", ["n2"]), { ttlMs: 2_000 });
      const created = await nextEvent(
        events,
        (e) => e.action === "create" && e.service.nodes.some((n) => n.id === "n2"),
        8_000,
      );
      expect(created.service.name).toBe("restart.greeter");
      expect(said("info")).toEqual([`the etcd registry at ${cluster.endpoints[0]} answers again`]);
    } finally {
      beating = false;
      await heartbeat;
      watcher.stop();
      await registry.stop();
      await reader.stop();
    }
    // Stopping is no loss worth a line.
    expect(said("warn")).toHaveLength(1);
  });
});

describeEtcd("etcd registry when etcd comes back empty", () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("ends its watches; a selector over it keeps live nodes, drops those gone with the old data, and sees new ones", async () => {
    const options = { addresses: [...cluster.endpoints], requestTimeoutMs: 1_000 };
    const writer = createEtcdRegistry(options);
    const ghost = createEtcdRegistry(options);
    const reader = createEtcdRegistry(options);
    await Promise.all([writer.start(), ghost.start(), reader.start()]);
    // History, as any running system has: the new etcd's revisions will be far behind these.
    for (let i = 0; i < 30; i++) await writer.register(greeter("filler.greeter", [`f${i}`]), { ttlMs: 60_000 });
    // n1's process dies while etcd is away; live's stays up (its registry writes it again).
    await ghost.register(greeter("empty.greeter", ["n1"]), { ttlMs: 60_000 });
    await writer.register(greeter("live.greeter", ["l1"]), { ttlMs: 60_000 });
    const selector = createRegistrySelector({ registry: reader });
    expect((await selector.select("empty.greeter"))().id).toBe("n1");
    expect((await selector.select("live.greeter"))().id).toBe("l1");
    // A watch after that read: its events follow what the read showed, which etcd will lose.
    const watcher = reader.watch({ service: "empty.greeter" });
    const ended = (async () => {
      for await (const _ of watcher);
    })();
    try {
      await cluster.stopMember(0);
      await ghost.stop();
      await cluster.startMember(0, { empty: true });
      const outcome = await Promise.race([ended.then(() => "ended"), sleep(5_000).then(() => "still waiting")]);
      expect(outcome, "the watch begun on the old etcd").toBe("ended");
      // The live node never stops being picked, though etcd lost it for a moment.
      for (let i = 0; i < 20; i++) {
        expect((await selector.select("live.greeter"))().id).toBe("l1");
        await sleep(100);
      }
      await writer.register(greeter("empty.greeter", ["n2"]), { ttlMs: 60_000 });
      await eventually(async () => {
        const picked = new Set<string>();
        for (let i = 0; i < 20; i++) picked.add((await selector.select("empty.greeter"))().id);
        expect([...picked]).toEqual(["n2"]);
      }, 15_000);
      expect(nodeIds(await reader.getService("live.greeter"))).toEqual(["l1"]);
    } finally {
      watcher.stop();
      await selector.stop();
      await writer.stop();
      await reader.stop();
    }
  });

  it("ends a watch opened before any read and writes its own nodes again, though the new etcd passed the old revisions before they reconnected", async () => {
    // The reader and live's registry reach etcd through a proxy, so the test decides when they reconnect.
    const proxy = await startFaultProxy(cluster.endpoints[0]!.replace(/^http:\/\//, ""));
    const reader = createEtcdRegistry({ addresses: [proxy.address], requestTimeoutMs: 1_000 });
    const live = createEtcdRegistry({ addresses: [proxy.address], requestTimeoutMs: 1_000 });
    const ghost = createEtcdRegistry({ addresses: [...cluster.endpoints], requestTimeoutMs: 1_000 });
    const raw = new Etcd3({ hosts: [...cluster.endpoints] });
    await Promise.all([reader.start(), live.start(), ghost.start()]);
    await ghost.register(greeter("caught.greeter", ["n1"]), { ttlMs: 60_000 });
    // No heartbeat follows: only noticing the loss writes l1 again.
    await live.register(greeter("caught.greeter", ["l1"], "1.0.0"), { ttlMs: 60_000 });
    // Opened before the reader read anything: it begins at the reader's start, in the past.
    const watcher = reader.watch({ service: "caught.greeter" });
    const events = watcher[Symbol.asyncIterator]();
    try {
      await nextEvent(events, (e) => e.action === "create" && e.service.nodes[0]?.id === "l1");
      // Asked while its connection to the restarted etcd is not back yet, the raw client fails UNAVAILABLE at once: ask again.
      const revision = async (): Promise<number> => {
        for (let tries = 1; ; tries++) {
          try {
            return Number((await raw.get("/").exec()).header.revision);
          } catch (error) {
            if (tries >= 50) throw error;
            await sleep(200);
          }
        }
      };
      const old = await revision();
      proxy.refuse(true);
      proxy.reset();
      await cluster.stopMember(0);
      await ghost.stop();
      await cluster.startMember(0, { empty: true });
      // Writers of the new etcd take it past every revision the watch knew.
      for (let i = 0; (await revision()) <= old + 10; i++) await raw.put(`/elsewhere/k${i}`).value("x");
      proxy.refuse(false);
      const outcome = await Promise.race([
        (async () => {
          for (;;) if ((await events.next()).done) return "ended";
        })(),
        sleep(10_000).then(() => "still waiting"),
      ]);
      expect(outcome, "the watch begun on the old etcd").toBe("ended");
      // What a reader finds on reading again: l1, written again at once; n1 went with the old data.
      await eventually(async () => expect(nodeIds(await reader.getService("caught.greeter"))).toEqual(["l1"]));
    } finally {
      watcher.stop();
      raw.close();
      await live.stop();
      await reader.stop();
      await proxy.close();
    }
  });
});

describeEtcd("etcd registry on a three-member cluster", () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 3 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("keeps the registration, reads and the watch working while each member in turn is down", async () => {
    const options = { addresses: [...cluster.endpoints], requestTimeoutMs: 2_000 };
    const registry = createEtcdRegistry(options);
    const reader = createEtcdRegistry(options);
    await registry.start();
    await reader.start();
    const watcher = reader.watch({ service: "cluster.greeter" });
    const events = watcher[Symbol.asyncIterator]();
    const service = greeter("cluster.greeter", ["c1"]);
    const heartbeatErrors: unknown[] = [];
    let beating = true;
    await registry.register(service, { ttlMs: 2_000 });
    const heartbeat = (async () => {
      while (beating) {
        await sleep(500);
        await registry.register(service, { ttlMs: 2_000 }).catch((error: unknown) => heartbeatErrors.push(error));
      }
    })();
    try {
      for (let member = 0; member < 3; member++) {
        await cluster.stopMember(member);
        // Longer than the TTL: the node lives only if heartbeats reach the remaining members.
        await sleep(2_500);
        expect(nodeIds(await reader.getService("cluster.greeter"))).toEqual(["c1"]);

        const probe = `probe-${member}`;
        await registry.register(greeter("cluster.greeter", [probe]), { ttlMs: 2_000 });
        await nextEvent(events, (e) => e.action === "create" && e.service.nodes.some((n) => n.id === probe), 8_000);
        await registry.deregister(greeter("cluster.greeter", [probe]));

        await cluster.startMember(member);
      }
      expect(nodeIds(await reader.getService("cluster.greeter"))).toEqual(["c1"]);
      // With two of three members up, not one heartbeat failed.
      expect(heartbeatErrors).toEqual([]);
    } finally {
      beating = false;
      await heartbeat;
      watcher.stop();
      await registry.stop();
      await reader.stop();
    }
  });
});
