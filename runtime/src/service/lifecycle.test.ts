import { createServer } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { SetupError } from "../errors/setup-error.js";
import { silentLogger } from "../logging/logger.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { Registry } from "../registry/registry.js";
import { runtimeFlagUsage } from "./flag-names.js";
import { HelpRequested, serviceHelp } from "./service-help.js";
import {
  advertisedBeside,
  ensureCanListen,
  nodeRecord,
  PauseLog,
  Registration,
  RegistryUse,
  startFailure,
} from "./lifecycle.js";

const record = nodeRecord({
  name: "echo",
  version: undefined,
  metadata: undefined,
  endpoints: [],
  id: "echo-1",
  address: "127.0.0.1:1",
  protocol: "grpc",
  registryKind: "memory",
});

/** A registry that counts start and stop, around a memory registry. */
function counted(): Registry & { starts: number; stops: number } {
  const inner = createMemoryRegistry();
  const counts = { starts: 0, stops: 0 };
  return Object.assign(counts, inner, {
    start: async () => {
      counts.starts++;
    },
    stop: async () => {
      counts.stops++;
    },
  });
}

describe("RegistryUse", () => {
  it("starts a handed-in registry once and never stops it", async () => {
    const registry = counted();
    const use = RegistryUse.of(registry, { registry: "local", registryAddress: [] });
    await Promise.all([use.ready(), use.ready()]);
    await use.release();
    expect([registry.starts, registry.stops]).toEqual([1, 0]);
  });

  it("stops the registry it created, and only if it was started", async () => {
    const unused = RegistryUse.of(undefined, { registry: "memory", registryAddress: [] });
    await unused.release();
    const used = RegistryUse.of(undefined, { registry: "memory", registryAddress: [] });
    await used.ready();
    const watcher = used.registry.watch();
    const ended = (async () => {
      for await (const _ of watcher);
      return "ended";
    })();
    await used.release();
    expect(await ended).toBe("ended");
  });
});

describe("Registration", () => {
  it("keeps the node registered past its TTL by heartbeats, and deregisters on stop", async () => {
    const registry = createMemoryRegistry();
    const registration = new Registration(registry, record, { ttlMs: 150, intervalMs: 40, logger: silentLogger() });
    await registration.start();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await registry.getService("echo"))[0]?.nodes.map((n) => n.id)).toEqual(["echo-1"]);
    await registration.stop();
    expect(await registry.getService("echo")).toEqual([]);
  });

  it("a failed deregistration is logged as one line without a stack, saying the TTL removes the node, not thrown", async () => {
    const warnings: { fields: object; message: string }[] = [];
    const logger = {
      ...silentLogger(),
      warn: (fields: object, message?: string) => warnings.push({ fields, message: message ?? "" }),
    };
    const registry: Registry = {
      ...createMemoryRegistry(),
      deregister: async () => {
        // As the etcd registry fails it when etcd is down: a cause with grpc-js's text beneath.
        throw new Error("etcd registry at 127.0.0.1:2379: deregistering x failed: connect ECONNREFUSED", {
          cause: new Error("14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED"),
        });
      },
    };
    const registration = new Registration(registry, record, { ttlMs: 1_000, intervalMs: 500, logger });
    await registration.start();
    await registration.stop();
    expect(warnings).toEqual([
      {
        fields: { reason: "etcd registry at 127.0.0.1:2379: deregistering x failed: connect ECONNREFUSED" },
        message: "deregistration failed; the registry drops the node when its --register_ttl (1 s) runs out",
      },
    ]);
  });
});

describe("Registration's heartbeat and TTL", () => {
  it("warns when the heartbeat is not shorter than the TTL, naming both flags", async () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (_fields: object, message?: string) => warnings.push(message ?? "") };
    const registration = new Registration(createMemoryRegistry(), record, {
      ttlMs: 10_000,
      intervalMs: 100_000,
      logger,
    });
    await registration.start();
    await registration.stop();
    expect(warnings).toEqual([
      "--register_interval (100 s) is not shorter than --register_ttl (10 s): the node expires between heartbeats and callers lose it; use an interval below the TTL, such as 15s and 30s",
    ]);
  });
});

