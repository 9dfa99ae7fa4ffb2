import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Broker, BrokerMessage } from "../runtime/src/broker/broker.js";
import { failedService } from "../runtime/src/errors/failed-service.js";
import { Code, TsmicroError } from "../runtime/src/errors/tsmicro-error.js";
import { silentLogger } from "../runtime/src/logging/logger.js";
import { createMemoryRegistry } from "../runtime/src/registry/memory-registry.js";
import { createService } from "../runtime/src/service/service.js";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";
import { deadLetterHeaders, durableName } from "../runtime/src/broker/jetstream-consumer.js";
import { createNatsBroker, type NatsBrokerOptions } from "../runtime/src/broker/nats-broker.js";
import {
  collect,
  describeBrokerConformance,
  recordingLogger,
  uniqueTopic,
  waitFor,
} from "../runtime/src/broker/testdata/broker-conformance.js";
import {
  killAll,
  startSubscriberProcess,
  type SubscriberProcess,
} from "../runtime/src/broker/testdata/subscriber-process.js";
import { closedPort } from "./support/etcd.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { natsProgram, startNatsServer, type NatsServer } from "./support/nats.js";

const describeNats = natsProgram ? describe : describe.skip;
const encode = (text: string) => new TextEncoder().encode(text);
const text = (message: BrokerMessage) => new TextDecoder().decode(message.body);

