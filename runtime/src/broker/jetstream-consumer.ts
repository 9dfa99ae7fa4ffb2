import { createHash } from "node:crypto";
import type { ConsumerConfig, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "nats";
import type { Logger } from "../logging/logger.js";
import type { SubscriptionMetrics } from "../metrics/event-metrics.js";

import type { HandlerRunner } from "./handler-runner.js";
import type { StreamSubjects } from "./jetstream-streams.js";
import { fromNatsHeaders, toNatsHeaders, type Nats } from "./nats-headers.js";
import { ReceivedMessage, type Settlement } from "./received-message.js";

/** How JetStream subscriptions redeliver and give up. */
export interface RedeliveryPolicy {
  /** Deliveries of one message before it goes to the dead-letter subject. */
  readonly maxDeliver: number;
  /** Delay before redelivery after the n-th failed attempt (index n-1; the last repeats). */
  readonly backoffMs: readonly number[];
  /** The dead-letter subject of a topic. */
  readonly deadLetterSubject: (topic: string) => string;
  /** How long a delivered message may go unacknowledged before the server redelivers it. */
  readonly ackWaitMs: number;
}

/** What one JetStream subscription needs from its broker. */
export interface JetStreamContext {
  readonly nats: Nats;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly streams: StreamSubjects;
  readonly policy: RedeliveryPolicy;
  readonly logger: Logger;
}

/** Headers a dead letter carries besides the message's own, saying where it came from and why it died. */
export const deadLetterHeaders = {
  topic: "Micro-Dead-Letter-Topic",
  attempts: "Micro-Dead-Letter-Attempts",
  error: "Micro-Dead-Letter-Error",
} as const;

/**
 * The durable consumer name of a queue group (or of a named plain
 * subscriber) on a topic: NATS names allow no dots, wildcards or spaces, so
 * those become `_`, with a short hash when anything was replaced, so that
 * `orders.created` and `orders_created` stay apart.
 */
export function durableName(group: string, topic: string): string {
  const raw = `${group}_${topic}`;
  const clean = raw.replace(/[^A-Za-z0-9_-]/g, "_");
  return clean === raw ? clean : `${clean}_${createHash("sha256").update(raw).digest("hex").slice(0, 8)}`;
}

/**
 * One JetStream subscription: a pull consumer on the topic (durable when
 * named, ephemeral otherwise), taking from the server only as many messages
 * as the handler has free slots, so none waits out its ack deadline in a
 * buffer. Ack after the handler; nack with backoff after an error; the
 * attempt after `maxDeliver` goes to the dead-letter subject and is acked. An
 * event the handler refused as invalid goes to the dead-letter subject at
 * once and is terminated: no redelivery can mend it.
 */
export class JetStreamConsumer {
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  /** A rebuild of the stream and consumer under way (see #reopen). */
  #reopening: Promise<void> | undefined;
  #closing = false;

  constructor(
    private readonly context: JetStreamContext,
    private readonly topic: string,
    private readonly durable: string | undefined,
    private readonly runner: HandlerRunner,
    private readonly concurrency: number,
    private readonly metrics: SubscriptionMetrics,
  ) {}

  /** Creates the consumer if needed and starts taking messages. */
  async start(): Promise<void> {
    await this.#open();
  }

  /**
   * Stops taking messages and waits for the handlers in flight (for `graceMs` when given, see
   * HandlerRunner.stop). A durable consumer stays on the server, so the group resumes where it
   * left off; messages taken but not acked are redelivered after the ack wait.
   */
  async stop(graceMs?: number): Promise<void> {
    this.#closing = true;
    this.#messages?.stop();
    await this.#loop;
    // A rebuild under way ends at its next step, taking nothing.
    await this.#reopening;
    await this.runner.stop(graceMs);
  }

  async #open(): Promise<void> {
    const { js } = this.context;
    const stream = await this.context.streams.ensure(this.topic);
    const name = await this.#ensureConsumer(stream);
    const consumer = await js.consumers.get(stream, name);
    const messages = await consumer.consume({ max_messages: this.concurrency });
    // Stopped while making it again (see #reopen): nothing may take messages after stop().
    if (this.#closing) {
      messages.stop();
      return;
    }
    this.#messages = messages;
    this.#loop = this.#take(messages);
    void this.#followStatus(messages);
  }

  /**
   * Waits for the server to say the consumer or its stream is gone (a server
   * back on an empty store, its JetStream data lost, or an operator deleting
   * them), then makes them again: nats.js would wait for someone else to.
   */
  async #followStatus(messages: ConsumerMessages): Promise<void> {
    const { ConsumerEvents } = this.context.nats;
    const lost: ReadonlySet<string> = new Set([
      ConsumerEvents.StreamNotFound,
      ConsumerEvents.ConsumerNotFound,
      ConsumerEvents.ConsumerDeleted,
    ]);
    for await (const status of await messages.status()) {
      if (this.#closing || this.#messages !== messages) return;
      if (!lost.has(status.type)) continue;
      this.#reopening = this.#reopen(messages);
      return;
    }
  }

  /**
   * Stops taking from `lost`, then makes the stream and consumer again and takes messages from
   * them, trying each second until it can or the subscription stops.
   */
  async #reopen(lost: ConsumerMessages): Promise<void> {
    const { logger, streams } = this.context;
    lost.stop();
    await this.#loop;
    if (this.#closing) return;
    logger.warn(
      { topic: this.topic, consumer: this.durable },
      "broker: the JetStream stream or consumer of this subscription is gone from the server; making it again",
    );
    for (let attempt = 1; !this.#closing; attempt++) {
      streams.forget(this.topic);
      try {
        await this.#open();
        logger.info(
          { topic: this.topic, consumer: this.durable },
          "broker: the JetStream subscription takes messages again",
        );
        return;
      } catch (error) {
        if (this.#closing) return;
        if (attempt === 1)
          logger.warn(
            { topic: this.topic, err: error },
            "broker: cannot make the JetStream consumer yet; trying each second",
          );
        await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
      }
    }
  }

  async #ensureConsumer(stream: string): Promise<string> {
    const { nats, jsm, policy } = this.context;
    const config: Partial<ConsumerConfig> = {
      ack_policy: nats.AckPolicy.Explicit,
      // A new group starts with what is published from now on, not the stream's history.
      deliver_policy: nats.DeliverPolicy.New,
      filter_subject: this.topic,
      // One spare delivery: a message whose handler crashed the process at the last attempt still reaches the dead letters.
      max_deliver: policy.maxDeliver + 1,
      ack_wait: nats.nanos(policy.ackWaitMs),
      ...(this.durable ? { durable_name: this.durable } : { inactive_threshold: nats.nanos(30_000) }),
    };
    try {
      return (await jsm.consumers.add(stream, config)).name;
    } catch (error) {
      if (!this.durable) throw error;
      // Another member created it with other settings (an older deployment): use it as it is.
      const existing = await jsm.consumers.info(stream, this.durable).catch(() => undefined);
      if (!existing) throw error;
      this.context.logger.warn(
        { topic: this.topic, consumer: this.durable, err: error },
        "broker: kept the existing JetStream consumer's settings",
      );
      return existing.name;
    }
  }

  async #take(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        this.#receive(message);
        await this.runner.slotFree();
        if (this.#closing) break;
      }
    } catch (error) {
      if (!this.#closing)
        this.context.logger.error({ topic: this.topic, err: error }, "broker: the JetStream subscription ended");
    }
  }

  #receive(message: JsMsg): void {
    const { nats, policy } = this.context;
    const { headers, id } = fromNatsHeaders(nats, message.headers);
    const attempt = message.info.deliveryCount;
    const received = new ReceivedMessage(
      { topic: message.subject, body: message.data, headers, id, attempt },
      this.#settlement(message, attempt),
    );
    // Past its last attempt (the process died while handling it): straight to the dead letters.
    if (attempt > policy.maxDeliver) void received.fail(new Error(`not handled in ${policy.maxDeliver} attempts`));
    else this.runner.push(received);
  }

  #settlement(message: JsMsg, attempt: number): Settlement {
    const { policy } = this.context;
    return {
      ack: async () => {
        // Waits for the server's confirmation: an ack lost in a reconnect would mean a second delivery.
        await message.ackAck();
      },
      nack: async (delayMs, failure) => {
        if (attempt < policy.maxDeliver) {
          message.nak(delayMs ?? backoffAfter(policy.backoffMs, attempt));
          return;
        }
        await this.#deadLetter(message, attempt, failure);
        await message.ackAck();
      },
      reject: async (failure) => {
        // Dead-lettered first: should that publish fail, the message comes back after the ack wait.
        await this.#deadLetter(message, attempt, failure, "not retried: the event is invalid (INVALID_ARGUMENT)");
        // No reason given: servers before 2.10 ignore a "+TERM" that carries one, and redeliver.
        message.term();
      },
    };
  }

  /** Moves the message to the dead-letter subject; `why` is said in place of "after N attempts" when given. */
  async #deadLetter(message: JsMsg, attempt: number, failure: unknown, why?: string): Promise<void> {
    const { nats, js, streams, policy, logger } = this.context;
    const subject = policy.deadLetterSubject(this.topic);
    const { headers, id } = fromNatsHeaders(nats, message.headers);
    const reason = failure instanceof Error ? failure.message : failure === undefined ? "nacked" : String(failure);
    const natsHeaders = toNatsHeaders(
      nats,
      {
        ...headers,
        [deadLetterHeaders.topic]: this.topic,
        [deadLetterHeaders.attempts]: String(attempt),
        [deadLetterHeaders.error]: reason.slice(0, 1000),
      },
      id,
    );
    await streams.ensure(subject);
    // Its own dedup id: the original's would make JetStream drop the dead letter as a duplicate.
    await js.publish(subject, message.data, { headers: natsHeaders, msgID: `${id}.dead-letter` });
    this.metrics.deadLettered();
    logger.error(
      { topic: this.topic, messageId: id, attempt, deadLetterSubject: subject },
      `broker: message moved to the dead-letter subject ${why ? `at attempt ${attempt}, ${why}` : `after ${attempt} attempts`}`,
    );
  }
}

