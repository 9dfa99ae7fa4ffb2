import type { MethodKind } from "../definition/definition.js";
import { errorReasonDetail } from "../errors/error-details.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, isTsmicroError, TsmicroError } from "../errors/tsmicro-error.js";
import { failedCall, isAsyncIterable, streamsResponses } from "../transport/call-result.js";
import type { CallResult, ServerCall, ServerMiddleware } from "../transport/transport.js";
import { longestTimerMs } from "../platform/timer-delay.js";

/** How many calls one compartment runs at once and how many may wait for a slot. */
export interface BulkheadSettings {
  /** Calls running at once; Infinity (the default) is no limit. */
  readonly maxConcurrent: number;
  /** Calls waiting, first in first out, for a slot; beyond that a call is refused at once. Default 0. */
  readonly maxQueue: number;
}

/**
 * Options of bulkheadMiddleware: settings for the whole server, then per
 * method, each method's entry overriding the server's setting by setting.
 */
export interface BulkheadOptions extends Partial<BulkheadSettings> {
  /**
   * By gRPC path (`"/greeter.v1.Greeter/SayHello"`, `MethodDefinition.path`).
   * A method listed here gets a compartment of its own, so it can neither
   * starve nor be starved by the others, which share one.
   */
  readonly perMethod?: Readonly<Record<string, Partial<BulkheadSettings>>>;
}

/** What one compartment holds right now, for tests and metrics. */
export interface BulkheadStats {
  readonly running: number;
  readonly queued: number;
  readonly settings: BulkheadSettings;
}

/** The middleware, plus a look at its compartments. */
export interface BulkheadMiddleware extends ServerMiddleware {
  /** The compartment serving the method at gRPC path `path`. */
  stats(path: string): BulkheadStats;
}

/** The `google.rpc.ErrorInfo` domain and reason of a call refused because its compartment and queue were full. */
export const bulkheadFullReason = { domain: "tsmicro.runtime", reason: "BULKHEAD_FULL" } as const;

/** Defaults, applied here and nowhere else: no limit, and no queue once a limit is set. */
export const defaultBulkheadSettings: BulkheadSettings = { maxConcurrent: Infinity, maxQueue: 0 };

interface Waiter {
  readonly admit: () => void;
  readonly refuse: (error: TsmicroError) => void;
}

interface Compartment {
  readonly settings: BulkheadSettings;
  running: number;
  /** Insertion-ordered, so it is a FIFO queue that also drops a waiter from the middle in O(1). */
  readonly queue: Set<Waiter>;
}

/**
 * Limits how many calls run at once, with a bounded FIFO queue: at most
 * `maxConcurrent` run, up to `maxQueue` wait, and a call beyond both fails
 * at once with RESOURCE_EXHAUSTED (retryable: another node may have room).
 * A waiting call whose deadline passes or whose caller cancels leaves the
 * queue with DEADLINE_EXCEEDED or CANCELLED. A slot is freed when a unary
 * call settles or a stream ends, fails or is abandoned. Limits are per
 * server, shared by every service it serves.
 */
export function bulkheadMiddleware(options: BulkheadOptions = {}): BulkheadMiddleware {
  const base = checkBulkheadSettings({ ...defaultBulkheadSettings, ...defined(options) }, "bulkhead");
  const shared: Compartment = { settings: base, running: 0, queue: new Set() };
  const own = new Map<string, Compartment>();
  for (const [path, entry] of Object.entries(options.perMethod ?? {})) {
    checkMethodKey(path, "bulkhead.perMethod");
    const settings = checkBulkheadSettings({ ...base, ...defined(entry) }, `bulkhead.perMethod["${path}"]`);
    own.set(path, { settings, running: 0, queue: new Set() });
  }
  const compartmentOf = (path: string): Compartment => own.get(path) ?? shared;

  function release(compartment: Compartment): void {
    compartment.running--;
    // The slot passes straight to the first waiter, so a call arriving now cannot jump the queue.
    for (const waiter of compartment.queue) {
      if (compartment.running >= compartment.settings.maxConcurrent) break;
      compartment.queue.delete(waiter);
      compartment.running++;
      waiter.admit();
    }
  }

  /**
   * True when the call holds a slot now; a Promise when it queued, resolving
   * once it holds one and rejecting when it leaves the queue; an error when refused.
   */
  function acquire(compartment: Compartment, call: ServerCall): true | Promise<void> | TsmicroError {
    const { settings } = compartment;
    if (compartment.running < settings.maxConcurrent && compartment.queue.size === 0) {
      compartment.running++;
      return true;
    }
    const path = call.method.path;
    if (compartment.queue.size >= settings.maxQueue) {
      return new TsmicroError(
        Code.RESOURCE_EXHAUSTED,
        `too many concurrent calls to ${path}: ${settings.maxConcurrent} running, ${compartment.queue.size} queued`,
        { details: [errorReasonDetail(bulkheadFullReason.reason, bulkheadFullReason.domain, { method: path })] },
      );
    }
    const { signal, deadline } = call.context;
    const left = deadline === undefined ? Infinity : deadline.getTime() - Date.now();
    if (left <= 0) return expired(path);
    if (signal.aborted) return abortError(signal, path);
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        admit: () => {
          cleanup();
          resolve();
        },
        refuse: (error) => {
          compartment.queue.delete(waiter);
          cleanup();
          reject(error);
        },
      };
      const onAbort = () => waiter.refuse(abortError(signal, path));
      signal.addEventListener("abort", onAbort, { once: true });
      // The transport aborts the signal at the deadline too; the timer covers callers that set none,
      // unless it is further away than a timer can wait.
      if (left <= longestTimerMs) timer = setTimeout(() => waiter.refuse(expired(path)), left);
      compartment.queue.add(waiter);
    });
  }

  const middleware: ServerMiddleware = (next) => (call) => {
    const compartment = compartmentOf(call.method.path);
    if (compartment.settings.maxConcurrent === Infinity) return next(call);
    const slot = acquire(compartment, call);
    if (slot instanceof TsmicroError) return failedCall(call.method.kind, slot);
    const free = () => release(compartment);
    const run = () => afterCall(invoke(next, call), free);
    // A call with a free slot runs in this tick: the common case costs no extra promise.
    return slot === true ? run() : whenAdmitted(call.method.kind, slot, run, free);
  };
  return Object.assign(middleware, {
    stats(path: string): BulkheadStats {
      const c = compartmentOf(path);
      return { running: c.running, queued: c.queue.size, settings: c.settings };
    },
  });
}

