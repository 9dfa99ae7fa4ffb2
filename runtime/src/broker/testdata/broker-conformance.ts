/**
 * The behaviour every broker backend must show, as vitest tests a backend's
 * test file declares with `describeBrokerConformance`. Each test uses topics
 * of its own, so a backend may share one server across tests. Test support
 * only (under testdata/ so the package build leaves it out, as it imports vitest).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "../../errors/tsmicro-error.js";
import type { Logger } from "../../logging/logger.js";
import type { Broker, BrokerMessage, SubscribeOptions } from "../broker.js";

/** Brokers under test: `publisher` and two subscribing brokers (any may be the same object), all started. */
export interface BrokersUnderTest {
  readonly publisher: Broker;
  readonly subscribers: readonly [Broker, Broker];
  /** Stops what the brokers need besides themselves (registry, folder); the suite stops the brokers. */
  cleanup(): Promise<void>;
}

/** A log line a recording logger kept. */
export interface LogEntry {
  readonly level: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly message: string | undefined;
}

/** A logger that keeps every line, for tests that check what was logged. */
export function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const make = (bound: object): Logger => {
    const log = (level: string) => (fields: object, message?: string) =>
      void entries.push({ level, fields: { ...bound, ...fields } as Record<string, unknown>, message });
    return {
      trace: log("trace"),
      debug: log("debug"),
      info: log("info"),
      warn: log("warn"),
      error: log("error"),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return { logger: make({}), entries };
}

/** Polls `probe` until it returns something truthy, which it returns; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  timeoutMs = 5_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A topic no other test (or earlier run on a shared server) uses. */
export function uniqueTopic(prefix = "test"): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}

/** Bodies received by a subscription, as text, in arrival order. */
export function collect(): { texts: string[]; messages: BrokerMessage[]; handler: (m: BrokerMessage) => void } {
  const texts: string[] = [];
  const messages: BrokerMessage[] = [];
  return {
    texts,
    messages,
    handler: (message) => {
      messages.push(message);
      texts.push(new TextDecoder().decode(message.body));
    },
  };
}

const encode = (text: string) => new TextEncoder().encode(text);

