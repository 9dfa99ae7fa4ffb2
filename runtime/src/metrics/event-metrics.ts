import type { Counter, Histogram } from "prom-client";
import { promClient, promHistogram, type MetricsRegistry } from "./process-registry.js";
import { defaultBuckets } from "./rpc-stats.js";

/** How a handler's event ended: handled, failed, or refused as invalid (see EventMetrics). */
export type HandledOutcome = "ok" | "error" | "invalid";

/** The http broker's deliveries to one subscription (a topic and its queue group), labels bound once. */
export interface DeliveryMetrics {
  /** An event no member of the subscription took: it never reached a handler, and is lost (at most once). */
  undelivered(): void;
}

/** The counts of one subscription (a topic and its queue group), labels bound once. */
export interface SubscriptionMetrics {
  /** An event the handler finished with `outcome` after `seconds`. */
  handled(outcome: HandledOutcome, seconds: number): void;
  /** An event delivered again (attempt 2 or later). */
  redelivered(): void;
  /** An event moved to the dead-letter subject. */
  deadLettered(): void;
}

/**
 * A broker's event metrics, labelled by topic and queue group (empty for a
 * subscription without one), never by message: `tsmicro_events_published_total{topic,outcome}`,
 * `tsmicro_events_handled_total{topic,queue,outcome}`, `tsmicro_event_handling_seconds{topic,queue}`,
 * `tsmicro_events_redelivered_total{topic,queue}` and `tsmicro_events_dead_lettered_total{topic,queue}`.
 */
export interface EventMetrics {
  /** A publish to `topic` that the backend took (`ok`) or that failed (`error`). */
  published(topic: string, outcome: "ok" | "error"): void;
  /**
   * The counts of the subscription to `topic` in `queue`, its series made at 0 (so a rate or an
   * increase sees the first event): the handled ones always, the redelivered and dead-lettered ones
   * when the backend `redelivers` (JetStream).
   */
  subscription(topic: string, queue: string | undefined, redelivers?: boolean): SubscriptionMetrics;
  /**
   * A publisher's deliveries to the subscription to `topic` in `queue`, counted with its handled
   * events as outcome `undelivered` (its series made at 0): where the publisher delivers itself
   * (the http broker), an event it could not deliver fails that subscription as a handler's error does.
   */
  deliveries(topic: string, queue: string | undefined): DeliveryMetrics;
}

const unmeteredSubscription: SubscriptionMetrics = {
  handled: () => undefined,
  redelivered: () => undefined,
  deadLettered: () => undefined,
};

const unmeteredDeliveries: DeliveryMetrics = { undelivered: () => undefined };

/** Event metrics that record nothing: a broker made without a metrics registry (`--metrics_address=off`). */
export const unmeteredEvents: EventMetrics = {
  published: () => undefined,
  subscription: () => unmeteredSubscription,
  deliveries: () => unmeteredDeliveries,
};

type SubscriptionLabels = "topic" | "queue";

/**
 * The event metrics in `registry`, registered once however many brokers
 * share it; `undefined` (a broker made without one) gives unmeteredEvents,
 * which records nothing and loads no prom-client.
 */
export function eventMetrics(registry: MetricsRegistry | undefined): EventMetrics {
  if (registry === undefined) return unmeteredEvents;
  const published = counter<"topic" | "outcome">(
    registry,
    "tsmicro_events_published_total",
    "Events published, by topic and outcome: ok (the broker took it) or error (the publish failed).",
    ["topic", "outcome"],
  );
  const handled = counter<SubscriptionLabels | "outcome">(
    registry,
    "tsmicro_events_handled_total",
    "Events handled by subscribers, by topic, queue group and outcome: ok, error (the handler threw), " +
      "invalid (the body did not decode as the event's message, or the handler refused it with InvalidArgument) " +
      "or undelivered (counted by the publisher: the http broker could not deliver it to any member).",
    ["topic", "queue", "outcome"],
  );
  const redelivered = counter<SubscriptionLabels>(
    registry,
    "tsmicro_events_redelivered_total",
    "Events delivered again after a failed or unacknowledged attempt (JetStream), by topic and queue group.",
    ["topic", "queue"],
  );
  const deadLettered = counter<SubscriptionLabels>(
    registry,
    "tsmicro_events_dead_lettered_total",
    "Events moved to the dead-letter subject after their last attempt (JetStream), by topic and queue group.",
    ["topic", "queue"],
  );
  const seconds = handlingSeconds(registry);
  return {
    published: (topic, outcome) => published.inc({ topic, outcome }),
    subscription(topic, queue, redelivers = false) {
      const labels = { topic, queue: queue ?? "" };
      const outcomes = {
        ok: handled.labels({ ...labels, outcome: "ok" }),
        error: handled.labels({ ...labels, outcome: "error" }),
        invalid: handled.labels({ ...labels, outcome: "invalid" }),
      };
      const timer = seconds.labels(labels);
      const again = redelivered.labels(labels);
      const dead = deadLettered.labels(labels);
      for (const made of [...Object.values(outcomes), ...(redelivers ? [again, dead] : [])]) made.inc(0);
      return {
        handled(outcome, took) {
          outcomes[outcome].inc();
          timer.observe(took);
        },
        redelivered: () => again.inc(),
        deadLettered: () => dead.inc(),
      };
    },
    deliveries(topic, queue) {
      const lost = handled.labels({ topic, queue: queue ?? "", outcome: "undelivered" });
      lost.inc(0);
      return { undelivered: () => lost.inc() };
    },
  };
}

function counter<L extends string>(
  registry: MetricsRegistry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new (promClient().Counter)({ name, help, labelNames, registers: [registry] })
  );
}

function handlingSeconds(registry: MetricsRegistry): Histogram<SubscriptionLabels> {
  const name = "tsmicro_event_handling_seconds";
  return (
    (registry.getSingleMetric(name) as Histogram<SubscriptionLabels> | undefined) ??
    new (promHistogram())({
      name,
      help: "Histogram of how long subscribers' handlers took per event (seconds), by topic and queue group.",
      labelNames: ["topic", "queue"],
      buckets: [...defaultBuckets],
      registers: [registry],
    })
  );
}

/** Waits for `publishing`, a publish to `topic`, and counts how it ended; its outcome is passed on. */
export async function countedPublish(metrics: EventMetrics, topic: string, publishing: Promise<void>): Promise<void> {
  try {
    await publishing;
  } catch (error) {
    metrics.published(topic, "error");
    throw error;
  }
  metrics.published(topic, "ok");
}