/** Checks settings given in code, so a mistake is reported when the middleware is made, naming where. */
export function checkBulkheadSettings(settings: BulkheadSettings, where: string): BulkheadSettings {
  const { maxConcurrent: c, maxQueue: q } = settings;
  if (!(c === Infinity || (Number.isInteger(c) && c >= 1)))
    throw new SetupError(
      "TSM_ERR_FLAG",
      `${where}.maxConcurrent`,
      JSON.stringify(c),
      "expected a whole number >= 1, or Infinity for no limit",
    );
  if (!(q === Infinity || (Number.isInteger(q) && q >= 0)))
    throw new SetupError("TSM_ERR_FLAG", `${where}.maxQueue`, JSON.stringify(q), "expected a whole number >= 0");
  return settings;
}

/**
 * Refuses a per-method key that is not a gRPC path, so `"Greeter.SayHello"`
 * fails at start instead of silently limiting nothing.
 */
export function checkMethodKey(key: string, where: string): void {
  if (!/^\/[^/\s]+\/[^/\s]+$/.test(key)) {
    throw new SetupError(
      "TSM_ERR_FLAG",
      `${where} key`,
      JSON.stringify(key),
      "key methods by gRPC path, such as /greeter.v1.Greeter/SayHello (the method definition's path)",
    );
  }
}

/** The entries of `value` that are not undefined, so an absent option does not erase a default when spread. */
export function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Calls `next`, turning a synchronous throw into a failed result so the caller's bookkeeping still runs. */
export function invoke(next: (call: ServerCall) => CallResult, call: ServerCall): CallResult {
  try {
    return next(call);
  } catch (error) {
    return failedCall(call.method.kind, error);
  }
}

/**
 * Runs `run` once `admitted` resolves, keeping the result's shape; a refusal
 * fails the call. A stream abandoned before it asked for its first response
 * never runs: `abandon` gives its slot back once admitted.
 */
export function whenAdmitted(
  kind: MethodKind,
  admitted: Promise<void>,
  run: () => CallResult,
  abandon: () => void,
): CallResult {
  if (!streamsResponses(kind)) return admitted.then(() => run() as Promise<unknown>);
  return {
    [Symbol.asyncIterator]() {
      let inner: AsyncIterator<unknown> | undefined;
      let started = false;
      let closed = false;
      return {
        async next() {
          if (closed) return { done: true, value: undefined };
          if (!inner) {
            started = true;
            await admitted;
            inner = (run() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
            // Abandoned while it waited for a slot: end the stream it got, which frees the slot.
            if (closed) {
              await inner.return?.();
              return { done: true, value: undefined };
            }
          }
          return inner.next();
        },
        async return(value?: unknown) {
          if (closed) return { done: true, value };
          closed = true;
          if (!started) admitted.then(abandon, () => {});
          if (!inner) return { done: true, value };
          return (await inner.return?.(value)) ?? { done: true, value };
        },
      };
    },
  };
}

/**
 * Calls `done` exactly once when the call is over: a Promise settles, or a
 * stream ends, throws or is abandoned (its iterator returned). `done` gets
 * the error, if the call failed.
 */
export function afterCall(result: CallResult, done: (error?: unknown) => void): CallResult {
  if (!isAsyncIterable(result)) {
    return Promise.resolve(result).then(
      (value) => {
        done();
        return value;
      },
      (error: unknown) => {
        done(error);
        throw error;
      },
    );
  }
  return {
    [Symbol.asyncIterator]() {
      let finished = false;
      const finish = (error?: unknown) => {
        if (finished) return;
        finished = true;
        done(error);
      };
      let inner: AsyncIterator<unknown>;
      try {
        inner = result[Symbol.asyncIterator]();
      } catch (error) {
        finish(error);
        throw error;
      }
      return {
        async next() {
          try {
            const step = await inner.next();
            if (step.done) finish();
            return step;
          } catch (error) {
            finish(error);
            throw error;
          }
        },
        async return(value?: unknown) {
          try {
            return (await inner.return?.(value)) ?? { done: true, value };
          } finally {
            finish();
          }
        },
      };
    },
  };
}

function expired(path: string): TsmicroError {
  return new TsmicroError(Code.DEADLINE_EXCEEDED, `deadline exceeded waiting for a slot to serve ${path}`);
}

/** The transport aborts with a TsmicroError saying whether the caller cancelled or the deadline passed; keep it. */
function abortError(signal: AbortSignal, path: string): TsmicroError {
  const reason: unknown = signal.reason;
  if (isTsmicroError(reason)) return reason;
  return new TsmicroError(Code.CANCELLED, `the caller cancelled ${path} while it waited for a slot`);
}
