import type { CallContext } from "../definition/call.js";
import { failedService } from "../errors/failed-service.js";
import { Code, codeName, isTsmicroError, type TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { isBreakerOpen } from "../middleware/breaker.js";
import { type ContextFreeRunner, contextFree } from "../platform/context-free.js";
import { outsideTrace } from "../tracing/active-trace-fields.js";
import { onAnswersAgain } from "./answers-again.js";

/**
 * Codes a handler answers when the service failed its caller, not when the caller asked for
 * something wrong: a call answered with one is logged (see ServedFailureLog). The others say the
 * caller's request was refused (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
 * UNAUTHENTICATED, FAILED_PRECONDITION, OUT_OF_RANGE, ABORTED), that the caller went away
 * (CANCELLED), or that it asked for more than it may have (RESOURCE_EXHAUSTED: a quota, a rate
 * limit, a message over a size limit), which the metrics count per code.
 */
const serviceFailureCodes: ReadonlySet<number> = new Set<number>([
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.UNIMPLEMENTED,
  Code.INTERNAL,
  Code.UNKNOWN,
  Code.DATA_LOSS,
]);

/** Codes that say the service itself is broken, when the failure is its own rather than passed on. */
const brokenCodes: ReadonlySet<number> = new Set<number>([Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS]);

/** How long the repeats of a failure line are counted before one line sums them up (see ServedFailureLog). */
const repeatWindowMs = 10_000;

/** A failure line logged in full, and the calls that failed alike since, not logged one by one. */
interface Repeats {
  /** The method's path without its leading slash, the code's name, and the failed service if any. */
  readonly method: string;
  readonly code: string;
  readonly failedService: string | undefined;
  readonly level: "warn" | "error";
  /** Calls that failed alike since `since` (the full line, or the last summary). */
  calls: number;
  since: number;
  /** The message of the last of them: the summary says what they failed with now. */
  last: string;
  timer?: NodeJS.Timeout;
}

/**
 * Logs the served calls that failed their callers, once each is answered: `failed(context, error)`
 * with what its handler threw, undefined when it answered (after the call's deadline, else nothing
 * is logged). One line on the call's logger (which names the method and its trace) with the code,
 * the message and the service whose call failed when the handler passed on a failure of a call of
 * its own, so a service whose downstream is down says so where its operator looks, as the gateway
 * does. Levels: error for INTERNAL, UNKNOWN or DATA_LOSS of its own; debug for an open breaker's
 * refusal (the breaker logged its opening); warn otherwise. Nothing for a caller's mistake (see
 * serviceFailureCodes), for a call its caller cancelled or the server's stop cut (which says so
 * itself), nor for what is not a TsmicroError: the transport logs that, with its stack, as INTERNAL.
 *
 * An outage fails every call alike, at the full request rate: the first failure of a method with a
 * code and failed service is logged in full, the calls that fail alike in the next `windowMs` are
 * counted, and one line then says how many and what the last failed with; counting goes on while
 * they come, and a window with none ends it, so the next failure is logged in full again; so does
 * the failed service said to answer again (see sayAnswersAgain: the database's first answer after an
 * outage), whose next failure is a new outage's, not the last one's repeat. Lines still counted are
 * said at stop(). Its timers keep no process alive, and run in the context the
 * log was made in, not the first call's: a user's logger mixin reading its call (an
 * AsyncLocalStorage of its own) puts no call's fields on a summary.
 */
export class ServedFailureLog {
  readonly #repeats = new Map<string, Repeats>();
  #stopped = false;
  /** Made with the log, when the service is made: no call's context (see contextFree). */
  readonly #outsideCalls: ContextFreeRunner = contextFree();
  /**
   * Ends the listening to services said to answer again, which goes on only while calls are counted:
   * a channel's subscriber is kept, and with it this log, by the process, a service never stopped too.
   */
  #stopListening: (() => void) | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = repeatWindowMs,
  ) {}

  /** The served call `context` was answered, failing with `error` (undefined: it answered). */
  failed(context: CallContext, error: unknown): void {
    const failure = failureOf(context, error);
    if (failure === undefined || !serviceFailureCodes.has(failure.code)) return;
    const downstream = failedService(failure);
    const code = codeName(failure.code);
    const fields = { code, ...(downstream !== undefined ? { failedService: downstream } : {}), peer: context.peer };
    const method = context.method.path.slice(1);
    const line = `${method} answered ${code}${passedOnText(downstream, "its call")}: ${failure.message}`;
    // The breaker logged its opening: a line per refused call would flood the log in an outage.
    if (isBreakerOpen(failure)) {
      context.logger.debug(fields, line);
      return;
    }
    const key = `${context.method.path} ${code} ${downstream ?? ""}`;
    const repeats = this.#repeats.get(key);
    if (repeats) {
      repeats.calls++;
      repeats.last = failure.message;
      return;
    }
    const level = brokenCodes.has(failure.code) && downstream === undefined ? "error" : "warn";
    context.logger[level](fields, line);
    // Once stopped, no timer is left to say the repeats: each is logged.
    if (this.#stopped) return;
    const counting: Repeats = { method, code, failedService: downstream, level, calls: 0, since: Date.now(), last: "" };
    this.#repeats.set(key, counting);
    this.#stopListening ??= onAnswersAgain((service) => this.#answersAgain(service));
    this.#count(key, counting);
  }

  /** Says the repeats still counted, and ends the windows' timers. */
  stop(): void {
    this.#stopped = true;
    for (const repeats of this.#repeats.values()) {
      clearTimeout(repeats.timer);
      this.#summarise(repeats);
    }
    this.#repeats.clear();
    this.#counted();
  }

  /**
   * `service` answers again: the calls counted as failing it are said now, before the next failure,
   * which is logged in full (a count left running would fold the next outage's first failure into
   * the last one's summary, up to a window later).
   */
  #answersAgain(service: string): void {
    for (const [key, repeats] of this.#repeats) {
      if (repeats.failedService !== service) continue;
      clearTimeout(repeats.timer);
      this.#summarise(repeats);
      this.#repeats.delete(key);
    }
    this.#counted();
  }

  /** Stops listening to services said to answer again once no call is counted. */
  #counted(): void {
    if (this.#repeats.size > 0) return;
    this.#stopListening?.();
    this.#stopListening = undefined;
  }

  /** Counts `repeats` for a window, then says them and counts on, or forgets them after a window with none. */
  #count(key: string, repeats: Repeats): void {
    // Set in the context the log was made in: a timer keeps the context it was set in, and the first
    // was set by the first failed call, whose fields a logger's mixin would read on every summary.
    repeats.timer = this.#outsideCalls(() =>
      setTimeout(() => {
        if (repeats.calls === 0) {
          this.#repeats.delete(key);
          this.#counted();
          return;
        }
        this.#summarise(repeats);
        this.#count(key, repeats);
      }, this.windowMs),
    );
    // An outage's counting must not keep a stopping process alive.
    repeats.timer.unref();
  }

  /** One line for the calls `repeats` counted since the last, if any, outside the trace of the call that started them. */
  #summarise(repeats: Repeats): void {
    const { method, code, failedService: downstream, calls, last } = repeats;
    if (calls === 0) return;
    const now = Date.now();
    const seconds = Math.max(1, Math.round((now - repeats.since) / 1000));
    repeats.calls = 0;
    repeats.since = now;
    const fields = {
      method: `/${method}`,
      code,
      ...(downstream !== undefined ? { failedService: downstream } : {}),
      calls,
    };
    const line =
      `${method} answered ${code} to ${calls} more ${calls === 1 ? "call" : "calls"} in the last ${seconds} s` +
      `${passedOnText(downstream, "their calls")}; the last: ${last}`;
    // stop() may be called in a call's context (a handler stopping the service), as the timers once were.
    this.#outsideCalls(() => outsideTrace(() => this.logger[repeats.level](fields, line)));
  }
}

/** ", passing on the failure of WHOSE of SERVICE" when a downstream call failed, else nothing. */
function passedOnText(downstream: string | undefined, whose: string): string {
  return downstream !== undefined ? `, passing on the failure of ${whose} of ${downstream}` : "";
}

/**
 * The failure the caller of a served call got: the handler's, or once the call's signal aborted,
 * the deadline's (a handler's DEADLINE_EXCEEDED stays, naming the service it waited for); none
 * after its caller cancelled or the server's stop cut the call.
 */
function failureOf(context: CallContext, error: unknown): TsmicroError | undefined {
  const { signal } = context;
  if (!signal.aborted) return isTsmicroError(error) ? error : undefined;
  const reason: unknown = signal.reason;
  // A cancel's reason is CANCELLED, the server's stop's UNAVAILABLE: only a passed deadline is the service's.
  if (!isTsmicroError(reason) || reason.code !== Code.DEADLINE_EXCEEDED) return undefined;
  return isTsmicroError(error) && error.code === Code.DEADLINE_EXCEEDED ? error : reason;
}