describe("Registration heartbeats while the registry is down", () => {
  it("logs each failure as one line without a stack, and a line once the registry answers again", async () => {
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const note = (level: string) => (fields: object, message?: string) =>
      void lines.push({ level, fields: fields as Record<string, unknown>, message: message ?? "" });
    const logger = { ...silentLogger(), warn: note("warn"), info: note("info") };
    const memory = createMemoryRegistry();
    let down = false;
    const registry: Registry = {
      ...memory,
      register: async (service, options) => {
        if (down) throw new Error("etcd registry at 127.0.0.1:2379: registering x failed: connect ECONNREFUSED");
        await memory.register(service, options);
      },
    };
    const registration = new Registration(registry, record, { ttlMs: 1_000, intervalMs: 30, logger });
    await registration.start();
    down = true;
    await new Promise((resolve) => setTimeout(resolve, 100));
    down = false;
    await new Promise((resolve) => setTimeout(resolve, 100));
    await registration.stop();
    const failures = lines.filter((l) => l.level === "warn");
    expect(failures.length).toBeGreaterThan(1);
    expect(failures[0]).toEqual({
      level: "warn",
      fields: { reason: "etcd registry at 127.0.0.1:2379: registering x failed: connect ECONNREFUSED", failures: 1 },
      message: "heartbeat to the registry failed; retrying every 0.03 s",
    });
    const recovered = lines.filter((l) => l.level === "info");
    expect(recovered).toEqual([
      { level: "info", fields: { failures: failures.length }, message: "registered again: the registry answers" },
    ]);
  });
});

