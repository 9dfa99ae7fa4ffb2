/**
 * createService's broker and typed events, in one process on the memory
 * broker and registry: who owns the broker, what start() refuses, fan-out
 * with `queue: false`, handler failures logged with the message id, and
 * trace context from publisher to subscriber; then redelivery of a failed
 * typed event on a real NATS JetStream server.
 */
import { Writable } from "node:stream";
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  createService,
  isSetupError,
  silentLogger,
  type EventContext,
  type MicroService,
  type Registry,
} from "@tsmicro/runtime";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code } from "../runtime/src/errors/tsmicro-error.js";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import type { Request } from "./golden/10-services/services.js";
import type { OrderPlaced } from "./golden/18-events/shop/v1/orders.js";
import { OrdersEvents, type OrdersEventsHandler } from "./golden/18-events/shop/v1/orders.micro.js";
import { natsProgram, startNatsServer, type NatsServer } from "./support/nats.js";
import { suiteEnv } from "./support/suite-env.js";

const quiet = { args: ["--metrics_address=off"], env: suiteEnv({ OTEL_SDK_DISABLED: "true" }), logger: silentLogger() };
const started: MicroService[] = [];

afterEach(async () => {
  for (const service of started.splice(0).reverse()) await service.stop();
});

async function start(service: MicroService): Promise<MicroService> {
  started.push(service);
  await service.start();
  return service;
}

/** A handler that records what it gets; `orderCancelled` is not awaited by these tests. */
function recorder(into: { event: OrderPlaced; context: EventContext }[]): OrdersEventsHandler {
  return {
    async orderPlaced(event, context) {
      into.push({ event, context });
    },
    async orderCancelled() {},
  };
}

