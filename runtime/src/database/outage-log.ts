import type { Logger } from "../logging/logger.js";
import { sayAnswersAgain } from "../service/answers-again.js";

/**
 * What a PostgreSQL pool says of its outages, once each: the first failure of an outage, and the
 * first query answered after it (a query answered, not a connection handed out: the pool may hand
 * out an idle one the outage has not reached yet). Idle connections lost together (a server
 * restart drops every one of them) are one line, not one per pooled connection: the first loss is
 * logged with its reason, and how many more went with it once a query is answered again.
 */
export class OutageLog {
  #failing = false;
  /** Idle connections lost since the last query answered, after the first (logged) one; undefined while none was. */
  #idleLost: number | undefined;
  #answers = 0;

  constructor(
    private readonly where: string,
    private readonly logger: Logger | undefined,
  ) {}

  failing(reason: string, message: string): void {
    if (!this.#failing) this.logger?.warn({ database: this.where, reason }, message);
    this.#failing = true;
  }

  /** An idle pooled connection was lost (the server restarted or closed it); the next query makes a new one. */
  idleLost(reason: string): void {
    if (this.#idleLost !== undefined) {
      this.#idleLost++;
      return;
    }
    this.#idleLost = 0;
    this.logger?.warn({ database: this.where, reason }, "idle database connection lost");
  }

  /**
   * How many queries have been answered: a verdict on the server reached later than its cause (an
   * unanswered cancel request) is stale when this has changed since, for the server answered.
   */
  get answers(): number {
    return this.#answers;
  }

  /** A query was answered. Called for every query: the common case counts it and checks two fields. */
  answered(): void {
    this.#answers++;
    if (this.#idleLost !== undefined) this.#idleAnswered(this.#idleLost);
    if (!this.#failing) return;
    this.#failing = false;
    // Said first, so that the failed calls' summaries of the outage come before its end.
    sayAnswersAgain("postgres");
    this.logger?.info({ database: this.where }, "the database answers again");
  }

  #idleAnswered(others: number): void {
    this.#idleLost = undefined;
    if (others > 0)
      this.logger?.info(
        { database: this.where, connections: others + 1 },
        `${others + 1} idle database connections were lost together (the first logged); the pool makes new ones as queries need them`,
      );
  }
}
