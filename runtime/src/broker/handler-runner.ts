import type { Logger } from "../logging/logger.js";
import { failureTraceFields } from "../tracing/active-trace-fields.js";
import type { BrokerHandler } from "./broker.js";
import type { ReceivedMessage } from "./received-message.js";

/** Where a runner's messages come from, for its log lines (the logger names the broker). */
export interface RunnerContext {
  readonly topic: string;
  readonly queue: string | undefined;
  /** What a failed handler means for the message on this backend, such as "dropped (at-most-once)". */
  readonly onFailure: string;
}

/**
 * Runs one subscription's handler on its messages, at most `concurrency` at
 * once and the rest in arrival order, and settles each message the handler
 * left unsettled: ack when it resolves, nack when it throws (logged with the
 * message id). Every backend uses it, so handler semantics are the same on all.
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
  ) {}

  /** Messages waiting or being handled. */
  get pending(): number {
    return this.#waiting.length + this.#running;
  }

  /** Queues a message; it is handled as soon as a slot is free. */
  push(message: ReceivedMessage): void {
    this.#waiting.push(message);
    this.#next();
  }

  /** Resolves once every message pushed so far has been handled and settled. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
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
    try {
      await this.handler(message);
    } catch (error) {
      this.logger.error(
        { ...fields, err: error, ...failureTraceFields(error) },
        `broker handler failed; message ${this.context.onFailure}`,
      );
      await message.fail(error).catch((nackError: unknown) => this.#settleFailed(fields, nackError));
      return;
    }
    await message.ack().catch((ackError: unknown) => this.#settleFailed(fields, ackError));
  }

  #settleFailed(fields: object, error: unknown): void {
    this.logger.warn({ ...fields, err: error }, "settling a broker message failed");
  }
}