/** A log destination that keeps each line written to it. */
function lineCollector(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("a service's broker and typed events", () => {
  it("uses a handed-in broker, starting it, and leaves it running when the service stops", async () => {
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker();
    const received: { event: OrderPlaced; context: EventContext }[] = [];
    const subscriber = createService({ name: "billing", registry, broker, ...quiet });
    subscriber.subscribe(OrdersEvents, recorder(received));
    // service.broker is that broker, traced (the same messages, with a span around each).
    expect(subscriber.broker.kind).toBe(broker.kind);
    await start(subscriber);

    await broker.publish("order.placed", new Uint8Array(), { id: "m-1" }); // the broker is started
    await waitFor("the handler", () => received.length === 1);
    expect(received[0]!.context).toMatchObject({ id: "m-1", topic: "order.placed", attempt: 1 });
    await subscriber.stop();
    started.length = 0;
    // Its subscription ended with the service; the broker did not.
    await broker.publish("order.placed", new Uint8Array(), { id: "m-2" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toHaveLength(1);
    await broker.stop();
  });

  it("names its broker in the started line, beside the registry", async () => {
    const { lines, destination } = lineCollector();
    const registry = createMemoryRegistry();
    await start(createService({ name: "billing", registry, ...quiet, logger: createLogger({ destination }) }));
    const startedLine = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => l.msg === "billing started");
    expect(startedLine).toMatchObject({ registry: "memory", broker: "http" });
  });

  it("the http broker receives on the host the service serves on, and registers it as the node's", async () => {
    // A service bound beyond loopback (0.0.0.0 in a container) must get other hosts' events: its
    // subscriptions follow --server_address's host and --server_advertise's, not a fixed 127.0.0.1.
    const registry = createMemoryRegistry();
    const brokerHosts = async () =>
      new Set(
        (await registry.getService("tsmicro.broker")).flatMap((s) => s.nodes.map((n) => n.address.split(":")[0])),
      );
    const received: { event: OrderPlaced; context: EventContext }[] = [];
    const billing = createService({
      name: "billing",
      registry,
      ...quiet,
      args: [...quiet.args, "--server_address=127.0.0.5:0"],
    });
    billing.subscribe(OrdersEvents, recorder(received));
    await start(billing);
    expect(await brokerHosts()).toEqual(new Set(["127.0.0.5"]));
    const orders = await start(createService({ name: "orders", registry, ...quiet }));
    await orders.publisher(OrdersEvents).orderPlaced({ orderId: "a", totalCents: 5n });
    await waitFor("the delivery", () => received.length === 1);
    await billing.stop();

    // --server_advertise names the host other nodes reach this one by; the broker's own port stays.
    const audit = createService({
      name: "audit",
      registry,
      ...quiet,
      args: [...quiet.args, "--server_address=127.0.0.7:0", "--server_advertise=127.0.0.7:7000"],
    });
    audit.subscribe(OrdersEvents, recorder(received));
    await start(audit);
    const addresses = (await registry.getService("tsmicro.broker")).flatMap((s) => s.nodes.map((n) => n.address));
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) expect(address).toMatch(/^127\.0\.0\.7:(?!7000$)\d+$/);
    await orders.publisher(OrdersEvents).orderPlaced({ orderId: "b", totalCents: 5n });
    await waitFor("the second delivery", () => received.length === 2);
  });

  it("queue: false delivers to every node; the default queue group, to one node of the service", async () => {
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker();
    const grouped: { event: OrderPlaced; context: EventContext }[][] = [[], []];
    const everyNode: { event: OrderPlaced; context: EventContext }[][] = [[], []];
    for (const into of grouped) {
      const node = createService({ name: "billing", registry, broker, ...quiet });
      node.subscribe(OrdersEvents, recorder(into));
      await start(node);
    }
    for (const into of everyNode) {
      const node = createService({ name: "audit", registry, broker, ...quiet });
      node.subscribe(OrdersEvents, recorder(into), { queue: false });
      await start(node);
    }
    const orders = await start(createService({ name: "orders", registry, broker, ...quiet }));
    const publisher = orders.publisher(OrdersEvents);
    for (const orderId of ["a", "b", "c", "d"]) await publisher.orderPlaced({ orderId, totalCents: 5n });

    await waitFor("every delivery", () => everyNode.every((r) => r.length === 4) && grouped.flat().length === 4);
    expect(
      grouped
        .flat()
        .map((r) => r.event.orderId)
        .sort(),
    ).toEqual(["a", "b", "c", "d"]);
    expect(grouped.flat()[0]!.event.totalCents).toBe(5n);
    await broker.stop();
  });

  it("stopping on the http broker leaves queued events unhandled after --shutdown_grace, with one warning saying how many", async () => {
    const { lines, destination } = lineCollector();
    const service = createService({
      name: "slow-mail",
      registry: createMemoryRegistry(),
      args: ["--metrics_address=off", "--shutdown_grace=50ms"],
      env: suiteEnv({ OTEL_SDK_DISABLED: "true" }),
      logger: createLogger({ destination }),
    });
    const handled: string[] = [];
    let release = () => {};
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    service.subscribe(
      OrdersEvents,
      {
        orderPlaced: async (event) => {
          handled.push(event.orderId);
          // The first event holds its handler past the grace; the others wait in the queue.
          if (event.orderId === "first") await blocked;
        },
      },
      { partial: true },
    );
    await service.start();
    try {
      expect(service.broker.kind).toBe("http");
      const publisher = service.publisher(OrdersEvents);
      // Each publish resolves once the subscriber has accepted the event (HTTP 202): queued.
      for (const orderId of ["first", "q1", "q2", "q3"]) await publisher.orderPlaced({ orderId });
      await waitFor("the first event's handler", () => handled.length === 1);
      // Before the grace bounded it, this waited for the blocked handler and then ran the queue.
      await service.stop();
      expect(handled).toEqual(["first"]);
      const warnings = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.level === 40);
      const notHandled = warnings.filter((l) => String(l.msg).includes("not handled"));
      expect(notHandled).toHaveLength(1);
      expect(notHandled[0]).toMatchObject({ topic: "order.placed", queue: "slow-mail", notHandled: 3 });
      expect(notHandled[0]!.msg).toContain("3 events received but not handled");
      expect(notHandled[0]!.msg).toContain("at most once");
      expect(warnings.some((l) => String(l.msg).includes("1 handlers still running after the 50 ms grace"))).toBe(true);
    } finally {
      release();
      await service.stop();
    }
  }, 30_000);

  it("start() rejects a handler missing an event (TSM_ERR_EVENT_HANDLER) unless partial: true", async () => {
    const registry = createMemoryRegistry();
    const strict = createService({ name: "strict", registry, ...quiet });
    strict.subscribe(OrdersEvents, { orderPlaced: async () => {} } as unknown as OrdersEventsHandler);
    const error = await strict.start().catch((e: unknown) => e);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_EVENT_HANDLER");
    expect((error as Error).message).toContain("orderCancelled (topic fixtures.shop.v1.OrderCancelled)");
    await strict.stop();

    const partial = createService({ name: "partial", registry, ...quiet });
    partial.subscribe(OrdersEvents, { orderPlaced: async () => {} }, { partial: true });
    await start(partial);
  });

  it("start() reports a broker flag it cannot use, naming the flag", async () => {
    const service = createService({
      name: "flags",
      registry: createMemoryRegistry(),
      ...quiet,
      args: ["--broker_address=nats://127.0.0.1:4222"],
    });
    const error = await service.start().catch((e: unknown) => e);
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_FLAG");
    expect((error as Error).message).toContain("--broker_address");
    await service.stop();
  });

  it("a failing handler's error is logged with the message id and topic", async () => {
    const { lines, destination } = lineCollector();
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker({ logger: createLogger({ destination }) });
    const failing = createService({ name: "failing", registry, broker, ...quiet });
    failing.subscribe(
      OrdersEvents,
      {
        orderPlaced: async () => {
          throw new Error("ledger is down");
        },
      },
      { partial: true },
    );
    await start(failing);
    await failing.publisher(OrdersEvents).orderPlaced({ orderId: "x" }, { id: "msg-42" });
    await waitFor("the error line", () => lines.some((line) => line.includes("ledger is down")));
    const line = JSON.parse(lines.find((l) => l.includes("ledger is down"))!) as Record<string, unknown>;
    expect(line).toMatchObject({ messageId: "msg-42", topic: "order.placed", queue: "failing" });
    await broker.stop();
  });

  it("the failing handler's line carries the trace of the event's processing", async () => {
    const { lines, destination } = lineCollector();
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker({ logger: createLogger({ destination }) });
    const traced = { ...quiet, env: suiteEnv() };
    let traceparent: string | undefined;
    const failing = createService({ name: "failing-traced", registry, broker, ...traced });
    failing.subscribe(
      OrdersEvents,
      {
        orderPlaced: async (_event, context) => {
          traceparent = context.headers["traceparent"];
          throw new Error("ledger is down");
        },
      },
      { partial: true },
    );
    await start(failing);
    await failing.publisher(OrdersEvents).orderPlaced({ orderId: "x" });
    await waitFor("the error line", () => lines.some((line) => line.includes("ledger is down")));
    const line = JSON.parse(lines.find((l) => l.includes("ledger is down"))!) as Record<string, unknown>;
    const [, traceId, publisherSpanId] = traceparent!.split("-");
    expect(line).toMatchObject({ trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
    // The consumer span's own id, a child of the publisher's.
    expect(line.span_id).not.toBe(publisherSpanId);
    await broker.stop();
  });

  it("reads JSON bodies as strict proto3 JSON: a body that does not fit is a decode failure naming the message, place and trace", async () => {
    const { lines, destination } = lineCollector();
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker({ logger: createLogger({ destination }) });
    const received: { event: OrderPlaced; context: EventContext }[] = [];
    const mail = createService({ name: "mail-json", registry, broker, ...quiet, env: suiteEnv() });
    mail.subscribe(OrdersEvents, recorder(received));
    await start(mail);
    const publishJson = (id: string, json: string) =>
      mail.broker.publish("order.placed", new TextEncoder().encode(json), {
        id,
        headers: { "content-type": "application/json" },
      });
    // ts-proto's fromJSON took these, as orderId "[object Object]" and customerId "true".
    await publishJson("wrong-types", '{"orderId":{"a":1},"customerId":true}');
    await publishJson("unknown-field", '{"orderId":"o1","unknownField":5}');
    await publishJson("fits", '{"orderId":"o2","totalCents":"9007199254740993","placedAt":"2024-05-01T10:00:00Z"}');

    await waitFor("the decode failures", () => lines.filter((l) => l.includes("broker handler failed")).length === 2);
    await waitFor("the event that fits", () => received.length === 1);
    expect(received.map((r) => r.context.id)).toEqual(["fits"]);
    expect(received[0]!.event).toMatchObject({ orderId: "o2", totalCents: 9007199254740993n });
    expect(received[0]!.event.placedAt?.toISOString()).toBe("2024-05-01T10:00:00.000Z");

    const failures = lines
      .map(
        (line) =>
          JSON.parse(line) as { messageId?: string; topic?: string; trace_id?: string; err?: { message?: string } },
      )
      .filter((l) => l.err !== undefined);
    const wrong = failures.find((l) => l.messageId === "wrong-types");
    expect(wrong).toMatchObject({ topic: "order.placed", trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(wrong!.err!.message).toContain(
      "message wrong-types on order.placed is not a JSON fixtures.shop.v1.OrderPlaced",
    );
    expect(wrong!.err!.message).toContain('at orderId ({"a":1}): ');
    const unknown = failures.find((l) => l.messageId === "unknown-field");
    expect(unknown!.err!.message).toContain("unknownField");
    await broker.stop();
  });

  it("registers the http broker's subscriptions with the service's --register_ttl and --register_interval", async () => {
    const inner = createMemoryRegistry();
    const ttls: { name: string; ttlMs: number | undefined }[] = [];
    const registry: Registry = {
      ...inner,
      register: async (service, options) => {
        ttls.push({ name: service.name, ttlMs: options?.ttlMs });
        await inner.register(service, options);
      },
    };
    const args = ["--metrics_address=off", "--broker=http", "--register_ttl=4s", "--register_interval=1s"];
    const service = createService({ name: "billing", registry, ...quiet, args });
    service.subscribe(OrdersEvents, recorder([]));
    await start(service);
    // A killed service's subscriptions leave the registry when its node does, not 30 s later.
    expect(ttls.filter(({ name }) => name === "tsmicro.broker").length).toBeGreaterThan(0);
    expect(new Set(ttls.map(({ name, ttlMs }) => `${name} ${ttlMs}`))).toEqual(
      new Set(["billing 4000", "tsmicro.broker 4000"]),
    );
  });

  it("service.broker used before the service starts it says to call service.start(); a broker of one's own, broker.start()", async () => {
    const service = createService({ name: "early", registry: createMemoryRegistry(), ...quiet });
    const refusal = {
      code: Code.FAILED_PRECONDITION,
      message: expect.stringMatching(
        /^service\.broker is not started yet: service\.start\(\) starts it \(run\(\) calls start\(\)\)\./,
      ),
    };
    await expect(service.broker.subscribe("audit.early", async () => {})).rejects.toMatchObject(refusal);
    await expect(service.broker.publish("audit.early", new Uint8Array())).rejects.toMatchObject(refusal);
    await start(service);
    await service.broker.subscribe("audit.early", async () => {});
    await service.broker.publish("audit.early", new Uint8Array());

    const own = createMemoryBroker();
    await expect(own.publish("audit.early", new Uint8Array())).rejects.toThrow(
      "the memory broker is not started; call broker.start() first (whoever creates a broker starts it)",
    );
  });

  it("traces the untyped service.broker as the typed events: traceparent in the headers, the failing line in it", async () => {
    const { lines, destination } = lineCollector();
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker({ logger: createLogger({ destination }) });
    const service = createService({ name: "raw-traced", registry, broker, ...quiet, env: suiteEnv() });
    await start(service);
    let traceparent: string | undefined;
    await service.broker.subscribe("audit.raw", async (message) => {
      traceparent = message.headers.traceparent;
      throw new Error("audit store is down");
    });
    await service.broker.publish("audit.raw", new TextEncoder().encode("hello"), { id: "raw-1" });
    await waitFor("the error line", () => lines.some((line) => line.includes("audit store is down")));
    const line = JSON.parse(lines.find((l) => l.includes("audit store is down"))!) as Record<string, unknown>;
    const [, traceId, publisherSpanId] = traceparent!.split("-");
    expect(line).toMatchObject({ messageId: "raw-1", trace_id: traceId });
    // The handler ran in a CONSUMER span of its own, the publisher's child.
    expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(line.span_id).not.toBe(publisherSpanId);
    await broker.stop();
  });

  it("carries the publisher's trace to the subscriber: traceparent in the headers, the handler in its trace", async () => {
    const registry = createMemoryRegistry();
    const broker = createMemoryBroker();
    const traced = { ...quiet, env: suiteEnv() };
    const received: { event: OrderPlaced; context: EventContext }[] = [];
    let activeTraceId: string | undefined;
    const subscriber = createService({ name: "traced-sub", registry, broker, ...traced });
    subscriber.subscribe(
      OrdersEvents,
      {
        async orderPlaced(event, context) {
          const { trace } = await import("@opentelemetry/api");
          activeTraceId = trace.getActiveSpan()?.spanContext().traceId;
          received.push({ event, context });
        },
      },
      { partial: true },
    );
    await start(subscriber);
    const publisher = await start(createService({ name: "traced-pub", registry, broker, ...traced }));
    await publisher.publisher(OrdersEvents).orderPlaced({ orderId: "t" });
    await waitFor("the handler", () => received.length === 1);
    const traceparent = received[0]!.context.headers["traceparent"];
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(activeTraceId).toBe(traceparent!.split("-")[1]);
    expect(received[0]!.context.headers["content-type"]).toBe("application/protobuf");
    await broker.stop();
  });
});

const describeNats = natsProgram ? describe : describe.skip;

describeNats("typed events on NATS JetStream (a real nats-server)", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("a handler that throws gets the event again (attempt 2, same id), typed", async () => {
    const registry = createMemoryRegistry();
    const args = ["--metrics_address=off", "--broker=nats", `--broker_address=${server.url}`, "--broker_jetstream=on"];
    const attempts: { event: OrderPlaced; context: EventContext }[] = [];
    const subscriber = createService({ name: "billing", registry, ...quiet, args });
    subscriber.subscribe(
      OrdersEvents,
      {
        async orderPlaced(event, context) {
          attempts.push({ event, context });
          if (context.attempt === 1) throw new Error("ledger is down");
        },
      },
      { partial: true },
    );
    await start(subscriber);
    expect(subscriber.broker.kind).toBe("nats");
    const orders = await start(createService({ name: "orders", registry, ...quiet, args }));
    await orders.publisher(OrdersEvents).orderPlaced({ orderId: "js-1", totalCents: 99n });

    await waitFor("the redelivery", () => attempts.length === 2);
    expect(attempts.map((a) => a.context.attempt)).toEqual([1, 2]);
    expect(attempts[1]!.context.id).toBe(attempts[0]!.context.id);
    expect(attempts[1]!.event).toMatchObject({ orderId: "js-1", totalCents: 99n });
  });

  it("a publish in a handler ends with its call: through an outage it gives up at the call's deadline, and the service logs it", async () => {
    const outage = await startNatsServer({ jetstream: true });
    const { lines, destination } = lineCollector();
    try {
      const registry = createMemoryRegistry();
      const args = [
        "--metrics_address=off",
        "--broker=nats",
        `--broker_address=${outage.url}`,
        "--broker_jetstream=on",
      ];
      const orders = createService({ name: "orders", registry, ...quiet, args, logger: createLogger({ destination }) });
      const publisher = orders.publisher(OrdersEvents);
      const failures: unknown[] = [];
      const unsupported = () => Promise.reject(new Error("not in this test"));
      orders.handle(AlphaDefinition, {
        async unary(request: Request) {
          await publisher.orderPlaced({ orderId: request.id, totalCents: 1n }).catch((error: unknown) => {
            failures.push(error);
            throw error;
          });
          return { id: request.id, payload: new Uint8Array(), sequence: 0 };
        },
        serverStream: unsupported,
        clientStream: unsupported,
        bidiStream: unsupported,
      } as unknown as AlphaHandler);
      await start(orders);
      const caller = await start(createService({ name: "caller", registry, ...quiet }));
      const alpha = caller.client(AlphaDefinition, "orders");
      await alpha.unary({ id: "o-1", payload: new Uint8Array() });
      await outage.kill();
      await expect(alpha.unary({ id: "o-2", payload: new Uint8Array() }, { timeoutMs: 500 })).rejects.toMatchObject({
        code: Code.DEADLINE_EXCEEDED,
      });
      // The broker alone would retry for 10 s and then say "... failed: ..."; the call's end stopped it.
      await waitFor("the handler's publish to give up", () => failures.length === 1);
      const reason = String((failures[0] as Error).message);
      expect(reason).toContain("not confirmed, and it may yet be stored when NATS answers");
      // Not only the span: the publishing service's log says which event was not sent, and why.
      await waitFor("the warning line", () =>
        lines.some((line) => line.includes("the event may or may not be stored")),
      );
      const warning = JSON.parse(lines.find((line) => line.includes("the event may or may not be stored"))!) as Record<
        string,
        unknown
      >;
      expect(warning).toMatchObject({ level: 40, broker: "nats", topic: "order.placed", reason });
      expect(warning["msg"]).toContain(`publish to order.placed on NATS JetStream at ${outage.url} not confirmed`);
    } finally {
      await outage.stop();
    }
  });
});
