/**
 * The NATS broker, through the official `nats` client, loaded only when this
 * broker starts. It reconnects on its own, for ever, after the server goes
 * away, but an unreachable server at start is a SetupError naming the address.
 * Core publishes made while disconnected are held by the broker (up to
 * `reconnectBufferBytes`, as nats.go's ReconnectBufSize) and sent when it
 * reconnects; past that limit a publish fails UNAVAILABLE. nats.js's own
 * buffer cannot do this: it is emptied on every reconnect attempt.
 *
 * Core NATS (the default) delivers AT MOST ONCE: queue groups are NATS queue
 * subscriptions, and a handler error is logged and the message dropped;
 * the server pushes, so messages a slow handler has not reached yet wait in
 * this process's memory.
 * With `jetstream` set, delivery is AT LEAST ONCE: topics are stored in a
 * stream (created or extended as needed), each queue group is a durable pull
 * consumer shared by its members, a handler error or nack brings the message
 * back after a backoff, and the attempt after `maxDeliver` moves it to a
 * dead-letter subject. Handlers must then tolerate a repeat (the process may
 * die between handling and ack); JetStream drops a repeated publish of the
 * same message id within its duplicate window, so publish retries are safe.
 */
import type { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { MsgHdrs, NatsConnection, Subscription as NatsSubscription } from "nats";
import { abortedBy } from "../errors/aborted.js";
import { nameFailedService } from "../errors/failed-service.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, codeName, TsmicroError } from "../errors/tsmicro-error.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { countedPublish, eventMetrics, type EventMetrics, type SubscriptionMetrics } from "../metrics/event-metrics.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";
import { messageOf } from "../transport/call-errors.js";
import { untilAborted } from "../platform/until-aborted.js";
import type {
  Broker,
  BrokerHandler,
  PublishOptions,
  SubscribeOptions,
  Subscription,
  UnsubscribeOptions,
} from "./broker.js";
import { checkStarted, checkTopic, concurrencyOf } from "./broker-checks.js";
import { brokerContext, HandlerRunner } from "./handler-runner.js";
import { durableName, JetStreamConsumer, type JetStreamContext, jetstreamFailure } from "./jetstream-consumer.js";
import { StreamSubjects } from "./jetstream-streams.js";
import { fromNatsHeaders, toNatsHeaders, type Nats } from "./nats-headers.js";
import { bytesText, eventsText, ReconnectBuffer, sizeOf } from "./reconnect-buffer.js";
import { atMostOnce, ReceivedMessage } from "./received-message.js";

/** JetStream settings: turning them on makes delivery at least once. */
export interface JetStreamOptions {
  /** The stream topics are added to when no stream stores them yet. Default `TSMICRO`. */
  readonly stream?: string;
  /** Makes plain subscribers durable under this name (one name per subscribing process); default: ephemeral. */
  readonly durable?: string;
  /** Deliveries of one message before it is dead-lettered. Default 5. */
  readonly maxDeliver?: number;
  /** Redelivery delays after each failed attempt; the last repeats. Default [1000, 5000, 30000]. */
  readonly backoffMs?: readonly number[];
  /** Where messages go after `maxDeliver` attempts: one subject for all, default `<topic>.dlq`. */
  readonly deadLetterSubject?: string;
  /** How long a handler may hold a message before the server redelivers it. Default 30000. */
  readonly ackWaitMs?: number;
  /** How long the stream keeps messages. Default 7 days. */
  readonly maxAgeMs?: number;
  /**
   * Whether a publish to a topic no stream stores adds it to `stream` (default true). The
   * gateway turns it off, so request paths cannot grow the stream: such a publish is then
   * NOT_FOUND; a subscription still adds its topic.
   */
  readonly publishAddsTopics?: boolean;
}

/** Options of the NATS broker. */
export interface NatsBrokerOptions {
  /** Server URLs, such as `nats://127.0.0.1:4222`. Default that one. */
  readonly servers?: readonly string[];
  readonly logger?: Logger;
  /** The connection's name, shown by the server's monitoring. */
  readonly name?: string;
  /** How long the first connection may take. Default 2000. */
  readonly connectTimeoutMs?: number;
  /** Pause between reconnect attempts. Default 250. */
  readonly reconnectWaitMs?: number;
  /** How long a JetStream publish keeps retrying through an outage before it fails. Default 10000. */
  readonly publishTimeoutMs?: number;
  /**
   * Core NATS: bytes of publishes (bodies, topics, headers) held while disconnected and sent on
   * reconnect; a publish past it fails UNAVAILABLE. Default 8 MiB, as nats.go's ReconnectBufSize.
   */
  readonly reconnectBufferBytes?: number;
  /** Set to use JetStream (at least once); unset for core NATS (at most once). */
  readonly jetstream?: JetStreamOptions;
  /** Where its event metrics go (`tsmicro_events_*`); none when unset. */
  readonly metrics?: MetricsRegistry;
}

/** Defaults of the NATS broker, applied here and nowhere else. */
export const natsBrokerDefaults = {
  servers: ["nats://127.0.0.1:4222"],
  connectTimeoutMs: 2_000,
  reconnectWaitMs: 250,
  publishTimeoutMs: 10_000,
  reconnectBufferBytes: 8 * 1024 * 1024,
  stream: "TSMICRO",
  maxDeliver: 5,
  backoffMs: [1_000, 5_000, 30_000],
  ackWaitMs: 30_000,
  maxAgeMs: 7 * 24 * 3_600_000,
} as const;

/** A broker on NATS: core NATS by default, JetStream when `options.jetstream` is set. */
export function createNatsBroker(options: NatsBrokerOptions = {}): Broker {
  return new NatsBroker(options);
}

interface Connected {
  readonly nats: Nats;
  readonly nc: NatsConnection;
  readonly jetstream: JetStreamContext | undefined;
}

/** What a subscription's unsubscribe does on this backend: drain, handlers in flight bounded by `graceMs` when given. */
type Stopper = (graceMs?: number) => Promise<void>;

class NatsBroker implements Broker {
  readonly kind = "nats";
  readonly #servers: readonly string[];
  readonly #logger: Logger;
  readonly #metrics: EventMetrics;
  #state: "new" | "started" | "stopped" = "new";
  #connected: Connected | undefined;
  /**
   * Lost the server and not yet back; `warned`: a core publish in this outage has said what becomes
   * of it; `full`: one has been refused for want of room in the reconnect buffer, and said so.
   */
  #outage: { warned: boolean; full: boolean } | undefined;
  /** Core publishes made during the outage, sent when the connection is back. */
  readonly #held: ReconnectBuffer<MsgHdrs>;
  /** A JetStream publish has failed since the last that went through: its warning is given once. */
  #publishFailing = false;
  #starting: Promise<void> | undefined;
  /** The context handlers run in, made at start: not that of a subscription's loop, which subscribe() starts. */
  #delivery: AsyncResource | undefined;
  readonly #subscriptions = new Set<Subscription["unsubscribe"]>();

  constructor(private readonly options: NatsBrokerOptions) {
    this.#servers = options.servers?.length ? options.servers : natsBrokerDefaults.servers;
    this.#logger = (options.logger ?? silentLogger()).child({ broker: "nats" });
    this.#metrics = eventMetrics(options.metrics);
    this.#held = new ReconnectBuffer(options.reconnectBufferBytes ?? natsBrokerDefaults.reconnectBufferBytes);
  }

  /** Connects once; a second call waits for the first. */
  start(): Promise<void> {
    this.#delivery ??= brokerContext(this.kind);
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const nats = await import("nats");
    const nc = await this.#connect(nats);
    this.#watchStatus(nc);
    try {
      this.#connected = { nats, nc, jetstream: this.options.jetstream ? await this.#jetstream(nats, nc) : undefined };
    } catch (error) {
      await nc.close();
      throw error;
    }
    // stop() during start() wins: the connection it could not see is closed here.
    if (this.#state === "stopped") await nc.close();
    else this.#state = "started";
  }

  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    await Promise.all([...this.#subscriptions].map((stop) => stop()));
    const dropped = this.#held.takeAll().length;
    if (dropped > 0)
      this.#logger.warn(
        { servers: this.#servers.join(","), dropped },
        `broker: stopped while disconnected from NATS: dropped the ${eventsText(dropped)} held for the reconnect ` +
          "(core NATS is at most once; --broker_jetstream on keeps events through an outage)",
      );
    const nc = this.#connected?.nc;
    if (!nc || nc.isClosed()) return;
    // Drain flushes buffered publishes; a server that is down would keep it waiting, so it gets a bounded time.
    const drained = nc.drain().catch(() => undefined);
    const timeout = new Promise((resolve) => setTimeout(resolve, 2_000).unref());
    await Promise.race([drained, timeout]);
    if (!nc.isClosed()) await nc.close();
  }

  async publish(topic: string, body: Uint8Array, options: PublishOptions = {}): Promise<void> {
    checkTopic(topic, "publish");
    checkStarted(this.#state, this.kind);
    await countedPublish(this.#metrics, topic, this.#publish(topic, body, options));
  }

  async #publish(topic: string, body: Uint8Array, options: PublishOptions): Promise<void> {
    const { nats, nc, jetstream } = this.#connected!;
    const id = options.id ?? randomUUID();
    const headers = toNatsHeaders(nats, options.headers ?? {}, id);
    if (!jetstream) {
      // From the disconnect status on (nats.js has noticed the loss): a publish nats.js took in the
      // same instant, before the status, is lost with the connection, as in nats.go.
      if (!this.#outage) nc.publish(topic, body, { headers });
      else this.#hold(this.#outage, topic, body, headers, sizeOf(topic, body, { ...options.headers, id }));
      return;
    }
    // A handler that publishes after its own work (a row stored) and passes this failure on must not
    // be sent again by its caller: naming NATS as the failed service says another node would fail alike.
    // A topic the server will not store is the publisher's to change, not NATS's failure.
    await this.#publishDurably(jetstream, topic, body, headers, id, options.signal).catch((error: unknown) => {
      throw isTopicRefusal(error) ? error : nameFailedService(error, "nats");
    });
  }

  async subscribe(topic: string, handler: BrokerHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    checkTopic(topic, "subscribe");
    const concurrency = concurrencyOf(options.concurrency);
    checkStarted(this.#state, this.kind);
    const { queue } = options;
    const jetstream = this.#connected!.jetstream;
    const onFailure = jetstream ? jetstreamFailure(jetstream.policy, topic) : () => "dropped (at-most-once)";
    const notStarted = jetstream
      ? "left unacknowledged: JetStream redelivers them after the ack wait"
      : "lost: core NATS is at most once (--broker_jetstream on keeps events)";
    const metrics = this.#metrics.subscription(topic, queue, jetstream !== undefined);
    const context = { topic, queue, onFailure, notStarted, delivery: this.#delivery! };
    const runner = new HandlerRunner(handler, concurrency, this.#logger, context, metrics);
    const stop = jetstream
      ? await this.#subscribeDurably(jetstream, topic, queue, runner, concurrency, metrics)
      : await this.#subscribeCore(topic, queue, runner);
    const unsubscribe = async (unsubscribeOptions?: UnsubscribeOptions) => {
      if (!this.#subscriptions.delete(unsubscribe)) return;
      await stop(unsubscribeOptions?.graceMs);
    };
    this.#subscriptions.add(unsubscribe);
    return { topic, queue, unsubscribe };
  }

  async #connect(nats: Nats): Promise<NatsConnection> {
    const timeoutMs = this.options.connectTimeoutMs ?? natsBrokerDefaults.connectTimeoutMs;
    try {
      return await nats.connect({
        servers: [...this.#servers],
        name: this.options.name,
        timeout: timeoutMs,
        // Fail loudly at start; once connected, keep reconnecting for ever.
        waitOnFirstConnect: false,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.options.reconnectWaitMs ?? natsBrokerDefaults.reconnectWaitMs,
      });
    } catch (error) {
      throw new SetupError(
        "TSM_ERR_BROKER_UNREACHABLE",
        "nats",
        this.#servers.join(","),
        natsConnectFailure(error, timeoutMs),
        "start nats-server there, or point --broker_address at a running one (nats://host:4222)",
      );
    }
  }

  async #jetstream(nats: Nats, nc: NatsConnection): Promise<JetStreamContext> {
    const options = this.options.jetstream ?? {};
    let jsm: Awaited<ReturnType<NatsConnection["jetstreamManager"]>>;
    try {
      jsm = await nc.jetstreamManager();
    } catch (error) {
      throw new SetupError(
        "TSM_ERR_BROKER_UNREACHABLE",
        "nats",
        this.#servers.join(","),
        `JetStream is not available: ${error instanceof Error ? error.message : String(error)}`,
        "start nats-server with -js (and a store directory, -sd DIR), or turn --broker_jetstream off",
      );
    }
    const deadLetter = options.deadLetterSubject;
    return {
      nats,
      js: nc.jetstream(),
      jsm,
      streams: new StreamSubjects(
        nats,
        jsm,
        options.stream ?? natsBrokerDefaults.stream,
        options.maxAgeMs ?? natsBrokerDefaults.maxAgeMs,
      ),
      policy: {
        maxDeliver: options.maxDeliver ?? natsBrokerDefaults.maxDeliver,
        backoffMs: options.backoffMs ?? natsBrokerDefaults.backoffMs,
        deadLetterSubject: (topic) => deadLetter ?? `${topic}.dlq`,
        ackWaitMs: options.ackWaitMs ?? natsBrokerDefaults.ackWaitMs,
      },
      logger: this.#logger,
    };
  }

  /** Holds a core publish made while disconnected, or fails it UNAVAILABLE when the reconnect buffer is full. */
  #hold(
    outage: { warned: boolean; full: boolean },
    topic: string,
    body: Uint8Array,
    headers: MsgHdrs,
    size: number,
  ): void {
    const servers = this.#servers.join(",");
    const limit = bytesText(this.#held.limitBytes);
    if (!this.#held.hold({ topic, body, headers }, size)) {
      const failure =
        `publish to ${topic} on NATS at ${servers} failed: disconnected, and the reconnect buffer ` +
        `(${limit}, ${eventsText(this.#held.count)} held) is full`;
      if (!outage.full)
        this.#logger.warn(
          { topic, servers },
          `broker: ${failure}; publishes get UNAVAILABLE until NATS is back (--broker_jetstream on stores events instead)`,
        );
      outage.full = true;
      throw nameFailedService(new TsmicroError(Code.UNAVAILABLE, failure), "nats");
    }
    if (outage.warned) return;
    outage.warned = true;
    this.#logger.warn(
      { topic, servers },
      `broker: publishing while disconnected from NATS: the broker holds these events (up to ${limit}) and ` +
        "sends them when it reconnects, to the subscribers connected by then (at most once); past that, " +
        "publishes fail UNAVAILABLE; --broker_jetstream on stores them instead",
    );
  }

  /** Sends what was held during the outage, in order, before any later publish (the caller clears the outage next). */
  #sendHeld(nc: NatsConnection): number {
    const held = this.#held.takeAll();
    try {
      for (const { topic, body, headers } of held) nc.publish(topic, body, { headers });
    } catch (error) {
      // Closed or draining under us (stop() racing the reconnect): what is left cannot go out.
      this.#logger.warn(
        { servers: this.#servers.join(","), err: error },
        "broker: sending the events held while disconnected from NATS failed; the rest are dropped (at most once)",
      );
    }
    return held.length;
  }

  /** Logs connection changes: a reconnecting client is worth a line, not silence. */
  #watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        const fields = { servers: this.#servers.join(","), ...statusFields(status) };
        if (status.type === "disconnect") {
          this.#outage ??= { warned: false, full: false };
          this.#logger.warn(fields, "broker: disconnected from NATS; reconnecting");
        } else if (status.type === "reconnect") {
          const sent = this.#sendHeld(nc);
          this.#outage = undefined;
          if (sent > 0)
            this.#logger.info({ ...fields, sent }, `broker: reconnected to NATS; sent the ${eventsText(sent)} held`);
          else this.#logger.info(fields, "broker: reconnected to NATS");
        } else if (status.type === "error") this.#logger.error(fields, "broker: NATS connection error");
      }
    })().catch(() => undefined);
  }

  async #subscribeCore(topic: string, queue: string | undefined, runner: HandlerRunner): Promise<Stopper> {
    const { nats, nc } = this.#connected!;
    const subscription: NatsSubscription = nc.subscribe(topic, queue === undefined ? {} : { queue });
    // The server knows the subscription once flushed: a publish right after subscribe() reaches it.
    await nc.flush();
    const loop = (async () => {
      for await (const message of subscription) {
        const { headers, id } = fromNatsHeaders(nats, message.headers);
        const fields = { topic: message.subject, body: message.data, headers, id, attempt: 1 };
        runner.push(new ReceivedMessage(fields, atMostOnce));
      }
    })();
    return async (graceMs) => {
      if (!nc.isClosed()) await subscription.drain().catch(() => subscription.unsubscribe());
      await loop.catch(() => undefined);
      await runner.stop(graceMs);
    };
  }

  async #subscribeDurably(
    jetstream: JetStreamContext,
    topic: string,
    queue: string | undefined,
    runner: HandlerRunner,
    concurrency: number,
    metrics: SubscriptionMetrics,
  ): Promise<Stopper> {
    const group = queue ?? this.options.jetstream?.durable;
    const consumer = new JetStreamConsumer(
      jetstream,
      topic,
      group === undefined ? undefined : durableName(group, topic),
      runner,
      concurrency,
      metrics,
    );
    await consumer.start();
    return (graceMs) => consumer.stop(graceMs);
  }

  /**
   * Publishes to the stream, retrying through an outage until
   * publishTimeoutMs or until `signal` aborts; the message id makes retries safe. An attempt
   * waiting for its confirmation is stopped waiting for at once when `signal` aborts: the
   * publish cannot be called back (nats.js may still send it when NATS answers again), so the
   * failure then says it may yet be stored.
   */
  async #publishDurably(
    jetstream: JetStreamContext,
    topic: string,
    body: Uint8Array,
    headers: MsgHdrs,
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const deadline = Date.now() + (this.options.publishTimeoutMs ?? natsBrokerDefaults.publishTimeoutMs);
    const at = `on NATS JetStream at ${this.#servers.join(",")}`;
    let sent = false;
    const abandoned = () =>
      this.#givenUp(
        topic,
        id,
        abortedBy(
          signal!.reason,
          sent
            ? `publish to ${topic} ${at} not confirmed, and it may yet be stored when NATS answers (its message id keeps it from being stored twice)`
            : `publish to ${topic} ${at} given up before it was stored`,
        ),
        sent,
      );
    for (;;) {
      if (signal?.aborted) throw abandoned();
      const attempt = (async () => {
        await (this.options.jetstream?.publishAddsTopics === false
          ? jetstream.streams.stored(topic)
          : jetstream.streams.ensure(topic));
        // Given up while NATS was asked for the stream: its caller was told the event is not sent.
        if (signal?.aborted) return;
        sent = true;
        // Bounded by what is left of publishTimeoutMs too, so the last attempt does not outlast it.
        const timeout = Math.max(1, Math.min(attemptTimeoutMs, deadline - Date.now()));
        await jetstream.js.publish(topic, body, { headers, msgID: id, timeout });
      })();
      try {
        await (signal ? untilAborted(attempt, signal, abandoned) : attempt);
        this.#publishFailing = false;
        return;
      } catch (error) {
        if (signal?.aborted) throw error;
        // Refused, not failed: asking again would be refused alike.
        if (isTopicRefusal(error)) throw error;
        if (Date.now() >= deadline || this.#state !== "started") {
          const failure = `publish to ${topic} ${at} failed: ${messageOf(error)}`;
          throw this.#givenUp(topic, id, new TsmicroError(Code.UNAVAILABLE, failure, { cause: error }), sent);
        }
        // No stream answered (a server restarted on an empty store: 503, no responders): made again next time.
        if (noStream(error)) jetstream.streams.forget(topic);
        this.#logger.debug({ topic, messageId: id, err: error }, "broker: JetStream publish failed; retrying");
        await sleep(250, undefined, signal ? { signal } : {}).catch(() => undefined);
      }
    }
  }

  /**
   * A JetStream publish that ends unconfirmed, its 10 s up or its caller's deadline or cancel:
   * the publishing service's log says so (once until a publish goes through again, so an outage
   * is not a line per event), whichever ended it: the event is not sent, or, once an attempt went
   * out (`sent`), may or may not be stored (nats.js sends what it holds when NATS answers again).
   */
  #givenUp(topic: string, id: string, failure: TsmicroError, sent: boolean): TsmicroError {
    if (!this.#publishFailing)
      this.#logger.warn(
        { topic, messageId: id, reason: failure.message },
        `broker: ${failure.message}; ${sent ? "the event may or may not be stored" : "the event is not sent"}, and the publisher gets ${codeName(failure.code)}`,
      );
    this.#publishFailing = true;
    return failure;
  }
}