describe("Registration after the process was paused", () => {
  it("warns once, naming the node and how long no heartbeat went out, when a heartbeat comes more than the TTL after the last", async () => {
    vi.useFakeTimers();
    try {
      const lines: { fields: object; message: string }[] = [];
      const logger = {
        ...silentLogger(),
        warn: (fields: object, message?: string) => void lines.push({ fields, message: message ?? "" }),
      };
      const registration = new Registration(createMemoryRegistry(), record, { ttlMs: 1_000, intervalMs: 300, logger });
      await registration.start();
      await vi.advanceTimersByTimeAsync(900);
      expect(lines).toEqual([]);
      // Paused (SIGSTOP, a suspended VM): the clock moves on and no timer runs; the next heartbeat is the first after.
      vi.setSystemTime(Date.now() + 5_000);
      await vi.advanceTimersByTimeAsync(300);
      expect(lines).toEqual([
        {
          fields: { silentMs: 5_300, registerTtlMs: 1_000 },
          message:
            "the registration of echo-1 had expired (no heartbeat reached the registry for 5.3 s, longer than " +
            "--register_ttl (1 s): was the process paused, or its event loop blocked?); registered again",
        },
      ]);
      await vi.advanceTimersByTimeAsync(900);
      expect(lines).toHaveLength(1);
      const stopped = registration.stop();
      await vi.runAllTimersAsync();
      await stopped;
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("PauseLog", () => {
  it("tells each pause once, though every registration of the process finds it", async () => {
    vi.useFakeTimers();
    try {
      const lines: string[] = [];
      const logger = { ...silentLogger(), warn: (_fields: object, message?: string) => void lines.push(message ?? "") };
      const registry = createMemoryRegistry();
      const pauses = new PauseLog();
      const node = new Registration(registry, record, { ttlMs: 1_000, intervalMs: 300, logger, pauses });
      const subscription = new Registration(
        registry,
        { ...record, name: "tsmicro.broker", nodes: [{ id: "broker-1", address: "127.0.0.1:2", metadata: {} }] },
        { ttlMs: 1_000, intervalMs: 400, logger, pauses },
      );
      await node.start();
      await subscription.start();
      for (const pause of [1, 2]) {
        vi.setSystemTime(Date.now() + 5_000);
        await vi.advanceTimersByTimeAsync(1_200);
        expect(lines, `after pause ${pause}`).toHaveLength(pause);
      }
      expect(lines[0]).toMatch(/^the registration of echo-1 had expired/);
      const stopped = Promise.all([node.stop(), subscription.stop()]);
      await vi.runAllTimersAsync();
      await stopped;
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("startFailure", () => {
  it("is one line, with the code of a setup error", () => {
    expect(startFailure(new SetupError("TSM_ERR_ADDRESS_IN_USE", "--server_address", "127.0.0.1:5000"))).toBe(
      "--server_address 127.0.0.1:5000 is in use by another process; choose another port or stop it (TSM_ERR_ADDRESS_IN_USE)",
    );
    expect(startFailure(new Error("first\n  second"))).toBe("first; second");
  });
});

describe("ensureCanListen", () => {
  it("passes a free address, port 0 and a host name; names the flag for a taken or malformed one", async () => {
    await ensureCanListen("127.0.0.1:0", "--server_address");
    await ensureCanListen("localhost:0", "--server_address");
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = `127.0.0.1:${(holder.address() as { port: number }).port}`;
    await expect(ensureCanListen(taken, "--address")).rejects.toMatchObject({
      code: "TSM_ERR_ADDRESS_IN_USE",
      message: `--address ${taken} is in use by another process; choose another port or stop it`,
    });
    await new Promise((resolve) => holder.close(resolve));
    await expect(ensureCanListen("127.0.0.1", "--server_address")).rejects.toMatchObject({ code: "TSM_ERR_FLAG" });
    await expect(ensureCanListen("127.0.0.1:70000", "--server_address")).rejects.toMatchObject({
      code: "TSM_ERR_FLAG",
    });
  });
});

describe("checkFlags", () => {
  it("refuses a bad database setting with the service's other flags, before main.ts reads it", async () => {
    const { createService } = await import("./service.js");
    const service = createService({
      name: "store",
      args: [],
      env: { TSMICRO_MIGRATE: "yes" },
      registry: createMemoryRegistry(),
      logger: silentLogger(),
    });
    await expect(service.checkFlags()).rejects.toThrow('TSMICRO_MIGRATE has an invalid value "yes": use on or off');
  });

  it("refuses --broker_jetstream on without --broker nats, before main.ts opens its database", async () => {
    const { createService } = await import("./service.js");
    const service = createService({
      name: "store",
      args: ["--broker_jetstream=on"],
      env: {},
      registry: createMemoryRegistry(),
      logger: silentLogger(),
    });
    await expect(service.checkFlags()).rejects.toThrowError(
      expect.objectContaining({
        code: "TSM_ERR_FLAG",
        message:
          "--broker_jetstream has an invalid value on: JetStream is NATS's, and the broker is http (at most once): add --broker nats, or turn --broker_jetstream off",
      }),
    );
  });

  it("given --help, rejects checkFlags() and start() with the flags' help, a bad flag beside it notwithstanding, starting nothing", async () => {
    const { createService } = await import("./service.js");
    const registry = counted();
    const service = createService({
      name: "store",
      args: ["--client_retries=lots", "--help"],
      env: {},
      registry,
      logger: silentLogger(),
    });
    const help = new HelpRequested(serviceHelp("store", runtimeFlagUsage));
    await expect(service.checkFlags()).rejects.toThrowError(help);
    await expect(service.checkFlags()).rejects.toHaveProperty("help", help.help);
    await expect(service.start()).rejects.toHaveProperty("help", help.help);
    expect(registry.starts).toBe(0);
  });

  const listen = "such as 127.0.0.1:0 or 0.0.0.0:8080";
  it.each([
    ["--server_address=banana", `--server_address has an invalid value "banana": use host:port, ${listen}`],
    [
      "--server_address=127.0.0.1:99999",
      `--server_address has an invalid value "127.0.0.1:99999": port 99999 is past 65535; ${listen}`,
    ],
    ["--metrics_address=banana", `--metrics_address has an invalid value "banana": use host:port, ${listen}, or off`],
    [
      "--server_advertise=banana",
      '--server_advertise has an invalid value "banana": use host:port, such as 10.0.0.5:9000, user.internal:9000 or [fd00::5]:9000',
    ],
    [
      "--broker_address=nats://127.0.0.1:1",
      '--broker_address has an invalid value "nats://127.0.0.1:1": the http broker listens there: use host:port, such as 127.0.0.1:0 (NATS URLs go with --broker nats)',
    ],
  ])("refuses %s before main.ts opens its database, with nothing started", async (flag, message) => {
    const { createService } = await import("./service.js");
    const registry = counted();
    const service = createService({ name: "store", args: [flag], env: {}, registry, logger: silentLogger() });
    await expect(service.checkFlags()).rejects.toThrowError(expect.objectContaining({ code: "TSM_ERR_FLAG", message }));
    expect(registry.starts).toBe(0);
  });
});

describe("advertisedBeside", () => {
  it("advertises another listener's port on --server_advertise's host, an IPv6 one in brackets", () => {
    expect(advertisedBeside("127.0.0.1:41000", "user.internal:9000")).toBe("user.internal:41000");
    expect(advertisedBeside("[::]:41000", "[::1]:9000")).toBe("[::1]:41000");
    expect(advertisedBeside("127.0.0.1:41000", "[fd00::5]:9000")).toBe("[fd00::5]:41000");
    expect(advertisedBeside("127.0.0.1:41000", undefined)).toBe("127.0.0.1:41000");
  });

  it("refuses a --server_advertise without a port rather than cut its host short", () => {
    expect(() => advertisedBeside("127.0.0.1:41000", "banana")).toThrowError(
      expect.objectContaining({ code: "TSM_ERR_FLAG", message: expect.stringContaining('"banana": use host:port') }),
    );
  });
});
