/**
 * The in-process broker, for tests and single-process tools: publish hands
 * the message straight to the subscriptions of this broker. At most once: a
 * handler error is logged and the message dropped (nack does not redeliver).
 */
import type { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { silentLogger, type Logger } from "../logging/logger.js";
import { eventMetrics, type EventMetrics } from "../metrics/event-metrics.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";
import type { Broker, BrokerHandler, PublishOptions, SubscribeOptions, Subscription } from "./broker.js";
import { checkStarted, checkTopic, concurrencyOf } from "./broker-checks.js";
import { brokerContext, HandlerRunner } from "./handler-runner.js";
import { atMostOnce, ReceivedMessage } from "./received-message.js";
import { pickPerQueue } from "./queue-groups.js";

/** Options of the memory broker. */
export interface MemoryBrokerOptions {
  /** Where handler errors go. Default: silent. */
  readonly logger?: Logger;
  /** Where its event metrics go (`tsmicro_events_*`); none when unset. */
  readonly metrics?: MetricsRegistry;
}

interface MemorySubscription {
  readonly topic: string;
  readonly queue: string | undefined;
  readonly runner: HandlerRunner;
}

/** An in-process broker: fan-out and queue groups among this broker's own subscriptions. */
export function createMemoryBroker(options: MemoryBrokerOptions = {}): Broker {
  return new MemoryBroker(
    (options.logger ?? silentLogger()).child({ broker: "memory" }),
    eventMetrics(options.metrics),
  );
}

class MemoryBroker implements Broker {
  readonly kind = "memory";
  #state: "new" | "started" | "stopped" = "new";
  readonly #subscriptions = new Set<MemorySubscription>();
  /** Round-robin position per `topic queue`, so a group's members take turns. */
  readonly #turns = new Map<string, number>();
  /** The async context handlers run in: the one the broker was started in (see start). */
  #delivery: AsyncResource | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: EventMetrics,
  ) {}

  async start(): Promise<void> {
    if (this.#state !== "new") return;
    this.#state = "started";
    // A handler is its subscriber's work, not the publisher's: run inside publish(), it would find
    // the publisher's served call (and its span for a parent) (see RunnerContext.delivery).
    this.#delivery = brokerContext(this.kind);
  }

  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    const subscriptions = [...this.#subscriptions];
    this.#subscriptions.clear();
    await Promise.all(subscriptions.map((s) => s.runner.drained()));
  }

  async publish(topic: string, body: Uint8Array, options: PublishOptions = {}): Promise<void> {
    checkTopic(topic, "publish");
    checkStarted(this.#state, this.kind);
    const id = options.id ?? randomUUID();
    const headers = { ...options.headers };
    const matching = [...this.#subscriptions].filter((s) => s.topic === topic);
    const receivers = pickPerQueue(matching, (key, size) => this.#turn(`${topic} ${key}`, size));
    for (const subscription of receivers) {
      // A copy each, so one handler changing its body cannot change another's.
      const fields = { topic, body: body.slice(), headers, id, attempt: 1 };
      subscription.runner.push(new ReceivedMessage(fields, atMostOnce));
    }
    this.metrics.published(topic, "ok");
  }

  async subscribe(topic: string, handler: BrokerHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    checkTopic(topic, "subscribe");
    const concurrency = concurrencyOf(options.concurrency);
    checkStarted(this.#state, this.kind);
    const context = {
      topic,
      queue: options.queue,
      onFailure: () => "dropped (at-most-once)",
      notStarted: "lost (at-most-once)",
      delivery: this.#delivery!,
    };
    const subscription: MemorySubscription = {
      topic,
      queue: options.queue,
      runner: new HandlerRunner(
        handler,
        concurrency,
        this.logger,
        context,
        this.metrics.subscription(topic, options.queue),
      ),
    };
    this.#subscriptions.add(subscription);
    return {
      topic,
      queue: options.queue,
      unsubscribe: async (unsubscribeOptions) => {
        this.#subscriptions.delete(subscription);
        await subscription.runner.stop(unsubscribeOptions?.graceMs);
      },
    };
  }

  #turn(key: string, size: number): number {
    const turn = this.#turns.get(key) ?? 0;
    this.#turns.set(key, turn + 1);
    return turn % size;
  }
}
