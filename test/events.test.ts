import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRegistry, createService, silentLogger, type MicroService } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrdersEvents } from "./golden/18-events/shop/v1/orders.micro.js";
import { bins, run } from "./support/cli.js";
import { waitFor } from "./support/load.js";
import { killAllNodes, loggedBy, startNode, type NodeProcess } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

/** The events a subscriber node printed, in arrival order. */
interface Received {
  readonly event: Record<string, unknown>;
  readonly topic: string;
  readonly messageId: string;
  readonly node: string;
}

const receivedBy = (node: NodeProcess) => loggedBy<Received>(node, "event received");

describe("typed events between services on the embedded broker (local registry, no server)", () => {
  let dir: string;
  let flags: string[];
  let billing: NodeProcess[];
  let shipping: NodeProcess;
  let orders: MicroService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-events-"));
    flags = ["--registry=local", `--registry_address=${dir}`, "--metrics_address=off"];
    [billing, shipping] = await Promise.all([
      Promise.all([0, 1].map(() => startNode("test/fixtures/order-events-node.ts", flags))),
      startNode("test/fixtures/order-events-node.ts", flags, { EVENTS_NAME: "shipping" }),
    ]);
    orders = createService({ name: "orders", args: flags, env: suiteEnv(), logger: silentLogger() });
    await orders.start();
  }, 30_000);

  afterAll(async () => {
    await orders?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("a published event reaches the other service's handler, typed, with its fields", async () => {
    const publisher = orders.publisher(OrdersEvents);
    const placedAt = new Date("2026-12-02T10:00:00.000Z");
    await publisher.orderPlaced({ orderId: "o-1", customerId: "c-9", totalCents: 12_345n, placedAt });
    await waitFor("shipping to receive o-1", () => receivedBy(shipping).length === 1, 5_000);
    const [received] = receivedBy(shipping);
    expect(received!.topic).toBe("order.placed");
    expect(received!.event).toEqual({
      orderId: "o-1",
      customerId: "c-9",
      totalCents: "12345",
      placedAt: "2026-12-02T10:00:00.000Z",
    });
  });

  it("each event reaches one node of each subscribing service (queue group: the service's name)", async () => {
    const publisher = orders.publisher(OrdersEvents);
    const ids = Array.from({ length: 20 }, (_, i) => `c-${i}`);
    for (const orderId of ids) await publisher.orderCancelled({ orderId, reason: "test" });
    const cancelled = (nodes: NodeProcess[]) =>
      nodes.flatMap(receivedBy).filter((r) => r.topic === "fixtures.shop.v1.OrderCancelled");
    await waitFor(
      "every cancellation at billing and shipping",
      () => {
        return cancelled(billing).length >= ids.length && cancelled([shipping]).length >= ids.length;
      },
      5_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200)); // a duplicate would show by now
    const atBilling = cancelled(billing).map((r) => r.event["orderId"]);
    expect([...atBilling].sort()).toEqual([...ids].sort());
    expect(cancelled([shipping]).map((r) => r.event["orderId"])).toEqual(ids);
    // Both billing nodes take part: a group of two receiving 20 events at random gives one node all of them 2 in 2^20 times.
    expect(billing.every((node) => cancelled([node]).length > 0)).toBe(true);
  });

  it("lists subscribed events as registry endpoints, which tsmicro get service shows", async () => {
    const registry = createRegistry({ registry: "local", registryAddress: [dir] });
    await registry.start();
    try {
      const [service] = await registry.getService("shipping");
      expect(service!.endpoints).toContainEqual({
        name: "OrdersEvents.orderPlaced",
        request: "fixtures.shop.v1.OrderPlaced",
        response: "",
        metadata: {
          subscriber: "true",
          queue: "shipping",
          broker: "http",
          topic: "order.placed",
          events: "fixtures.shop.v1.OrdersEvents",
        },
      });
    } finally {
      await registry.stop();
    }
    const result = await run("node", [bins.tsmicro, "get", "service", "shipping", ...flags.slice(0, 2)]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      "Event: OrdersEvents.orderPlaced\n\nTopic: order.placed (subscribes, queue shipping)\n\nMessage: fixtures.shop.v1.OrderPlaced",
    );
  });
});
