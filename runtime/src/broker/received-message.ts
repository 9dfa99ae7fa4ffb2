import type { BrokerMessage } from "./broker.js";

/** How a backend settles one message: acknowledge it, ask for it again, or give it up. */
export interface Settlement {
  ack(): Promise<void>;
  /** `failure` is the handler's error when the nack is the automatic one after a throw. */
  nack(delayMs: number | undefined, failure?: unknown): Promise<void>;
  /**
   * The handler refused the message as invalid (`failure`): no delivery can succeed, so it is not
   * delivered again, and goes to the dead letters at once where the backend keeps them.
   */
  reject(failure: unknown): Promise<void>;
}

/** Settlement of backends that deliver at most once: there is nothing to acknowledge and nothing to redeliver. */
export const atMostOnce: Settlement = { ack: async () => {}, nack: async () => {}, reject: async () => {} };

/** A message's own fields, as a backend read them off the wire. */
export interface MessageFields {
  readonly topic: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly id: string;
  readonly attempt: number;
}

/**
 * A received message that is settled at most once: whichever of ack and
 * nack comes first wins, so the handler may settle it itself and the
 * automatic settlement after the handler then does nothing.
 */
export class ReceivedMessage implements BrokerMessage {
  readonly topic: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly id: string;
  readonly attempt: number;
  #settled = false;

  constructor(
    fields: MessageFields,
    private readonly settlement: Settlement,
  ) {
    this.topic = fields.topic;
    this.body = fields.body;
    this.headers = fields.headers;
    this.id = fields.id;
    this.attempt = fields.attempt;
  }

  /** Whether ack or nack has been called. */
  get settled(): boolean {
    return this.#settled;
  }

  async ack(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.settlement.ack();
  }

  async nack(delayMs?: number): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.settlement.nack(delayMs);
  }

  /** The automatic nack after the handler threw `error` (unless the handler settled the message itself). */
  async fail(error: unknown): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.settlement.nack(undefined, error);
  }

  /** The automatic settlement after the handler refused the message as invalid: never delivered again. */
  async reject(error: unknown): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.settlement.reject(error);
  }
}