/** The delay before the next delivery after failed attempt `attempt` (1-based); the last delay repeats. */
export function backoffAfter(backoffMs: readonly number[], attempt: number): number {
  return backoffMs[Math.min(attempt, backoffMs.length) - 1] ?? 0;
}

/**
 * What becomes of a message of `topic` whose handler failed attempt `attempt` (1-based), for the
 * failure's log line: when it comes back, or, at the last attempt or for an invalid event, the
 * dead-letter subject it goes to.
 */
export function jetstreamFailure(
  policy: RedeliveryPolicy,
  topic: string,
): (attempt: number, invalid: boolean) => string {
  return (attempt, invalid) => {
    const of = `attempt ${attempt} of ${policy.maxDeliver}`;
    if (invalid)
      return (
        `not retried: the event is invalid (INVALID_ARGUMENT); moved to the dead-letter subject ` +
        `${policy.deadLetterSubject(topic)} (${of})`
      );
    if (attempt >= policy.maxDeliver)
      return `moved to the dead-letter subject ${policy.deadLetterSubject(topic)} (${of})`;
    const delayMs = backoffAfter(policy.backoffMs, attempt);
    return `redelivered in ${delayMs < 1000 ? `${delayMs} ms` : `${delayMs / 1000} s`} (${of})`;
  };
}
