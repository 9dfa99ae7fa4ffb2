/**
 * The event metrics a service serves on /metrics (`tsmicro_events_*`), scraped over HTTP as
 * Prometheus would: on the embedded http broker, publishes and handled, failed and undecodable
 * events; the event gateway's publishes on its /metrics; on a real NATS JetStream server,
 * redeliveries, a dead letter and a failed publish.
 */
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { createGateway } from "@tsmicro/gateway";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BrokerSettings } from "../runtime/src/broker/broker-settings.js";
import { createBroker } from "../runtime/src/broker/create-broker.js";
import { waitFor } from "../runtime/src/broker/testdata/broker-conformance.js";
import { Code, TsmicroError } from "../runtime/src/errors/tsmicro-error.js";
import { silentLogger } from "../runtime/src/logging/logger.js";
import { createMetricsRegistry, metricsRegistry } from "../runtime/src/metrics/process-registry.js";
import { createMemoryRegistry } from "../runtime/src/registry/memory-registry.js";
import { createService, type MicroService } from "../runtime/src/service/service.js";
import { OrdersEvents, type OrdersEventsHandler } from "./golden/18-events/shop/v1/orders.micro.js";
import { natsProgram, startNatsServer, type NatsServer } from "./support/nats.js";
import { suiteEnv } from "./support/suite-env.js";

const env = suiteEnv({ OTEL_SDK_DISABLED: "true" });
const started: MicroService[] = [];

afterEach(async () => {
  for (const service of started.splice(0).reverse()) await service.stop();
});

/** Billing's handler: an order id starting with `fail` throws, one starting with `refuse` is refused as invalid. */
const billing: OrdersEventsHandler = {
  async orderPlaced(event) {
    if (event.orderId.startsWith("fail")) throw new Error("payment service down");
    if (event.orderId.startsWith("refuse")) throw new TsmicroError(Code.INVALID_ARGUMENT, "no such currency");
  },
  async orderCancelled() {},
};

/** The samples of a scrape of `service`'s /metrics (or of the one at `url`), by series (`name{labels}`), for names starting `tsmicro_event`. */
async function scrape(service: MicroService | string): Promise<Map<string, number>> {
  const url = typeof service === "string" ? service : `http://${service.metricsAddress}/metrics`;
  const text = await (await fetch(url)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n"))
    if (line.startsWith("tsmicro_event")) {
      const space = line.lastIndexOf(" ");
      samples.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
  return samples;
}

/** Waits until a scrape of `service` has `series` at `value`, and returns that scrape. */
async function scrapeUntil(service: MicroService, series: string, value: number): Promise<Map<string, number>> {
  return waitFor(`${series} at ${value}`, async () => {
    const samples = await scrape(service);
    return samples.get(series) === value ? samples : undefined;
  });
}

describe("event metrics on the http broker", () => {
  it("count publishes and handled events by outcome, and time the handler, on /metrics", async () => {
    const registry = createMemoryRegistry();
    const service = createService({
      name: "billing",
      registry,
      env,
      logger: silentLogger(),
      metricsRegistry: createMetricsRegistry(),
      args: ["--server_address=127.0.0.1:0"],
    });
    service.subscribe(OrdersEvents, billing);
    started.push(service);
    await service.start();
    const publish = service.publisher(OrdersEvents);
    for (const orderId of ["a", "b", "fail-1", "refuse-1"]) await publish.orderPlaced({ orderId, totalCents: 5n });
    // Not an OrderPlaced in protobuf: field 1 with wire type 7.
    await service.broker.publish("order.placed", new Uint8Array([0x0f]));

    const handled = 'tsmicro_events_handled_total{topic="order.placed",queue="billing",outcome';
    const samples = await scrapeUntil(service, `${handled}="invalid"}`, 2);
    expect(samples.get('tsmicro_events_published_total{topic="order.placed",outcome="ok"}')).toBe(5);
    expect(samples.get(`${handled}="ok"}`)).toBe(2);
    expect(samples.get(`${handled}="error"}`)).toBe(1);
    expect(samples.get('tsmicro_event_handling_seconds_count{topic="order.placed",queue="billing"}')).toBe(5);
    expect(samples.get('tsmicro_event_handling_seconds_bucket{le="+Inf",topic="order.placed",queue="billing"}')).toBe(
      5,
    );
    // At most once: nothing comes back, nothing is dead-lettered.
    expect([...samples.keys()].filter((s) => /redelivered|dead_lettered/.test(s))).toEqual([]);
  });

  it("count an event no member of a subscription took as undelivered, on the publisher's /metrics", async () => {
    const registry = createMemoryRegistry();
    // Subscribers whose process is gone but whose registration has not expired: nothing listens at their address.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const gone = (id: string, queue?: string) => ({
      id,
      address,
      metadata: { broker: "http", topic: "order.placed", path: `/broker/${id}`, ...(queue ? { queue } : {}) },
    });
    const service = { name: "tsmicro.broker", version: "latest", metadata: {}, endpoints: [] };
    await registry.register(
      { ...service, nodes: [gone("audit-gone"), gone("ship-gone", "shipping")] },
      { ttlMs: 60_000 },
    );
    const publisher = createService({
      name: "orders",
      registry,
      env,
      logger: silentLogger(),
      metricsRegistry: createMetricsRegistry(),
      args: ["--server_address=127.0.0.1:0"],
    });
    // Its own subscription's group (queue "orders") has a gone member besides it: each event reaches one, none is lost.
    publisher.subscribe(OrdersEvents, billing);
    await registry.register({ ...service, nodes: [gone("orders-gone", "orders")] }, { ttlMs: 60_000 });
    started.push(publisher);
    await publisher.start();
    for (const orderId of ["a", "b"]) await publisher.publisher(OrdersEvents).orderPlaced({ orderId, totalCents: 5n });

    const lost = (queue: string) =>
      `tsmicro_events_handled_total{topic="order.placed",queue="${queue}",outcome="undelivered"}`;
    const samples = await scrapeUntil(
      publisher,
      'tsmicro_events_handled_total{topic="order.placed",queue="orders",outcome="ok"}',
      2,
    );
    expect(samples.get(lost(""))).toBe(2);
    expect(samples.get(lost("shipping"))).toBe(2);
    expect(samples.get(lost("orders"))).toBe(0);
    // The publish itself went through: at most once, the broker took it.
    expect(samples.get('tsmicro_events_published_total{topic="order.placed",outcome="ok"}')).toBe(2);
  });

  it("record nothing with --metrics_address=off", async () => {
    const service = createService({
      name: "quiet-billing",
      registry: createMemoryRegistry(),
      env,
      logger: silentLogger(),
      args: ["--server_address=127.0.0.1:0", "--metrics_address=off"],
    });
    const handled: string[] = [];
    service.subscribe(OrdersEvents, {
      async orderPlaced(event) {
        handled.push(event.orderId);
      },
      async orderCancelled() {},
    });
    started.push(service);
    await service.start();
    await service.publisher(OrdersEvents).orderPlaced({ orderId: "a" });
    await waitFor("the event", () => handled.length === 1);
    expect(metricsRegistry().getSingleMetric("tsmicro_events_published_total")).toBeUndefined();
    expect(metricsRegistry().getSingleMetric("tsmicro_events_handled_total")).toBeUndefined();
  });
});

