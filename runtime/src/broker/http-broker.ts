/**
 * The embedded broker, tsmicro's default, after go-micro's HTTP broker: no
 * server to run. A process that subscribes serves a small HTTP endpoint
 * (127.0.0.1:0 unless told otherwise) and registers each subscription as a
 * node of the `tsmicro.broker` service in the registry, with its topic and
 * queue group in the node metadata, kept alive by heartbeats. A publisher
 * looks the topic's subscriptions up in the registry (cached, cleared by a
 * watch) and POSTs the message to every plain subscription and to one
 * member of each queue group. A topic with no subscriber here that a
 * registered service subscribes to on another broker gets a warning, once.
 *
 * Delivery is AT MOST ONCE: a message is held only in the receiving
 * process's memory; a POST that fails is logged and not retried (a queue
 * group's next member is tried instead; a message no member took counts as
 * `undelivered` in the handled events), a handler error is logged and the
 * message dropped, and a process that exits with messages queued loses
 * them. Use NATS JetStream when messages must not be lost.
 */
import type { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { silentLogger, type Logger } from "../logging/logger.js";
import { countedPublish, eventMetrics, type EventMetrics } from "../metrics/event-metrics.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";
import { registryDefaults, type Registry, type Service } from "../registry/registry.js";
import { advertisedBeside, PauseLog, Registration } from "../service/lifecycle.js";
import type {
  Broker,
  BrokerHandler,
  PublishOptions,
  SubscribeOptions,
  Subscription,
  UnsubscribeOptions,
} from "./broker.js";
import { brokerHeaders } from "./broker.js";
import { checkStarted, checkTopic, concurrencyOf } from "./broker-checks.js";
import { brokerContext, HandlerRunner } from "./handler-runner.js";
import { headersHeader, HttpReceiver, subscriptionPath, type Acceptance } from "./http-receiver.js";
import { HttpSender } from "./http-sender.js";
import { groupByQueue } from "./queue-groups.js";
import { atMostOnce, ReceivedMessage, type MessageFields } from "./received-message.js";
import { SubscriberDirectory, type BrokerEndpoint } from "./subscriber-directory.js";
import { UnheardTopics } from "./unheard-topics.js";

/** Options of the http broker. */
export interface HttpBrokerOptions {
  /** Where subscriptions are registered and looked up; started and stopped by its owner, not by the broker. */
  readonly registry: Registry;
  readonly logger?: Logger;
  /** `host:port` the receiving server binds (`--broker_address`). Default `127.0.0.1:0`. */
  readonly address?: string;
  /** The service's `--server_advertise`: subscriptions are registered on its host, as the node is. */
  readonly serverAdvertise?: string;
  /** The registry service subscriptions register under. Default `tsmicro.broker`. */
  readonly serviceName?: string;
  /** TTL and heartbeat of each subscription's registration. Default the registry's (30 s, 15 s). */
  readonly registerTtlMs?: number;
  readonly registerIntervalMs?: number;
  /** Tells a pause of the process once for all its registrations: a service's, shared with its node. One of its own when unset. */
  readonly pauses?: PauseLog;
  /** How long one POST to a subscriber may take. Default 5000. */
  readonly publishTimeoutMs?: number;
  /** Largest message accepted, in bytes. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  /** Messages a subscription may hold waiting for its handler before it answers "overloaded" (503). Default 10000. */
  readonly maxPending?: number;
  /** Where its event metrics go (`tsmicro_events_*`); none when unset. */
  readonly metrics?: MetricsRegistry;
}

/** The http broker, which can also say whom a publish would reach. */
export interface HttpBroker extends Broker {
  /** The subscriptions a publish to `topic` would reach now, as this broker sees the registry. */
  subscribers(topic: string): Promise<readonly BrokerEndpoint[]>;
}

export type { BrokerEndpoint } from "./subscriber-directory.js";

/** Defaults of the http broker, applied here and nowhere else. */
export const httpBrokerDefaults = {
  address: "127.0.0.1:0",
  serviceName: "tsmicro.broker",
  publishTimeoutMs: 5_000,
  maxMessageBytes: 4 * 1024 * 1024,
  maxPending: 10_000,
} as const;

/**
 * How long a subscriber whose POST failed is tried after its queue's other members, and its
 * further failures are logged at debug level rather than warned of each time.
 */
const failingMs = 10_000;

/** The embedded broker: subscriptions found through `registry`, messages POSTed over HTTP, at most once. */
export function createHttpBroker(options: HttpBrokerOptions): HttpBroker {
  return new HttpBrokerImpl(options);
}

interface LocalSubscription {
  readonly topic: string;
  readonly queue: string | undefined;
  readonly runner: HandlerRunner;
  registration: Registration | undefined;
}

/** One message as POSTed to each subscriber. */
interface Outgoing {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

type Settings = Required<Omit<HttpBrokerOptions, "registry" | "logger" | "serverAdvertise" | "metrics" | "pauses">> &
  Pick<HttpBrokerOptions, "serverAdvertise">;

class HttpBrokerImpl implements HttpBroker {
  readonly kind = "http";
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #metrics: EventMetrics;
  readonly #settings: Settings;
  readonly #directory: SubscriberDirectory;
  /** One for all the subscriptions: each finds a pause at its next heartbeat, and the first says so. */
  readonly #pauses: PauseLog;
  readonly #unheard: UnheardTopics;
  readonly #sender: HttpSender;
  /** This process's broker id: its subscriptions' node ids start with it. */
  readonly #id = `broker-${randomUUID()}`;
  readonly #subscriptions = new Map<string, LocalSubscription>();
  /** Subscribers whose last POST failed, by URL, with when that stops counting (see failingMs). */
  readonly #failing = new Map<string, number>();
  #state: "new" | "started" | "stopped" = "new";
  #receiver: HttpReceiver | undefined;
  /** The context handlers run in, made at start: not that of the receiver, which the first subscribe() makes. */
  #delivery: AsyncResource | undefined;
  /** The advertised `host:port`, once the receiver listens (on the first subscribe). */
  #listening: Promise<string> | undefined;
  #count = 0;

  constructor(options: HttpBrokerOptions) {
    this.#registry = options.registry;
    this.#logger = (options.logger ?? silentLogger()).child({ broker: "http" });
    this.#metrics = eventMetrics(options.metrics);
    this.#pauses = options.pauses ?? new PauseLog();
    this.#settings = {
      address: options.address ?? httpBrokerDefaults.address,
      serverAdvertise: options.serverAdvertise,
      serviceName: options.serviceName ?? httpBrokerDefaults.serviceName,
      registerTtlMs: options.registerTtlMs ?? registryDefaults.ttlMs,
      registerIntervalMs: options.registerIntervalMs ?? registryDefaults.intervalMs,
      publishTimeoutMs: options.publishTimeoutMs ?? httpBrokerDefaults.publishTimeoutMs,
      maxMessageBytes: options.maxMessageBytes ?? httpBrokerDefaults.maxMessageBytes,
      maxPending: options.maxPending ?? httpBrokerDefaults.maxPending,
    };
    this.#directory = new SubscriberDirectory(this.#registry, this.#settings.serviceName, this.#logger);
    this.#unheard = new UnheardTopics(this.#registry, this.#logger, this.#settings.serviceName);
    this.#sender = new HttpSender(this.#settings.publishTimeoutMs);
  }

  /** Starts nothing yet: the receiving server binds on the first subscribe, so a publish-only process serves nothing. */
  async start(): Promise<void> {
    if (this.#state !== "new") return;
    this.#state = "started";
    this.#delivery = brokerContext(this.kind);
  }

  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    await Promise.all([...this.#subscriptions.keys()].map((id) => this.#unsubscribe(id)));
    this.#directory.stop();
    this.#sender.close();
    await this.#receiver?.close();
  }

  async subscribers(topic: string): Promise<readonly BrokerEndpoint[]> {
    return this.#directory.subscribersOf(topic);
  }

  async publish(topic: string, body: Uint8Array, options: PublishOptions = {}): Promise<void> {
    checkTopic(topic, "publish");
    checkStarted(this.#state, this.kind);
    await countedPublish(this.#metrics, topic, this.#publish(topic, body, options));
  }

  async #publish(topic: string, body: Uint8Array, options: PublishOptions): Promise<void> {
    const id = options.id ?? randomUUID();
    const request: Outgoing = {
      headers: {
        "content-type": "application/octet-stream",
        [brokerHeaders.topic]: topic,
        [brokerHeaders.id]: id,
        [headersHeader]: encodeURIComponent(JSON.stringify(options.headers ?? {})),
      },
      body,
    };
    const subscribers = await this.#directory.subscribersOf(topic);
    if (subscribers.length === 0) this.#unheard.notice(topic);
    const { plain, groups } = groupByQueue(subscribers);
    await Promise.all(
      [...plain.map((endpoint) => [endpoint]), ...groups.values()].map((members) =>
        this.#deliver(members, request, id),
      ),
    );
  }

  /**
   * Delivers to one subscription: a plain subscriber, or one member of a queue group. An event none
   * of them took is lost (at most once), and counts as `undelivered` in its handled events.
   */
  async #deliver(members: readonly BrokerEndpoint[], request: Outgoing, id: string): Promise<void> {
    const { topic, queue } = members[0]!;
    const deliveries = this.#metrics.deliveries(topic, queue);
    if (!(await this.#postToOneOf(members, request, id))) deliveries.undelivered();
  }

  async subscribe(topic: string, handler: BrokerHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    checkTopic(topic, "subscribe");
    const concurrency = concurrencyOf(options.concurrency);
    checkStarted(this.#state, this.kind);
    this.#listening ??= this.#listen();
    const address = await this.#listening;
    const id = `${this.#id}-${++this.#count}`;
    const { queue } = options;
    const context = {
      topic,
      queue,
      onFailure: () => "dropped (at-most-once)",
      notStarted: "lost: the http broker is at most once (--broker nats --broker_jetstream on keeps events)",
      delivery: this.#delivery!,
    };
    const subscription: LocalSubscription = {
      topic,
      queue,
      runner: new HandlerRunner(handler, concurrency, this.#logger, context, this.#metrics.subscription(topic, queue)),
      registration: undefined,
    };
    // Receivable before it is registered, so no publisher finds it and gets a 404.
    this.#subscriptions.set(id, subscription);
    subscription.registration = new Registration(this.#registry, this.#record(id, address, topic, queue), {
      ttlMs: this.#settings.registerTtlMs,
      intervalMs: this.#settings.registerIntervalMs,
      logger: this.#logger,
      pauses: this.#pauses,
    });
    try {
      await subscription.registration.start();
    } catch (error) {
      this.#subscriptions.delete(id);
      throw error;
    }
    this.#directory.invalidate();
    return { topic, queue, unsubscribe: (unsubscribeOptions) => this.#unsubscribe(id, unsubscribeOptions) };
  }

  /**
   * Deregisters first (and waits for publishers' watches to drop the node), then stops receiving
   * and drains: everything received, or, with a grace, the handlers in flight for that long.
   */
  async #unsubscribe(id: string, options: UnsubscribeOptions = {}): Promise<void> {
    const subscription = this.#subscriptions.get(id);
    if (!subscription) return;
    await subscription.registration?.stop();
    this.#subscriptions.delete(id);
    this.#directory.invalidate();
    await subscription.runner.stop(options.graceMs);
  }

  async #listen(): Promise<string> {
    this.#receiver = new HttpReceiver({
      address: this.#settings.address,
      maxMessageBytes: this.#settings.maxMessageBytes,
      accept: (id, fields) => this.#accept(id, fields),
    });
    return advertisedBeside(await this.#receiver.listen(), this.#settings.serverAdvertise);
  }

  #accept(id: string, fields: MessageFields): Acceptance {
    const subscription = this.#subscriptions.get(id);
    if (!subscription || subscription.topic !== fields.topic) return "unknown-subscription";
    if (subscription.runner.pending >= this.#settings.maxPending) return "overloaded";
    subscription.runner.push(new ReceivedMessage(fields, atMostOnce));
    return "accepted";
  }

  #record(id: string, address: string, topic: string, queue: string | undefined): Service {
    const metadata: Record<string, string> = {
      // HTTP, not gRPC: tsmicro health and the dashboard ask it over HTTP.
      protocol: "http",
      broker: "http",
      topic,
      path: subscriptionPath(id),
      pid: `${process.pid}`,
    };
    if (queue !== undefined) metadata["queue"] = queue;
    return {
      name: this.#settings.serviceName,
      version: "latest",
      metadata: {},
      endpoints: [],
      nodes: [{ id, address, metadata }],
    };
  }

  /**
   * Tries a queue group's members from a random one on, until one accepts: one member gets the
   * message, and the answer is whether one did. Members that failed lately come last.
   */
  async #postToOneOf(members: readonly BrokerEndpoint[], request: Outgoing, id: string): Promise<boolean> {
    const start = Math.floor(Math.random() * members.length);
    const rotated = members.map((_, i) => members[(start + i) % members.length]!);
    const now = Date.now();
    const failing = (member: BrokerEndpoint) => (this.#failing.get(member.url) ?? 0) > now;
    for (const member of [...rotated.filter((m) => !failing(m)), ...rotated.filter(failing)]) {
      if (await this.#post(member, request, id)) return true;
    }
    return false;
  }

  /**
   * POSTs once; a failure returns false, and is a warning the first time in a while for that
   * subscriber (a process that died stays registered until its TTL runs out), a debug line after.
   */
  async #post(endpoint: BrokerEndpoint, request: Outgoing, id: string): Promise<boolean> {
    let problem: string;
    try {
      const status = await this.#sender.post(endpoint.url, request.headers, request.body);
      if (status === 202) {
        this.#failing.delete(endpoint.url);
        return true;
      }
      problem = `it answered HTTP ${status}`;
      // A 404 means the subscription went away: read the registry afresh next time.
      if (status === 404) this.#directory.invalidate();
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
      this.#directory.invalidate();
    }
    const now = Date.now();
    const again = (this.#failing.get(endpoint.url) ?? 0) > now;
    this.#failing.set(endpoint.url, now + failingMs);
    // Never retried to the same subscriber (at most once); a queue group's next member gets its turn.
    const outcome =
      endpoint.queue === undefined
        ? "not retried (at-most-once)"
        : `not retried to it (at-most-once); the next member of queue ${endpoint.queue}, if any, gets the message`;
    const fields = { messageId: id, topic: endpoint.topic, queue: endpoint.queue, subscriber: endpoint.url };
    if (again) this.#logger.debug(fields, `broker: delivery to a subscriber failed again (${problem}); ${outcome}`);
    else
      this.#logger.warn(
        fields,
        `broker: delivery to a subscriber failed (${problem}); ${outcome}; for ${failingMs / 1000} s it is tried ` +
          "after its queue's other members and its further failures are logged at debug level",
      );
    return false;
  }
}
