/**
 * Publish / subscribe, after go-micro's broker: a publisher sends a body to a
 * topic; every plain subscriber of the topic gets it (fan-out), and each
 * queue group gets it once, on one of its members. Implementations: memory
 * (one process, tests), http (the embedded default: processes found through
 * the registry, delivered over HTTP on loopback, at most once) and nats
 * (core NATS at most once; JetStream at least once with redelivery and a
 * dead-letter subject).
 */

/** One received message. */
export interface BrokerMessage {
  readonly topic: string;
  readonly body: Uint8Array;
  /** As published: trace context (`traceparent`…) and metadata, passed through untouched. */
  readonly headers: Readonly<Record<string, string>>;
  /** The publisher's id for the message (random unless it chose one): what logs and dead letters name. */
  readonly id: string;
  /** 1 on first delivery; higher when a backend with redelivery delivers it again. */
  readonly attempt: number;
  /** Settles the message as handled; done for the handler when it resolves. */
  ack(): Promise<void>;
  /**
   * Asks for redelivery after `delayMs` (the backend's backoff when omitted);
   * done for the handler when it throws, unless it throws INVALID_ARGUMENT (see
   * isInvalidEvent: dead-lettered, never redelivered). Backends without redelivery drop the message.
   */
  nack(delayMs?: number): Promise<void>;
}

/**
 * Handles one message: resolve to ack it, throw to nack it (the error is logged with the message id);
 * throw INVALID_ARGUMENT to refuse it for good.
 */
export type BrokerHandler = (message: BrokerMessage) => Promise<void> | void;

/** Options of one publish. */
export interface PublishOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** The message id; a random UUID by default. JetStream drops a second publish with the same id (in its duplicate window). */
  readonly id?: string;
  /**
   * A publish that waits (JetStream through an outage) gives up when this
   * aborts. A typed publisher in a handler passes the call's signal: the
   * publish ends with the call's deadline or cancel.
   */
  readonly signal?: AbortSignal;
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /** A queue group: each message goes to one member of the group instead of to every subscriber. */
  readonly queue?: string;
  /** How many messages the handler works on at once. Default 1: one at a time, in arrival order. */
  readonly concurrency?: number;
}

/** Options of ending a subscription. */
export interface UnsubscribeOptions {
  /**
   * A bound, as a service's `--shutdown_grace`: messages received but not yet started are not
   * started (a warning says how many, and what becomes of them), and handlers in flight get this
   * long to finish before unsubscribe returns without them. Default: no bound, every message
   * received so far is handled first.
   */
  readonly graceMs?: number;
}

/** A live subscription. */
export interface Subscription {
  readonly topic: string;
  readonly queue: string | undefined;
  /** Stops delivery and waits for the handlers of the messages received (see UnsubscribeOptions). */
  unsubscribe(options?: UnsubscribeOptions): Promise<void>;
}

/**
 * Publish / subscribe. Whoever creates a broker owns it: `start()` before
 * use, `stop()` drains every subscription (waits for handlers in flight)
 * and closes connections.
 */
export interface Broker {
  /** `memory`, `http` or `nats`. */
  readonly kind: string;
  /** Connects (and checks the backend is reachable); an unreachable backend rejects with a SetupError naming the address. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Sends `body` to the topic's subscribers; resolves once the backend took it (see each backend for what that promises). */
  publish(topic: string, body: Uint8Array, options?: PublishOptions): Promise<void>;
  subscribe(topic: string, handler: BrokerHandler, options?: SubscribeOptions): Promise<Subscription>;
}

/** Header names the brokers use on the wire for their own fields; never among a message's `headers`. */
export const brokerHeaders = { id: "Micro-Id", topic: "Micro-Topic" } as const;