describeNats("nats broker", () => {
  let core: NatsServer;
  let js: NatsServer;
  const brokers: Broker[] = [];

  beforeAll(async () => {
    [core, js] = await Promise.all([startNatsServer(), startNatsServer({ jetstream: true })]);
  });
  afterAll(async () => {
    await Promise.all([core?.stop(), js?.stop()]);
  });
  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.stop();
  });

  const open = async (options: NatsBrokerOptions) => {
    const broker = createNatsBroker(options);
    brokers.push(broker);
    await broker.start();
    return broker;
  };
  /** JetStream with quick redelivery, so tests of it take milliseconds. */
  const quick = { maxDeliver: 3, backoffMs: [20, 40] } as const;

  describeBrokerConformance("nats core", async (logger) => {
    const make = () => createNatsBroker({ servers: [core.url], logger });
    const [publisher, first, second] = [make(), make(), make()];
    for (const broker of [publisher, first, second]) await broker.start();
    return { publisher, subscribers: [first, second], cleanup: async () => {} };
  });

  describeBrokerConformance("nats jetstream", async (logger) => {
    const make = () => createNatsBroker({ servers: [js.url], logger, jetstream: quick });
    const [publisher, first, second] = [make(), make(), make()];
    for (const broker of [publisher, first, second]) await broker.start();
    return { publisher, subscribers: [first, second], cleanup: async () => {} };
  });

  it("fails to start with TSM_ERR_BROKER_UNREACHABLE naming an unreachable address", async () => {
    const address = `nats://127.0.0.1:${await closedPort()}`;
    const error = await createNatsBroker({ servers: [address] })
      .start()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_BROKER_UNREACHABLE" });
    expect((error as Error).message).toContain(address);
    expect((error as Error).message).toContain("--broker_address");
  });

  it("fails to start when JetStream is asked of a server without it", async () => {
    const error = await createNatsBroker({ servers: [core.url], jetstream: {} })
      .start()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_BROKER_UNREACHABLE" });
    expect((error as Error).message).toContain("-js");
  });

  it("speaks plain NATS: a raw client's message arrives, and a published one reaches a raw subscriber with its headers", async () => {
    const broker = await open({ servers: [core.url] });
    const raw: NatsConnection = await connect({ servers: core.url });
    try {
      const topic = uniqueTopic();
      const received = collect();
      await broker.subscribe(topic, received.handler);
      const rawSubscription = raw.subscribe(topic, { max: 2 });
      await raw.flush();

      raw.publish(topic, encode("from raw"));
      await broker.publish(topic, encode("from broker"), { headers: { "x-a": "1" }, id: "id-1" });
      const seen: string[] = [];
      for await (const message of rawSubscription)
        seen.push(`${new TextDecoder().decode(message.data)} ${message.headers?.get("x-a") ?? "-"}`);
      // Two connections: NATS orders each one's messages, not the two together.
      expect(seen.sort()).toEqual(["from broker 1", "from raw -"]);
      await waitFor("both messages", () => received.texts.length === 2);
      const ids = Object.fromEntries(received.messages.map((m) => [text(m), m.id]));
      expect(ids["from broker"]).toBe("id-1");
      expect(ids["from raw"]).toBeTruthy();
    } finally {
      await raw.close();
    }
  });

  it("JetStream: redelivers after a handler error with a growing attempt, then dead-letters after maxDeliver", async () => {
    const { logger, entries } = recordingLogger();
    const broker = await open({ servers: [js.url], logger, jetstream: quick });
    const topic = uniqueTopic("orders");
    const attempts: number[] = [];
    await broker.subscribe(
      topic,
      (message) => {
        attempts.push(message.attempt);
        throw new Error("payment service down");
      },
      { queue: "billing" },
    );
    const dead = collect();
    await broker.subscribe(`${topic}.dlq`, dead.handler);

    await broker.publish(topic, encode("order-1"), { id: "order-1", headers: { traceparent: "00-abc-def-01" } });
    await waitFor("the dead letter", () => dead.messages.length === 1);
    expect(attempts).toEqual([1, 2, 3]);
    const [letter] = dead.messages;
    expect(text(letter!)).toBe("order-1");
    expect(letter?.id).toBe("order-1");
    expect(letter?.headers).toMatchObject({
      traceparent: "00-abc-def-01",
      [deadLetterHeaders.topic]: topic,
      [deadLetterHeaders.attempts]: "3",
      [deadLetterHeaders.error]: "payment service down",
    });
    expect(entries.filter((e) => e.level === "error" && e.fields["messageId"] === "order-1").length).toBeGreaterThan(3);
    // Each failure's line says what comes of the message: when it comes back, or where it went at the last attempt.
    expect(entries.filter((e) => e.message?.startsWith("broker handler failed")).map((e) => e.message)).toEqual([
      "broker handler failed; message redelivered in 20 ms (attempt 1 of 3)",
      "broker handler failed; message redelivered in 40 ms (attempt 2 of 3)",
      `broker handler failed; message moved to the dead-letter subject ${topic}.dlq (attempt 3 of 3)`,
    ]);
    // Acked after dead-lettering: never delivered again.
    await sleep(300);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("JetStream: an event refused as invalid (INVALID_ARGUMENT) is dead-lettered at its first attempt and terminated; another error is still redelivered", async () => {
    const { logger, entries } = recordingLogger();
    const broker = await open({ servers: [js.url], logger, jetstream: quick });
    const raw: NatsConnection = await connect({ servers: js.url });
    try {
      const topic = uniqueTopic("orders");
      // The server announces each message a consumer terminates.
      const terminations: string[] = [];
      const advisories = raw.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.*.${durableName("billing", topic)}`);
      void (async () => {
        for await (const advisory of advisories) terminations.push(advisory.string());
      })();
      await raw.flush();
      const attempts: Record<string, number[]> = {};
      await broker.subscribe(
        topic,
        (message) => {
          attempts[message.id] = [...(attempts[message.id] ?? []), message.attempt];
          if (text(message) === "no items") throw new TsmicroError(Code.INVALID_ARGUMENT, "an order needs items");
          throw new Error("payment service down");
        },
        { queue: "billing" },
      );
      const dead = collect();
      await broker.subscribe(`${topic}.dlq`, dead.handler);

      // Ids of their own: JetStream drops a dead letter whose id another test's had, as a duplicate.
      await broker.publish(topic, encode("no items"), { id: "invalid-1" });
      await waitFor("the dead letter", () => dead.messages.length === 1);
      await waitFor("the termination", () => terminations.length === 1);
      expect(attempts).toEqual({ "invalid-1": [1] });
      expect(dead.messages[0]?.id).toBe("invalid-1");
      expect(dead.messages[0]?.headers).toMatchObject({
        [deadLetterHeaders.topic]: topic,
        [deadLetterHeaders.attempts]: "1",
        [deadLetterHeaders.error]: "an order needs items",
      });

      await broker.publish(topic, encode("down"), { id: "down-1" });
      await waitFor("the second dead letter", () => dead.messages.length === 2);
      expect(attempts).toEqual({ "invalid-1": [1], "down-1": [1, 2, 3] });
      expect(terminations).toHaveLength(1);
      expect(entries.filter((e) => e.message?.startsWith("broker handler failed")).map((e) => e.message)).toEqual([
        "broker handler failed; message not retried: the event is invalid (INVALID_ARGUMENT); moved to the " +
          `dead-letter subject ${topic}.dlq (attempt 1 of 3)`,
        "broker handler failed; message redelivered in 20 ms (attempt 1 of 3)",
        "broker handler failed; message redelivered in 40 ms (attempt 2 of 3)",
        `broker handler failed; message moved to the dead-letter subject ${topic}.dlq (attempt 3 of 3)`,
      ]);
      expect(entries.find((e) => e.fields["messageId"] === "invalid-1" && e.fields["deadLetterSubject"])?.message).toBe(
        "broker: message moved to the dead-letter subject at attempt 1, not retried: the event is invalid (INVALID_ARGUMENT)",
      );
    } finally {
      await raw.close();
    }
  });

  it("JetStream: an explicit nack brings the message back; a configured dead-letter subject is used", async () => {
    const deadLetterSubject = uniqueTopic("dead");
    const broker = await open({ servers: [js.url], jetstream: { ...quick, deadLetterSubject } });
    const topic = uniqueTopic();
    const attempts: number[] = [];
    await broker.subscribe(topic, async (message) => {
      attempts.push(message.attempt);
      await message.nack(10);
    });
    const dead = collect();
    await broker.subscribe(deadLetterSubject, dead.handler);

    await broker.publish(topic, encode("x"));
    await waitFor("the dead letter", () => dead.messages.length === 1);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("JetStream: a durable queue group resumes after its subscriber restarts, with what was published meanwhile", async () => {
    const topic = uniqueTopic();
    const publisher = await open({ servers: [js.url], jetstream: quick });
    const first = collect();
    const before = await open({ servers: [js.url], jetstream: quick });
    await before.subscribe(topic, first.handler, { queue: "mailer" });
    await publisher.publish(topic, encode("one"));
    await waitFor("the first message", () => first.texts.length === 1);
    await before.stop();

    await publisher.publish(topic, encode("two"));
    await publisher.publish(topic, encode("three"));
    const second = collect();
    const after = await open({ servers: [js.url], jetstream: quick });
    await after.subscribe(topic, second.handler, { queue: "mailer" });
    await waitFor("the messages published while away", () => second.texts.length === 2);
    await sleep(200);
    expect(second.texts).toEqual(["two", "three"]);
  });

  it("JetStream: a topic the server will not store fails at once as FAILED_PRECONDITION naming it, not as NATS's failure", async () => {
    const raw = await connect({ servers: js.url });
    try {
      const jsm = await raw.jetstreamManager();
      // A mirror takes no subjects of its own: the server refuses to add one to it.
      const source = `SOURCE_${uniqueTopic().replace(/\W/g, "_")}`;
      await jsm.streams.add({ name: source, subjects: [`${source}.x`] });
      await jsm.streams.add({ name: `${source}_MIRROR`, mirror: { name: source } });
      const broker = await open({ servers: [js.url], jetstream: { stream: `${source}_MIRROR` } });
      const topic = uniqueTopic();
      const failure = await broker.publish(topic, encode("x")).then(
        () => undefined,
        (error: unknown) => error as TsmicroError,
      );
      expect(failure).toMatchObject({ code: Code.FAILED_PRECONDITION, retryable: false });
      expect(failure!.message).toContain(`NATS JetStream refuses to store topic "${topic}" in stream ${source}_MIRROR`);
      expect(failure!.message).toContain("stream mirrors can not contain subjects");
      expect(failedService(failure)).toBeUndefined();
    } finally {
      await raw.close();
    }
  });

  it("JetStream: with publishAddsTopics false, a publish stores only to topics a stream has: another is NOT_FOUND, the stream unchanged", async () => {
    const stream = `ONLY_STORED_${uniqueTopic().replace(/\W/g, "_")}`;
    const jetstream = { ...quick, stream };
    const subscriber = await open({ servers: [js.url], jetstream });
    const publisher = await open({ servers: [js.url], jetstream: { ...jetstream, publishAddsTopics: false } });
    const stored = uniqueTopic();
    const received = collect();
    await subscriber.subscribe(stored, received.handler);
    await publisher.publish(stored, encode("kept"));
    await waitFor("the stored topic's message", () => received.texts.includes("kept"));

    const unknown = uniqueTopic();
    const failure = await publisher.publish(unknown, encode("x")).then(
      () => undefined,
      (error: unknown) => error as TsmicroError,
    );
    expect(failure).toMatchObject({ code: Code.NOT_FOUND });
    expect(failure!.message).toContain(`no JetStream stream stores topic "${unknown}"`);
    expect(failedService(failure)).toBeUndefined();
    const raw = await connect({ servers: js.url });
    try {
      const info = await (await raw.jetstreamManager()).streams.info(stream);
      expect(info.config.subjects).toEqual([stored]);
    } finally {
      await raw.close();
    }
  });

  it("JetStream: a repeated publish of one message id is stored once", async () => {
    const broker = await open({ servers: [js.url], jetstream: quick });
    const topic = uniqueTopic();
    const received = collect();
    await broker.subscribe(topic, received.handler, { queue: "q" });

    await broker.publish(topic, encode("a"), { id: "same" });
    await broker.publish(topic, encode("a"), { id: "same" });
    await broker.publish(topic, encode("b"));
    await waitFor("the next message", () => received.texts.includes("b"));
    expect(received.texts).toEqual(["a", "b"]);
  });
});

describeNats("nats broker when nats-server restarts", () => {
  let server: NatsServer;
  const brokers: Broker[] = [];
  const processes: SubscriberProcess[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
  });
  afterAll(async () => {
    killAll(processes);
    for (const broker of brokers) await broker.stop();
    await server?.stop();
  });

  it("core: reconnects on its own and delivers again once the server is back", async () => {
    const { logger, entries } = recordingLogger();
    const broker = createNatsBroker({ servers: [server.url], logger });
    brokers.push(broker);
    await broker.start();
    const topic = uniqueTopic();
    const received = collect();
    await broker.subscribe(topic, received.handler);
    await broker.publish(topic, encode("before"));
    await waitFor("the first message", () => received.texts.length === 1);

    await server.kill();
    const disconnect = await waitFor("the disconnect to be logged", () =>
      entries.find((e) => e.message?.includes("disconnected")),
    );
    // The server it lost, in a field named for it: not nats.js's raw `data`.
    expect(disconnect.fields).toMatchObject({ servers: server.url, server: server.url.replace("nats://", "") });
    expect(disconnect.fields).not.toHaveProperty("data");
    // A publish in the outage is held, and says once what becomes of it.
    for (const body of ["held", "held again"]) await broker.publish(topic, encode(body));
    const warnings = entries.filter((e) => e.message?.includes("publishing while disconnected"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain("at most once");
    await server.start();
    await waitFor("the reconnect to be logged", () => entries.some((e) => e.message?.includes("reconnected")), 10_000);
    await broker.publish(topic, encode("after"));
    await waitFor("the message after the restart", () => received.texts.includes("after"), 10_000);
  });

  it("core: says how many events it held and sent on reconnect, one as one event", async () => {
    const { logger, entries } = recordingLogger();
    const broker = createNatsBroker({ servers: [server.url], logger });
    brokers.push(broker);
    await broker.start();
    await server.kill();
    await waitFor("the disconnect to be logged", () => entries.some((e) => e.message?.includes("disconnected")));
    await broker.publish(uniqueTopic(), encode("held"));
    await server.start();
    const reconnect = await waitFor(
      "the reconnect to be logged",
      () => entries.find((e) => e.message?.includes("reconnected")),
      10_000,
    );
    expect(reconnect.message).toBe("broker: reconnected to NATS; sent the 1 event held");
  });

  it("core: events published while the server is away are sent on reconnect, to a subscriber connected after it is back", async () => {
    const { logger, entries } = recordingLogger();
    // The publisher reaches the server through a proxy that keeps it away until the subscriber is back.
    const proxy = await startFaultProxy(server.url.replace("nats://", ""));
    try {
      const publisher = createNatsBroker({ servers: [`nats://${proxy.address}`], logger });
      brokers.push(publisher);
      await publisher.start();
      const topic = uniqueTopic();

      proxy.refuse(true);
      await server.kill();
      await waitFor("the disconnect to be logged", () => entries.some((e) => e.message?.includes("disconnected")));
      const bodies = ["held 1", "held 2", "held 3"];
      for (const body of bodies) await publisher.publish(topic, encode(body));
      const warnings = entries.filter((e) => e.message?.includes("publishing while disconnected"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toContain("holds these events");
      expect(warnings[0]!.message).toContain("at most once");

      await server.start();
      const subscriber = createNatsBroker({ servers: [server.url] });
      brokers.push(subscriber);
      await subscriber.start();
      const received = collect();
      await subscriber.subscribe(topic, received.handler);
      // The publisher's reconnect attempts so far failed; nats.js emptied its own buffer at each.
      proxy.refuse(false);
      await waitFor("the held events", () => received.texts.length === bodies.length, 10_000);
      expect(received.texts).toEqual(bodies);
      const reconnect = entries.find((e) => e.message?.includes("reconnected"));
      expect(reconnect?.fields).toMatchObject({ sent: 3 });
    } finally {
      await proxy.close();
    }
  });

  it("core: a publish past the reconnect buffer fails UNAVAILABLE naming nats; a stop while away says how many are dropped", async () => {
    const { logger, entries } = recordingLogger();
    const broker = createNatsBroker({ servers: [server.url], logger, reconnectBufferBytes: 350 });
    await broker.start();
    const topic = uniqueTopic();
    await server.kill();
    try {
      await waitFor("the disconnect to be logged", () => entries.some((e) => e.message?.includes("disconnected")));
      const body = new Uint8Array(100);
      await broker.publish(topic, body);
      await broker.publish(topic, body);
      const failure = await broker.publish(topic, body).then(
        () => undefined,
        (error: unknown) => error as TsmicroError,
      );
      expect(failure).toMatchObject({ code: Code.UNAVAILABLE });
      expect(failure!.message).toContain(`publish to ${topic} on NATS at ${server.url} failed`);
      expect(failure!.message).toContain("reconnect buffer (350 bytes, 2 events held) is full");
      expect(failedService(failure)).toBe("nats");
      await broker.stop();
      const dropped = entries.find((e) => e.message?.includes("stopped while disconnected"));
      expect(dropped?.fields).toMatchObject({ dropped: 2 });
      expect(dropped?.message).toContain("dropped the 2 events held for the reconnect");
    } finally {
      await broker.stop();
      await server.start();
    }
  });

  it("JetStream: a publish waiting through an outage gives up as soon as its signal aborts, as a handler's call ends, says it may yet be stored, and warns as a timed-out one does", async () => {
    const { logger, entries } = recordingLogger();
    const broker = createNatsBroker({ servers: [server.url], jetstream: {}, logger });
    brokers.push(broker);
    await broker.start();
    const topic = uniqueTopic();
    await broker.publish(topic, encode("stored"));
    await server.kill();
    try {
      const controller = new AbortController();
      let failure: TsmicroError | undefined;
      const publishing = broker.publish(topic, encode("abandoned"), { signal: controller.signal }).then(
        () => undefined,
        (error: unknown) => {
          failure = error as TsmicroError;
        },
      );
      // The attempt is out, waiting for a confirmation that cannot come (2 s each).
      await sleep(300);
      controller.abort(new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline exceeded serving /shop.v1.Orders/Place"));
      // Given up at the abort, not when the attempt's own wait ends.
      await new Promise((resolve) => setImmediate(resolve));
      expect(failure).toBeDefined();
      await publishing;
      expect(failure).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
      // The signal ended it, not the broker's own 10 s of retries ("... failed: ..."); what went out may yet be stored.
      expect(failure!.message).toContain(
        `publish to ${topic} on NATS JetStream at ${server.url} not confirmed, and it may yet be stored when NATS answers`,
      );
      // The publishing process's log says so, and why, as the 10 s timeout's warning does.
      const warnings = entries.filter((e) => e.level === "warn" && e.fields["topic"] === topic);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toBe(
        `broker: ${failure!.message}; the event may or may not be stored, and the publisher gets DEADLINE_EXCEEDED`,
      );
      expect(warnings[0]!.fields).toMatchObject({ reason: failure!.message });
      expect(warnings[0]!.fields["messageId"]).toEqual(expect.any(String));
    } finally {
      await server.start();
    }
  });

  it("JetStream: a publish given up while it waited for NATS to say which stream stores its topic is not sent after", async () => {
    const { logger, entries } = recordingLogger();
    // NATS answers slowly (a JetStream API busy electing a leader, a far link): every byte held 1 s.
    const proxy = await startFaultProxy(server.url.replace("nats://", ""));
    try {
      const broker = createNatsBroker({ servers: [`nats://${proxy.address}`], jetstream: {}, logger });
      brokers.push(broker);
      await broker.start();
      // A topic not published to yet: its publish first asks NATS for the stream that stores it.
      const topic = uniqueTopic();
      proxy.delay(1_000);
      const controller = new AbortController();
      const publishing = broker.publish(topic, encode("abandoned"), { signal: controller.signal }).then(
        () => undefined,
        (error: unknown) => error as TsmicroError,
      );
      await sleep(200);
      controller.abort();
      const failure = await publishing;
      expect(failure!.message).toContain(
        `publish to ${topic} on NATS JetStream at nats://${proxy.address} given up before it was stored`,
      );
      const warning = entries.find((e) => e.level === "warn" && e.fields["topic"] === topic);
      expect(warning?.message).toBe(
        `broker: ${failure!.message}; the event is not sent, and the publisher gets CANCELLED`,
      );
      proxy.delay(0);
      // The next publish waits for the same answer about the stream, after the abandoned one: were that one
      // still to go out, it would be stored first.
      await broker.publish(topic, encode("after"));
      const raw = await connect({ servers: server.url });
      try {
        const stream = await (await raw.jetstreamManager()).streams.find(topic);
        // The stream holds other tests' topics too: this topic's messages alone.
        const stored = await (await raw.jetstreamManager()).streams.info(stream, { subjects_filter: topic });
        expect(stored.state.subjects).toEqual({ [topic]: 1 });
      } finally {
        await raw.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it("JetStream: a publish whose signal aborted before it went out is not sent", async () => {
    const { logger, entries } = recordingLogger();
    const broker = createNatsBroker({ servers: [server.url], jetstream: {}, logger });
    brokers.push(broker);
    await broker.start();
    const topic = uniqueTopic();
    const controller = new AbortController();
    controller.abort();
    const failure = await broker.publish(topic, encode("never"), { signal: controller.signal }).then(
      () => undefined,
      (error: unknown) => error as TsmicroError,
    );
    expect(failure).toMatchObject({ code: Code.CANCELLED });
    expect(failure!.message).toContain(
      `publish to ${topic} on NATS JetStream at ${server.url} given up before it was stored`,
    );
    const warning = entries.find((e) => e.level === "warn" && e.fields["topic"] === topic);
    expect(warning?.message).toBe(
      `broker: ${failure!.message}; the event is not sent, and the publisher gets CANCELLED`,
    );
  });

  it("JetStream: a handler whose publish fails fails its call once, naming nats: the caller does not send it again", async () => {
    const registry = createMemoryRegistry();
    const { logger, entries } = recordingLogger();
    const broker = createNatsBroker({ servers: [server.url], jetstream: {}, publishTimeoutMs: 300, logger });
    brokers.push(broker);
    await broker.start();
    const topic = uniqueTopic();
    let handled = 0;
    const unsupported = () => {
      throw new TsmicroError(Code.UNIMPLEMENTED, "not used");
    };
    const alpha: AlphaHandler = {
      // Stores something (counted), then publishes the event: as docs/broker.md has handlers do.
      unary: async (request) => {
        handled++;
        await broker.publish(topic, encode(request.id));
        return { id: request.id, payload: new Uint8Array(), sequence: handled };
      },
      serverStream: unsupported,
      clientStream: unsupported,
      bidiStream: unsupported,
    };
    const owner = createService({ name: "publisher", args: [], env: suiteEnv(), registry, logger: silentLogger() });
    owner.handle(AlphaDefinition, alpha);
    const caller = createService({ name: "caller", args: [], env: suiteEnv(), registry, logger: silentLogger() });
    await owner.start();
    let killed = false;
    try {
      const client = caller.client(AlphaDefinition, "publisher");
      await expect(client.unary({ id: "stored" })).resolves.toMatchObject({ id: "stored" });
      handled = 0;
      killed = true;
      await server.kill();
      const failure = await client.unary({ id: "lost" }).then(
        () => undefined,
        (error: unknown) => error as TsmicroError,
      );
      expect(failure).toMatchObject({ code: Code.UNAVAILABLE });
      expect(failure!.message).toContain(`publish to ${topic} on NATS JetStream`);
      // Sent once: a second attempt would have run the handler's work again.
      expect(handled).toBe(1);
      expect(failedService(failure)).toBe("nats");
      const warning = entries.find((e) => e.level === "warn" && e.fields["topic"] === topic);
      expect(warning?.message).toBe(
        `broker: ${failure!.message}; the event may or may not be stored, and the publisher gets UNAVAILABLE`,
      );
      expect(warning?.fields).toMatchObject({ reason: failure!.message });
    } finally {
      if (killed) await server.start();
      await caller.stop();
      await owner.stop();
    }
  });

  it("JetStream: publishes again once the server is back on an empty store, making the stream anew", async () => {
    const broker = createNatsBroker({ servers: [server.url], jetstream: {} });
    brokers.push(broker);
    await broker.start();
    const topic = uniqueTopic();
    await broker.publish(topic, encode("before"));
    await server.kill();
    await server.start({ empty: true });
    await broker.publish(topic, encode("after"));
    const raw = await connect({ servers: server.url });
    try {
      const stream = await (await raw.jetstreamManager()).streams.find(topic);
      const stored = await (await raw.jetstreamManager()).streams.info(stream);
      expect(stored.state.messages).toBe(1);
    } finally {
      await raw.close();
    }
  });

  it("JetStream: subscribers take messages again once the server is back on an empty store, their consumers made anew", async () => {
    const { logger, entries } = recordingLogger();
    const publisher = createNatsBroker({ servers: [server.url], jetstream: {} });
    const subscriber = createNatsBroker({ servers: [server.url], jetstream: {}, logger });
    brokers.push(publisher, subscriber);
    await publisher.start();
    await subscriber.start();
    const topic = uniqueTopic();
    const grouped = collect();
    const own = collect();
    // A durable queue group, and an ephemeral consumer of a subscriber of its own.
    await subscriber.subscribe(topic, grouped.handler, { queue: "mailer" });
    await subscriber.subscribe(topic, own.handler);
    await publisher.publish(topic, encode("before"));
    await waitFor("the message before the loss", () => grouped.texts.length === 1 && own.texts.length === 1);
    await server.kill();
    await server.start({ empty: true });
    await waitFor(
      "both subscriptions made again",
      () => entries.filter((e) => e.message?.includes("takes messages again")).length === 2,
      15_000,
    );
    await publisher.publish(topic, encode("after"));
    await waitFor("the message after the loss", () => grouped.texts.length === 2 && own.texts.length === 2, 10_000);
    expect(grouped.texts).toEqual(["before", "after"]);
    expect(own.texts).toEqual(["before", "after"]);
  });

  it("JetStream: with the server killed and restarted mid-stream, no message is lost and none handled twice", async () => {
    const options = { servers: [server.url], jetstream: { maxDeliver: 5, backoffMs: [50] } };
    const [publisher, first, second] = [0, 1, 2].map(() => createNatsBroker(options));
    brokers.push(publisher!, first!, second!);
    for (const broker of brokers.slice(-3)) await broker.start();
    const topic = uniqueTopic();
    const handled: string[] = [];
    const handler = (message: BrokerMessage) => void handled.push(text(message));
    await first!.subscribe(topic, handler, { queue: "workers" });
    await second!.subscribe(topic, handler, { queue: "workers" });

    const sent = Array.from({ length: 60 }, (_, i) => `m${i}`);
    const publishing = (async () => {
      for (const [i, body] of sent.entries()) {
        await publisher!.publish(topic, encode(body), { id: `${topic}-${i}` });
        await sleep(5);
      }
    })();
    await waitFor("some messages before the restart", () => handled.length >= 10);
    await server.kill();
    await sleep(300);
    await server.start();
    await publishing;

    await waitFor("every message", () => new Set(handled).size === sent.length, 20_000);
    await sleep(500);
    expect([...handled].sort()).toEqual([...sent].sort());
  });

  it("JetStream across three processes: balanced queue group and a durable fan-out subscriber, through a restart", async () => {
    const topic = uniqueTopic("orders");
    const jetstream = { maxDeliver: 5, backoffMs: [50] };
    const start = (queue: string | undefined, durable?: string) => {
      const started = startSubscriberProcess({
        kind: "nats",
        url: server.url,
        topic,
        jetstream: { ...jetstream, ...(durable ? { durable } : {}) },
        ...(queue ? { queue } : {}),
      });
      processes.push(started);
      return started;
    };
    const workers = [start("workers"), start("workers")];
    const audit = start(undefined, "audit");
    await Promise.all([...workers, audit].map((p) => p.subscribed));
    const publisher = createNatsBroker({ servers: [server.url], jetstream });
    brokers.push(publisher);
    await publisher.start();

    const expected = Array.from({ length: 60 }, (_, i) => `m${i} ${i}`);
    const publishing = (async () => {
      for (let i = 0; i < expected.length; i++) {
        await publisher.publish(topic, encode(`m${i}`), { id: `${topic}-${i}`, headers: { "x-seq": String(i) } });
        await sleep(5);
      }
    })();
    const workerLines = () => workers.flatMap((w) => w.lines);
    await waitFor("some messages before the restart", () => workerLines().length >= 10);
    await server.kill();
    await sleep(300);
    await server.start();
    await publishing;

    await waitFor(
      "every message in the group and at the audit subscriber",
      () => new Set(workerLines()).size === expected.length && new Set(audit.lines).size === expected.length,
      20_000,
    );
    await sleep(500);
    expect(workerLines().sort()).toEqual([...expected].sort());
    expect([...audit.lines].sort()).toEqual([...expected].sort());
    for (const worker of workers) expect(worker.lines.length).toBeGreaterThan(0);
  });

  it("JetStream: a message whose subscriber process died mid-handling goes to another member after the ack wait", async () => {
    const topic = uniqueTopic();
    const jetstream = { ackWaitMs: 1_000, maxDeliver: 5, backoffMs: [50] };
    const member = (hangOn?: string) => {
      const started = startSubscriberProcess({
        kind: "nats",
        url: server.url,
        topic,
        queue: "workers",
        jetstream,
        ...(hangOn ? { hangOn } : {}),
      });
      processes.push(started);
      return started;
    };
    const dying = member("order-7");
    await dying.subscribed;
    const publisher = createNatsBroker({ servers: [server.url], jetstream });
    brokers.push(publisher);
    await publisher.start();

    await publisher.publish(topic, encode("order-7"));
    await waitFor("the first member to take the message", () => dying.lines.includes("hanging order-7 1"));
    dying.child.kill("SIGKILL");
    await dying.exited;
    const survivor = member();
    await survivor.subscribed;
    await waitFor("the redelivery to the other member", () => survivor.lines.includes("order-7 -"), 10_000);
  });
});

describe("a NATS broker that cannot connect at start", () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  afterAll(async () => {
    // A connection the client left open (to the silent server) would keep close() waiting.
    for (const socket of sockets) socket.destroy();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  /** A TCP server on 127.0.0.1 that does `onConnection` with each connection; its `host:port`. */
  async function listening(onConnection: (socket: Socket) => void): Promise<string> {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      onConnection(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function startFailure(address: string): Promise<string> {
    const error = await createNatsBroker({ servers: [address], connectTimeoutMs: 500 })
      .start()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SetupError", code: "TSM_ERR_BROKER_UNREACHABLE" });
    return (error as Error).message;
  }

  it("says in words why, not with the NATS client's codes", async () => {
    const closed = `127.0.0.1:${await closedPort()}`;
    expect(await startFailure(closed)).toBe(
      `the nats broker at ${closed} cannot be used (connection refused: nothing listens there; is nats-server running?); start nats-server there, or point --broker_address at a running one (nats://host:4222)`,
    );
    const silent = await listening(() => undefined);
    expect(await startFailure(silent)).toContain(
      `the nats broker at ${silent} cannot be used (no answer within 0.5 s; is it a NATS server, and is it running?)`,
    );
    const closing = await listening((socket) => socket.destroy());
    expect(await startFailure(closing)).toContain(
      `the nats broker at ${closing} cannot be used (the connection was closed before NATS answered; is nats-server running behind that address?)`,
    );
    const http = await listening((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    expect(await startFailure(http)).toContain(
      `the nats broker at ${http} cannot be used (what answers there is no NATS server; is --broker_address its client port, 4222 by default?)`,
    );
    expect(await startFailure("nohost.invalid:4222")).toContain(
      "the nats broker at nohost.invalid:4222 cannot be used (the name nohost.invalid does not resolve)",
    );
  });
});
