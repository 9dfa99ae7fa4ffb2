import type { Logger } from "../logging/logger.js";
import type { Registry } from "../registry/registry.js";

/** A service the registry lists as subscribing to a topic, and the broker its endpoint names. */
interface DeclaredSubscriber {
  readonly service: string;
  /** `nats`, `http`, …; undefined when the endpoint does not say. */
  readonly broker: string | undefined;
}

/** How long one read of the registry's subscriber endpoints answers for every topic. */
const rescanMs = 10_000;

/**
 * Says, once per topic, when the http broker publishes a topic none of its
 * subscriptions has while the registry lists a service subscribing to it on
 * another broker: a process started without the services' `--broker` (the
 * gateway's `--handler event` defaults to `http`) otherwise sends its events
 * nowhere in silence, as at-most-once delivery allows. Cheap on the publish
 * path: nothing is awaited, and the registry is read at most once per
 * rescanMs whatever the number of topics.
 */
export class UnheardTopics {
  #declared: { readonly at: number; readonly byTopic: Promise<Map<string, DeclaredSubscriber[]>> } | undefined;
  readonly #warned = new Set<string>();

  constructor(
    private readonly registry: Registry,
    private readonly logger: Logger,
    /** The registry name of the http brokers' own subscription nodes, which declare no endpoints. */
    private readonly brokerServiceName: string,
  ) {}

  /** A publish to `topic` reached no subscriber of the http broker: warn if a service subscribes to it elsewhere. */
  notice(topic: string): void {
    if (this.#warned.has(topic)) return;
    const now = Date.now();
    if (!this.#declared || now - this.#declared.at >= rescanMs) this.#declared = { at: now, byTopic: this.#scan() };
    void this.#declared.byTopic.then((byTopic) => {
      // A subscriber on the http broker itself is starting or going away: nothing to tell.
      const elsewhere = (byTopic.get(topic) ?? []).filter((d) => d.broker !== "http");
      if (elsewhere.length === 0 || this.#warned.has(topic)) return;
      this.#warned.add(topic);
      const brokers = new Set(elsewhere.map((d) => d.broker));
      const only = brokers.size === 1 ? [...brokers][0] : undefined;
      const who = elsewhere.map((d) => `${d.service} (${d.broker ?? "broker not listed"})`).join(", ");
      this.logger.warn(
        { topic, subscribers: who },
        `broker: no subscriber of ${topic} on the http broker, so its events reach no one, yet the registry ` +
          `lists ${who} subscribing to it on ${only ? `the ${only} broker` : "another broker"}; start this ` +
          `process with ${only ? `--broker ${only}` : "the --broker those services use"} (and its --broker_address)`,
      );
    });
  }

  /** Every topic some registered service subscribes to, by its endpoints' `topic` and `subscriber` metadata. */
  async #scan(): Promise<Map<string, DeclaredSubscriber[]>> {
    const byTopic = new Map<string, DeclaredSubscriber[]>();
    try {
      const names = new Set((await this.registry.listServices()).map((s) => s.name));
      names.delete(this.brokerServiceName);
      for (const name of names) {
        for (const service of await this.registry.getService(name)) {
          for (const endpoint of service.endpoints) {
            const { topic, subscriber, broker } = endpoint.metadata;
            if (topic === undefined || subscriber !== "true") continue;
            const list = byTopic.get(topic) ?? [];
            if (!list.some((d) => d.service === name)) list.push({ service: name, broker });
            byTopic.set(topic, list);
          }
        }
      }
    } catch (error) {
      // A registry that cannot be read now costs only this hint; the publish itself is unaffected.
      this.logger.debug({ err: error }, "broker: cannot read the registry's subscribers to explain an unheard topic");
    }
    return byTopic;
  }
}
