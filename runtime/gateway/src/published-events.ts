import { Code, isTsmicroError, type Logger } from "@tsmicro/runtime";
import { eventMetrics, type EventMetrics, type MetricsRegistry } from "@tsmicro/runtime/internal";

/** How many topics `tsmicro_events_published_total` names before it counts the rest together. */
export const maxNamedTopics = 1_000;

/** The `topic` label of publishes past maxNamedTopics: with a space, so no topic can be named so. */
export const otherTopics = "(other topics)";

/**
 * The event gateway's publishes in `tsmicro_events_published_total{topic,outcome}`,
 * as a service's broker counts its own: `ok` once the broker took the event,
 * `error` when the publish failed. A topic here comes from a request's path,
 * so the first maxNamedTopics topics are named and any later one counts as
 * otherTopics: whoever can reach the gateway cannot grow `/metrics` without
 * bound, as `http_requests_total` names route templates and never paths. A
 * topic the broker has no stream for (NOT_FOUND, a 404) was not a publish
 * that failed, and is not counted, like a 400; `http_requests_total` has both.
 */
export class PublishedEvents {
  readonly #metrics: EventMetrics;
  readonly #named = new Set<string>();
  #warned = false;

  constructor(
    registry: MetricsRegistry,
    private readonly logger: Logger,
    private readonly maxTopics = maxNamedTopics,
  ) {
    this.#metrics = eventMetrics(registry);
  }

  /** Waits for `publishing`, the publish of an event to `topic`, and counts how it ended; its outcome is passed on. */
  async count(topic: string, publishing: Promise<void>): Promise<void> {
    try {
      await publishing;
    } catch (error) {
      if (!(isTsmicroError(error) && error.code === Code.NOT_FOUND))
        this.#metrics.published(this.#label(topic), "error");
      throw error;
    }
    this.#metrics.published(this.#label(topic), "ok");
  }

  #label(topic: string): string {
    if (this.#named.has(topic)) return topic;
    if (this.#named.size < this.maxTopics) {
      this.#named.add(topic);
      return topic;
    }
    if (!this.#warned)
      this.logger.warn(
        { topic, namedTopics: this.maxTopics },
        `events published to more than ${this.maxTopics} topics: tsmicro_events_published_total counts this one and ` +
          `every later new topic as topic="${otherTopics}", so requests cannot grow /metrics without bound`,
      );
    this.#warned = true;
    return otherTopics;
  }
}
