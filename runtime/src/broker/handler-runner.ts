import { AsyncResource } from "node:async_hooks";
import { Code, isTsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { unmeteredEvents, type SubscriptionMetrics } from "../metrics/event-metrics.js";
import { failureTraceFields } from "../tracing/active-trace-fields.js";
import type { BrokerHandler } from "./broker.js";
import type { ReceivedMessage } from "./received-message.js";

/** Where a runner's messages come from, for its log lines (the logger names the broker). */
export interface RunnerContext {
  readonly topic: string;
  readonly queue: string | undefined;
  /**
   * What a failed handler means for the message of this attempt on this backend, such as "dropped
   * (at-most-once)" or, on JetStream, when it comes back or that it is dead-lettered. `invalid`:
   * the handler refused the event as invalid (see isInvalidEvent), so it is not delivered again.
   */
  readonly onFailure: (attempt: number, invalid: boolean) => string;
  /** What becomes of messages a bounded stop does not start, such as "lost: the http broker is at most once". */
  readonly notStarted: string;
  /**
   * The async context its handlers run in: the one its broker was started in (brokerContext). A
   * handler is its subscriber's own work, whatever context took the message in: a publish on the
   * memory broker, or a receiving server or subscription loop first made by a subscribe() inside a
   * served call's handler. There it would find that call, and take its deadline, cancel and
   * passed-on metadata for its client calls and queries, for every later message. The trace
   * relation is the message's traceparent, which a traced handler's CONSUMER span reads.
   */
  readonly delivery: AsyncResource;
}

/** The context a broker's handlers run in (see RunnerContext.delivery): made as the broker starts. */
export function brokerContext(kind: string): AsyncResource {
  return new AsyncResource(`tsmicro.${kind}-broker`);
}

/**
 * Runs one subscription's handler on its messages, at most `concurrency` at
 * once and the rest in arrival order, and settles each message the handler
 * left unsettled: ack when it resolves, nack when it throws (logged with the
 * message id), and reject, never to be delivered again, when it throws that
 * the event is invalid (see isInvalidEvent): no retry can mend it. Every backend uses it, so handler semantics are the same on all,
 * and so are the event metrics it records: each event handled, how it ended
 * and how long it took, and each one delivered again.
 */
export class HandlerRunner {
  readonly #waiting: ReceivedMessage[] = [];
  #running = 0;
  #idle: Array<() => void> = [];
  #slotWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: BrokerHandler,
    private readonly concurrency: number,
    private readonly logger: Logger,
    private readonly context: RunnerContext,
    private readonly metrics: SubscriptionMetrics = unmeteredEvents.subscription(context.topic, context.queue),
  ) {}

  /** Messages waiting or being handled. */
  get pending(): number {
    return this.#waiting.length + this.#running;
  }

  /** Queues a message; it is handled as soon as a slot is free. */
  push(message: ReceivedMessage): void {
    if (message.attempt > 1) this.metrics.redelivered();
    this.#waiting.push(message);
    // The handlers started from here, and those their ends start, run in the subscriber's context.
    this.context.delivery.runInAsyncScope(() => this.#next());
  }

  /** Resolves once every message pushed so far has been handled and settled. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Ends the runner of a subscription that stopped taking messages. Without `graceMs`, as
   * drained(). With it, messages waiting are not started (one warning says how many and what
   * becomes of them), and handlers in flight get `graceMs` to finish; past that it resolves
   * without them (a warning says how many), as a server's stop cuts calls after its grace.
   */
  async stop(graceMs?: number): Promise<void> {
    if (graceMs === undefined) return this.drained();
    const fields = { topic: this.context.topic, queue: this.context.queue };
    const notStarted = this.#waiting.splice(0).length;
    if (notStarted > 0)
      this.logger.warn(
        { ...fields, notHandled: notStarted },
        `broker: the subscription stopped with ${notStarted} events received but not handled; they are ${this.context.notStarted}`,
      );
    if (this.#running === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const finished = await Promise.race([this.drained().then(() => true), graceOver]);
    clearTimeout(timer);
    if (!finished)
      this.logger.warn(
        { ...fields, running: this.#running, graceMs },
        `broker: ${this.#running} handlers still running after the ${graceMs} ms grace; the subscription ` +
          "stops without waiting for them (a service's grace is --shutdown_grace)",
      );
  }

  /**
   * Resolves once a pushed message would start at once: for backends that
   * pull, so they take no more from the server than the handler can work on
   * (pulled but waiting messages would run out their ack deadline).
   */
  slotFree(): Promise<void> {
    if (this.pending < this.concurrency) return Promise.resolve();
    return new Promise((resolve) => this.#slotWaiters.push(resolve));
  }

  #next(): void {
    while (this.#running < this.concurrency) {
      const message = this.#waiting.shift();
      if (!message) break;
      this.#running++;
      void this.#handle(message).finally(() => {
        this.#running--;
        this.#next();
        if (this.pending < this.concurrency) for (const resolve of this.#slotWaiters.splice(0)) resolve();
        if (this.pending === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
    }
  }

  async #handle(message: ReceivedMessage): Promise<void> {
    const fields = { topic: message.topic, queue: this.context.queue, messageId: message.id, attempt: message.attempt };
    const started = performance.now();
    try {
      await this.handler(message);
    } catch (error) {
      const invalid = isInvalidEvent(error);
      this.metrics.handled(invalid ? "invalid" : "error", (performance.now() - started) / 1000);
      this.logger.error(
        { ...fields, err: error, ...failureTraceFields(error) },
        `broker handler failed; message ${this.context.onFailure(message.attempt, invalid)}`,
      );
      const settled = invalid ? message.reject(error) : message.fail(error);
      await settled.catch((nackError: unknown) => this.#settleFailed(fields, nackError));
      return;
    }
    this.metrics.handled("ok", (performance.now() - started) / 1000);
    await message.ack().catch((ackError: unknown) => this.#settleFailed(fields, ackError));
  }

  #settleFailed(fields: object, error: unknown): void {
    this.logger.warn({ ...fields, err: error }, "settling a broker message failed");
  }
}

/**
 * Whether a handler's error refuses its event as invalid: the body did not decode (typed handlers
 * throw INVALID_ARGUMENT then) or the handler threw INVALID_ARGUMENT. Such an event fails the same
 * way on every delivery, so it is not retried; it counts as `invalid`. `retryable: false` is not
 * read here: it is false for most codes, and a client sets it on failures (a deadline, an open
 * breaker) that a later delivery may well get past.
 */
export function isInvalidEvent(error: unknown): boolean {
  return isTsmicroError(error) && error.code === Code.INVALID_ARGUMENT;
}