describe("event metrics of the gateway's --handler event", () => {
  it("count its publishes on its /metrics: ok when the broker took one, error when the publish failed", async () => {
    const memory = createMemoryRegistry();
    // The registry fails the broker's lookup of subscribers while `down`: the publish fails (not cached, so only then).
    let down = false;
    const registry = new Proxy(memory, {
      get(target, key) {
        if (key === "getService" && down)
          return async () => {
            throw new TsmicroError(Code.UNAVAILABLE, "the registry is down");
          };
        const value: unknown = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const subscriber = createBroker({ broker: "http", brokerAddress: [], brokerJetstream: false }, { registry });
    await subscriber.start();
    const audited: string[] = [];
    await subscriber.subscribe(
      "audit.login",
      async (message) => void audited.push(new TextDecoder().decode(message.body)),
    );
    const gateway = createGateway({
      registry,
      args: ["--handler=event", "--address=127.0.0.1:0"],
      env,
      logger: silentLogger(),
    });
    await gateway.start();
    const post = (path: string, body?: string) =>
      fetch(`${gateway.url}${path}`, {
        method: "POST",
        ...(body === undefined ? {} : { body }),
        headers: { "content-type": "application/json" },
      });
    try {
      down = true;
      expect((await post("/audit/login", '{"user":"ann"}')).status).toBe(503);
      down = false;
      for (const user of ["bob", "cy"]) expect((await post("/audit/login", JSON.stringify({ user }))).status).toBe(202);
      // No body: a 400 before anything is published, not counted.
      expect((await post("/audit/logout")).status).toBe(400);
      await waitFor("the subscriber's two events", () => audited.length === 2);

      const samples = await scrape(`${gateway.url}/metrics`);
      expect(samples.get('tsmicro_events_published_total{topic="audit.login",outcome="ok"}')).toBe(2);
      expect(samples.get('tsmicro_events_published_total{topic="audit.login",outcome="error"}')).toBe(1);
      expect([...samples.keys()].filter((series) => series.includes("audit.logout"))).toEqual([]);
    } finally {
      await gateway.stop();
      await subscriber.stop();
    }
  });
});

describe.skipIf(!natsProgram)("event metrics on NATS JetStream", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: true });
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it("count redeliveries, the dead letter after the last attempt, and a publish the server refused", async () => {
    const metrics = createMetricsRegistry();
    const settings: BrokerSettings = { broker: "nats", brokerAddress: [nats.url], brokerJetstream: true };
    // Quick redelivery, and no topics added by a publish, so a publish to an unknown one fails.
    const broker = createBroker(settings, {
      metrics,
      jetstream: { maxDeliver: 3, backoffMs: [20], publishAddsTopics: false },
    });
    const service = createService({
      name: "billing",
      registry: createMemoryRegistry(),
      broker,
      env,
      logger: silentLogger(),
      metricsRegistry: metrics,
      args: ["--server_address=127.0.0.1:0"],
    });
    service.subscribe(OrdersEvents, billing);
    started.push(service);
    try {
      await service.start();
      await service.publisher(OrdersEvents).orderPlaced({ orderId: "ok", totalCents: 5n });
      await service.publisher(OrdersEvents).orderPlaced({ orderId: "fail-1", totalCents: 5n });
      await expect(service.broker.publish("order.unknown", new Uint8Array())).rejects.toThrow(/order\.unknown/);

      const labels = 'topic="order.placed",queue="billing"';
      const samples = await scrapeUntil(service, `tsmicro_events_dead_lettered_total{${labels}}`, 1);
      expect(samples.get(`tsmicro_events_handled_total{${labels},outcome="ok"}`)).toBe(1);
      expect(samples.get(`tsmicro_events_handled_total{${labels},outcome="error"}`)).toBe(3);
      expect(samples.get(`tsmicro_events_redelivered_total{${labels}}`)).toBe(2);
      expect(samples.get('tsmicro_events_published_total{topic="order.placed",outcome="ok"}')).toBe(2);
      expect(samples.get('tsmicro_events_published_total{topic="order.unknown",outcome="error"}')).toBe(1);
    } finally {
      await service.stop();
      await broker.stop();
    }
  });
});