/** How long one JetStream publish waits for the server's confirmation before it is tried again. */
const attemptTimeoutMs = 2_000;

/** A topic no stream stores (for a publisher that adds none) or one the server will not store: the publisher's to fix. */
function isTopicRefusal(error: unknown): boolean {
  return error instanceof TsmicroError && (error.code === Code.NOT_FOUND || error.code === Code.FAILED_PRECONDITION);
}

/** NATS's answer when no stream stores a published subject: 503, no responders. */
function noStream(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${(error as { code?: unknown }).code ?? ""}` : String(error);
  return /\b503\b|no responders/i.test(text);
}

/**
 * What a NATS status event says, in named fields: the server it concerns (disconnect,
 * reconnect), or the reason of a connection error, as the server gave it.
 */
function statusFields(status: { type: string; data: unknown }): { server: string } | { reason: string } {
  if (status.data instanceof Error) {
    const code = (status.data as { code?: unknown }).code;
    return {
      reason: typeof code === "string" && code !== "" ? `${code}: ${status.data.message}` : status.data.message,
    };
  }
  return { server: String(status.data) };
}

/**
 * Why the first connection to NATS failed, in words: the client says `CONNECTION_REFUSED` or
 * `TIMEOUT` (its error codes) or `unexpected response from server`, where a person wants to know
 * what is at that address.
 */
function natsConnectFailure(error: unknown, timeoutMs: number): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "CONNECTION_REFUSED") {
    // Its code for a connection closed before the handshake too (a proxy with nothing behind it).
    const cause = (error as { chainedError?: unknown }).chainedError;
    return cause instanceof Error && cause.message.includes("ECONNREFUSED")
      ? "connection refused: nothing listens there; is nats-server running?"
      : "the connection was closed before NATS answered; is nats-server running behind that address?";
  }
  if (code === "TIMEOUT") return `no answer within ${timeoutMs / 1000} s; is it a NATS server, and is it running?`;
  if (message === "unexpected response from server")
    return "what answers there is no NATS server; is --broker_address its client port, 4222 by default?";
  const unresolved = /getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (\S+)/.exec(message);
  if (unresolved) return `the name ${unresolved[1]} does not resolve`;
  return message;
}
