/**
 * Whoever creates a registry owns it: services, web services and the gateway
 * handed a shared registry leave it running when they stop, so the other
 * users' watches stay alive and their clients never pick a node that left.
 */
import {
  createMemoryRegistry,
  createService,
  silentLogger,
  type MicroService,
  type Registry,
  type RegistryEvent,
} from "@tsmicro/runtime";
import { createGateway, createWebService } from "@tsmicro/gateway";
import { afterEach, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const quiet = { args: [] as string[], env: suiteEnv(), logger: silentLogger() };

/** A handler answering unary calls with its service's node id; the other methods are left out. */
function echoOf(service: () => MicroService): Partial<AlphaHandler> {
  return { unary: async (request) => ({ id: service().id, payload: request.payload, sequence: 0 }) };
}

async function echoNode(registry: Registry, started: MicroService[]): Promise<MicroService> {
  const node: MicroService = createService({ name: "echo", registry, ...quiet });
  node.handle(
    AlphaDefinition,
    echoOf(() => node),
    { partial: true },
  );
  await node.start();
  started.push(node);
  return node;
}

/** Reads a watch in the background; `events` grows as changes arrive. */
function record(registry: Registry): { events: RegistryEvent[]; stop(): void } {
  const watcher = registry.watch();
  const events: RegistryEvent[] = [];
  void (async () => {
    for await (const event of watcher) events.push(event);
  })();
  return { events, stop: () => watcher.stop() };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("a registry shared by services in one process", () => {
  const started: MicroService[] = [];
  afterEach(async () => {
    for (const service of started.reverse()) await service.stop();
    started.length = 0;
  });

  it("stopping service A leaves B's watch alive: B's calls to C never go to a node that left", async () => {
    const registry = createMemoryRegistry();
    const c1 = await echoNode(registry, started);
    const c2 = await echoNode(registry, started);
    const a = createService({ name: "other", registry, ...quiet });
    await a.start();
    // No retries: a call that went to a dead node would fail instead of being hidden by a retry.
    const b = createService({ name: "caller", registry, ...quiet, args: ["--client_retries=0"] });
    started.push(b);
    const client = b.client(AlphaDefinition, "echo");
    const before = new Set<string>();
    for (let i = 0; i < 4; i++) before.add((await client.unary({ id: "x" })).id);
    expect(before).toEqual(new Set([c1.id, c2.id]));

    await a.stop();
    await c1.stop();

    const results = await Promise.allSettled(Array.from({ length: 10 }, () => client.unary({ id: "x" })));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(new Set(results.map((r) => (r as PromiseFulfilledResult<{ id: string }>).value.id))).toEqual(
      new Set([c2.id]),
    );
    const [echo] = await registry.getService("echo");
    expect(echo?.nodes.map((n) => n.id)).toEqual([c2.id]);
  });
});

describe("createWebService and the gateway leave a handed-in registry running", () => {
  it("a watch on the registry still hears changes after both have started and stopped", async () => {
    const registry = createMemoryRegistry();
    const watch = record(registry);

    const web = createWebService({ name: "web", registry, ...quiet });
    await web.start();
    await web.stop();
    const gateway = createGateway({ registry, ...quiet, args: ["--address=127.0.0.1:0"] });
    await gateway.start();
    await gateway.stop();
    await until(() => watch.events.filter((e) => e.service.name === "web").length === 2, "web's create and delete");

    // A registry stopped by either would have ended this watch: the new node would go unheard.
    const node: MicroService = createService({ name: "late", registry, ...quiet });
    node.handle(
      AlphaDefinition,
      echoOf(() => node),
      { partial: true },
    );
    await node.start();
    await until(() => watch.events.some((e) => e.service.name === "late" && e.action === "create"), "late's create");
    await node.stop();
    watch.stop();
  });
});