/** Declares the conformance tests of the backend `make` builds (fresh, started brokers per test). */
export function describeBrokerConformance(name: string, make: (logger: Logger) => Promise<BrokersUnderTest>): void {
  describe(`${name} broker (conformance)`, () => {
    let underTest: BrokersUnderTest;
    let publisher: Broker;
    let first: Broker;
    let second: Broker;
    let log: ReturnType<typeof recordingLogger>;

    beforeEach(async () => {
      log = recordingLogger();
      underTest = await make(log.logger);
      publisher = underTest.publisher;
      [first, second] = underTest.subscribers;
    });

    afterEach(async () => {
      for (const broker of new Set([publisher, first, second])) await broker.stop();
      await underTest.cleanup();
    });

    const publishAll = async (topic: string, texts: readonly string[]) => {
      for (const text of texts) await publisher.publish(topic, encode(text));
    };
    const numbered = (count: number) => Array.from({ length: count }, (_, i) => `m${i}`);

    it("delivers a published message with its topic, body, id and attempt 1", async () => {
      const topic = uniqueTopic();
      const received = collect();
      await first.subscribe(topic, received.handler);

      await publisher.publish(topic, new Uint8Array([0, 1, 2, 255]), { id: "message-1" });
      await waitFor("the message", () => received.messages.length === 1);
      const [message] = received.messages;
      expect(message).toMatchObject({ topic, id: "message-1", attempt: 1 });
      expect([...message!.body]).toEqual([0, 1, 2, 255]);
    });

    it("gives each message a distinct id when the publisher sets none", async () => {
      const topic = uniqueTopic();
      const received = collect();
      await first.subscribe(topic, received.handler);

      await publishAll(topic, ["a", "b"]);
      await waitFor("both messages", () => received.messages.length === 2);
      const [a, b] = received.messages.map((m) => m.id);
      expect(a).toBeTruthy();
      expect(a).not.toBe(b);
    });

    it("passes headers through untouched: trace context, case and non-ASCII values", async () => {
      const topic = uniqueTopic();
      const received = collect();
      await first.subscribe(topic, received.handler);
      const headers = {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "X-Tenant": "Zürich / 東京",
      };

      await publisher.publish(topic, encode("x"), { headers });
      await waitFor("the message", () => received.messages.length === 1);
      expect(received.messages[0]?.headers).toEqual(headers);
    });

    it("fans every message out to every plain subscriber", async () => {
      const topic = uniqueTopic();
      const [a, b] = [collect(), collect()];
      await first.subscribe(topic, a.handler);
      await second.subscribe(topic, b.handler);

      await publishAll(topic, numbered(5));
      await waitFor("five messages on each", () => a.texts.length === 5 && b.texts.length === 5);
      expect(a.texts).toEqual(numbered(5));
      expect(b.texts).toEqual(numbered(5));
    });

    it("gives each message to exactly one member of a queue group, while a plain subscriber gets them all", async () => {
      const topic = uniqueTopic();
      const [a, b, all] = [collect(), collect(), collect()];
      await first.subscribe(topic, a.handler, { queue: "workers" });
      await second.subscribe(topic, b.handler, { queue: "workers" });
      await first.subscribe(topic, all.handler);

      const sent = numbered(50);
      await publishAll(topic, sent);
      await waitFor(
        "fifty messages in the group",
        () => a.texts.length + b.texts.length >= 50 && all.texts.length === 50,
      );
      await sleep(200);
      expect([...a.texts, ...b.texts].sort()).toEqual([...sent].sort());
      expect(a.texts.length).toBeGreaterThan(0);
      expect(b.texts.length).toBeGreaterThan(0);
      expect(all.texts).toEqual(sent);
    });

    it("delivers every message to each of two queue groups once", async () => {
      const topic = uniqueTopic();
      const groups = { billing: [collect(), collect()], audit: [collect(), collect()] } as const;
      for (const [queue, members] of Object.entries(groups)) {
        await first.subscribe(topic, members[0].handler, { queue });
        await second.subscribe(topic, members[1].handler, { queue });
      }

      const sent = numbered(10);
      await publishAll(topic, sent);
      const texts = (queue: keyof typeof groups) => groups[queue].flatMap((member) => member.texts);
      await waitFor("ten messages in each group", () => texts("billing").length >= 10 && texts("audit").length >= 10);
      await sleep(200);
      expect(texts("billing").sort()).toEqual([...sent].sort());
      expect(texts("audit").sort()).toEqual([...sent].sort());
    });

    it("stops delivering to a subscription once unsubscribed", async () => {
      const topic = uniqueTopic();
      const [gone, stays] = [collect(), collect()];
      const subscription = await first.subscribe(topic, gone.handler);
      await second.subscribe(topic, stays.handler);
      await publisher.publish(topic, encode("before"));
      await waitFor("the first message on both", () => gone.texts.length === 1 && stays.texts.length === 1);

      await subscription.unsubscribe();
      await publisher.publish(topic, encode("after"));
      await waitFor("the second message on the remaining subscriber", () => stays.texts.length === 2);
      await sleep(200);
      expect(gone.texts).toEqual(["before"]);
      expect(subscription).toMatchObject({ topic, queue: undefined });
    });

    it("logs a handler error with the message id and keeps delivering", async () => {
      const topic = uniqueTopic();
      const received: string[] = [];
      await first.subscribe(topic, (message) => {
        const text = new TextDecoder().decode(message.body);
        if (text === "bad" && message.attempt === 1) throw new Error("handler refused it");
        received.push(text);
      });

      await publisher.publish(topic, encode("bad"), { id: "bad-1" });
      await publisher.publish(topic, encode("good"));
      await waitFor("the next message", () => received.includes("good"));
      const failure = await waitFor("the log line", () =>
        log.entries.find((e) => e.level === "error" && e.fields["messageId"] === "bad-1"),
      );
      expect(failure.fields).toMatchObject({ topic });
      expect(String(failure.fields["err"])).toContain("handler refused it");
    });

    it("works on at most `concurrency` messages at once", async () => {
      const topic = uniqueTopic();
      let running = 0;
      let most = 0;
      let done = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const options: SubscribeOptions = { concurrency: 3 };
      await first.subscribe(
        topic,
        async () => {
          most = Math.max(most, ++running);
          await gate;
          running--;
          done++;
        },
        options,
      );

      await publishAll(topic, numbered(6));
      await waitFor("three handlers running", () => running === 3);
      await sleep(100);
      expect(running).toBe(3);
      release();
      await waitFor("all six handled", () => done === 6);
      expect(most).toBe(3);
    });

    it("stop() waits for handlers in flight, then refuses publish and subscribe", async () => {
      const topic = uniqueTopic();
      let finished = false;
      let started = false;
      await first.subscribe(topic, async () => {
        started = true;
        await sleep(200);
        finished = true;
      });
      await publisher.publish(topic, encode("slow"));
      await waitFor("the handler to start", () => started);

      await first.stop();
      expect(finished).toBe(true);
      await first.stop();
      const stopped = { name: "TsmicroError", code: Code.FAILED_PRECONDITION };
      await expect(first.publish(topic, encode("late"))).rejects.toMatchObject(stopped);
      await expect(first.subscribe(topic, () => {})).rejects.toMatchObject(stopped);
    });

    it("refuses unusable topics and concurrency as INVALID_ARGUMENT", async () => {
      const refused = { name: "TsmicroError", code: Code.INVALID_ARGUMENT };
      // The last ones are NATS's own subjects (a publish to $JS.API.… is a JetStream API request), refused on every broker.
      const unusable = ["", "has space", "orders.*", "orders.>", ".orders", "orders..created"];
      for (const topic of [...unusable, "$JS.API.STREAM.DELETE.TSMICRO", "$SYS.REQ.SERVER.PING", "_INBOX.x"]) {
        await expect(publisher.publish(topic, encode("x")), topic).rejects.toMatchObject(refused);
        await expect(
          first.subscribe(topic, () => {}),
          topic,
        ).rejects.toMatchObject(refused);
      }
      await expect(first.subscribe(uniqueTopic(), () => {}, { concurrency: 0 })).rejects.toMatchObject(refused);
    });
  });
}
