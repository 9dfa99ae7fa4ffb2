import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalRegistry } from "../registry/local-registry.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { Registry } from "../registry/registry.js";
import type { Broker } from "./broker.js";
import { createHttpBroker, type HttpBroker } from "./http-broker.js";
import { describeBrokerConformance, recordingLogger, uniqueTopic, waitFor } from "./testdata/broker-conformance.js";
import { killAll, startSubscriberProcess, type SubscriberProcess } from "./testdata/subscriber-process.js";

describeBrokerConformance("http", async (logger) => {
  const root = await mkdtemp(join(tmpdir(), "tsmicro-broker-"));
  const registry = createLocalRegistry({ dir: join(root, "registry") });
  await registry.start();
  const [publisher, first, second] = [0, 1, 2].map(() => createHttpBroker({ registry, logger }));
  for (const broker of [publisher!, first!, second!]) await broker.start();
  return {
    publisher: publisher!,
    subscribers: [first!, second!],
    cleanup: async () => {
      await registry.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe("http broker", () => {
  let registry: Registry;
  const brokers: Broker[] = [];
  const open = async (options: Partial<Parameters<typeof createHttpBroker>[0]> = {}) => {
    const broker = createHttpBroker({ registry, ...options });
    brokers.push(broker);
    await broker.start();
    return broker;
  };

  beforeEach(async () => {
    registry = createMemoryRegistry();
    await registry.start();
  });
  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.stop();
    await registry.stop();
  });

  it("registers each subscription as a node of tsmicro.broker with its topic and queue, and removes it on unsubscribe", async () => {
    const broker = await open();
    const subscription = await broker.subscribe("orders.created", () => {}, { queue: "billing" });

    const [service] = await registry.getService("tsmicro.broker");
    expect(service?.nodes).toHaveLength(1);
    expect(service?.nodes[0]?.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(service?.nodes[0]?.metadata).toMatchObject({
      protocol: "http",
      broker: "http",
      topic: "orders.created",
      queue: "billing",
    });

    await subscription.unsubscribe();
    expect(await registry.getService("tsmicro.broker")).toEqual([]);
  });

  it("publishes without serving anything when it has no subscriptions", async () => {
    const broker = await open();
    await broker.publish(uniqueTopic(), new Uint8Array([1]));
    expect(await registry.listServices()).toEqual([]);
  });

  it("logs a subscriber it cannot reach with the message id, and still delivers to the others", async () => {
    const { logger, entries } = recordingLogger();
    const publisher = await open({ logger });
    const topic = uniqueTopic();
    const received: string[] = [];
    await (await open()).subscribe(topic, (m) => void received.push(m.id));
    await registry.register(
      {
        name: "tsmicro.broker",
        version: "latest",
        metadata: {},
        endpoints: [],
        nodes: [{ id: "dead", address: "127.0.0.1:1", metadata: { broker: "http", topic, path: "/broker/dead" } }],
      },
      { ttlMs: 10_000 },
    );

    await publisher.publish(topic, new Uint8Array([1]), { id: "m-1" });
    await waitFor("the live subscriber's message", () => received.includes("m-1"));
    const warning = entries.find((e) => e.level === "warn" && e.fields["messageId"] === "m-1");
    expect(warning?.message).toContain("at-most-once");
    expect(warning?.fields["subscriber"]).toBe("http://127.0.0.1:1/broker/dead");
  });

  it("tries another queue group member when one cannot be reached, and warns of it once, then tries it last", async () => {
    const { logger, entries } = recordingLogger();
    const publisher = await open({ logger });
    const topic = uniqueTopic();
    const received: string[] = [];
    await (await open()).subscribe(topic, (m) => void received.push(m.id), { queue: "q" });
    await registry.register(
      {
        name: "tsmicro.broker",
        version: "latest",
        metadata: {},
        endpoints: [],
        nodes: [
          { id: "dead", address: "127.0.0.1:1", metadata: { broker: "http", topic, queue: "q", path: "/broker/dead" } },
        ],
      },
      { ttlMs: 10_000 },
    );

    for (let i = 0; i < 10; i++) await publisher.publish(topic, new Uint8Array([i]), { id: `m-${i}` });
    await waitFor("all ten messages on the live member", () => received.length === 10);
    // One warning for the dead member, saying the next member gets the message; after it, it is tried last.
    const failures = entries.filter((e) => e.fields["subscriber"] === "http://127.0.0.1:1/broker/dead");
    expect(failures.filter((e) => e.level === "warn")).toHaveLength(1);
    expect(failures[0]?.message).toContain("the next member of queue q, if any, gets the message");
    expect(failures.length).toBe(1);
  });

  it("fails to subscribe with TSM_ERR_ADDRESS_IN_USE naming --broker_address when its port is taken", async () => {
    const holder = await open();
    await holder.subscribe(uniqueTopic(), () => {});
    const [node] = (await registry.getService("tsmicro.broker"))[0]!.nodes;
    const taken = await open({ address: node!.address });

    const error = await taken.subscribe(uniqueTopic(), () => {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_ADDRESS_IN_USE" });
    expect((error as Error).message).toContain("--broker_address");
  });
});

describe("http broker across processes", () => {
  const processes: SubscriberProcess[] = [];
  let root: string | undefined;
  let registry: Registry | undefined;
  let publisher: HttpBroker | undefined;

  afterAll(async () => {
    killAll(processes);
    await publisher?.stop();
    await registry?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const start = (registryDir: string, topic: string, queue?: string) => {
    const started = startSubscriberProcess({ kind: "http", registryDir, topic, ...(queue ? { queue } : {}) });
    processes.push(started);
    return started;
  };

  it("delivers between processes with no server: fan-out, a queue group, headers, and a clean exit", async () => {
    root = await mkdtemp(join(tmpdir(), "tsmicro-broker-"));
    const dir = join(root, "registry");
    const topic = uniqueTopic("orders");
    const plain = start(dir, topic);
    const workers = [start(dir, topic, "workers"), start(dir, topic, "workers")];
    await Promise.all([plain, ...workers].map((s) => s.subscribed));

    registry = createLocalRegistry({ dir });
    await registry.start();
    publisher = createHttpBroker({ registry });
    await publisher.start();
    await waitFor(
      "three subscriptions in the registry",
      async () => (await publisher!.subscribers(topic)).length === 3,
    );

    const sent = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (const [i, text] of sent.entries())
      await publisher.publish(topic, new TextEncoder().encode(text), { headers: { "x-seq": String(i) } });

    const groupLines = () => workers.flatMap((w) => w.lines);
    await waitFor("every message", () => plain.lines.length === 30 && groupLines().length >= 30, 10_000);
    await sleep(200);
    expect(plain.lines).toEqual(sent.map((text, i) => `${text} ${i}`));
    expect(groupLines().sort()).toEqual(sent.map((text, i) => `${text} ${i}`).sort());
    for (const worker of workers) expect(worker.lines.length).toBeGreaterThan(0);

    // A subscriber that exits deregisters: the publisher stops sending to it at once, with no TTL to wait out.
    plain.child.kill("SIGTERM");
    expect(await plain.exited).toBe(0);
    await waitFor("the exited subscriber to be gone", async () => (await publisher!.subscribers(topic)).length === 2);
  });
});
