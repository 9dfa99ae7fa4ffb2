import type { Logger } from "../logging/logger.js";
import { type ContextFreeRunner, contextFree } from "../platform/context-free.js";
import { sayAnswersAgain } from "../service/answers-again.js";

/**
 * What a PostgreSQL pool says of its outages, once each: the first failure of an outage, and the
 * first query answered after it (a query answered, not a connection handed out: the pool may hand
 * out an idle one the outage has not reached yet). Idle connections lost together (a server
 * restart drops every one of them) are one line, not one per pooled connection: the first loss is
 * logged with its reason, and how many more went with it once a query is answered again.
 *
 * Every pooled connection in use (see busy) is the cause of an outage only when the server answers:
 * a frozen server also holds every connection, its queries stuck, and its cause comes to light a
 * cancel request's wait later. The cause is said first; every connection in use only when the
 * server is seen answering, or after `busyVerdictMs` with neither.
 */
export class OutageLog {
  /** What the outage's line said: a cause, or every connection in use (a later cause is said too). */
  #failing: "cause" | "busy" | undefined;
  /** Every connection was in use: not said yet, until the server is seen answering or a cause is said. */
  #busy: { readonly reason: string; readonly message: string; readonly timer: NodeJS.Timeout } | undefined;
  /** Made with the log, outside any call: the busy line's timer runs in no call's context. */
  readonly #outsideCalls: ContextFreeRunner = contextFree();
  /** Idle connections lost since the last query answered, after the first (logged) one; undefined while none was. */
  #idleLost: number | undefined;
  #answers = 0;
  #recoveries = 0;

  constructor(
    private readonly where: string,
    private readonly logger: Logger | undefined,
    private readonly busyVerdictMs = 30_000,
  ) {}

  /** The database failed a query for a cause of its own (refused, not answering): said once an outage. */
  failing(reason: string, message: string): void {
    this.#forgetBusy();
    if (this.#failing !== "cause") this.logger?.warn({ database: this.where, reason }, message);
    this.#failing = "cause";
  }

  /**
   * A query waited for a connection while every pooled one was in use. Said once the server is seen
   * answering (queries that take long: the cause), not when a cause is said first (a server that
   * stopped answering, whose stuck queries hold the connections); after `busyVerdictMs` with
   * neither, it is said as it is.
   */
  busy(reason: string, message: string): void {
    if (this.#failing !== undefined || this.#busy !== undefined) return;
    const timer = this.#outsideCalls(() => setTimeout(() => this.#sayBusy(), this.busyVerdictMs));
    // A verdict still due must not keep a stopping service alive.
    timer.unref();
    this.#busy = { reason, message, timer };
  }

  #sayBusy(): void {
    const busy = this.#busy;
    if (busy === undefined) return;
    this.#forgetBusy();
    this.logger?.warn({ database: this.where, reason: busy.reason }, busy.message);
    this.#failing = "busy";
  }

  #forgetBusy(): void {
    clearTimeout(this.#busy?.timer);
    this.#busy = undefined;
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

  /** How many outages have ended (the database answered again): a wait that saw this change was an outage's. */
  get recoveries(): number {
    return this.#recoveries;
  }

  /** A query was answered. Called for every query: the common case counts it and checks two fields. */
  answered(): void {
    this.#answers++;
    if (this.#idleLost !== undefined) this.#idleAnswered(this.#idleLost);
    // The server answers: the connections were all in use with queries of its (said now), and now one came free.
    if (this.#busy !== undefined) this.#sayBusy();
    if (this.#failing === undefined) return;
    this.#failing = undefined;
    this.#recoveries++;
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
