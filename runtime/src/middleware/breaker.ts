import { createRequire } from "node:module";
import type CircuitBreaker from "opossum";
import type { MethodDefinition } from "../definition/definition.js";
import { errorReasonDetail, hasErrorReason, type ErrorDetail, retryDelayDetail } from "../errors/error-details.js";
import { failedService } from "../errors/failed-service.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, isTsmicroError, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { outsideTrace } from "../tracing/active-trace-fields.js";
import { isNotSentForDeadline, isSizeLimitFailure } from "../transport/call-errors.js";
import type { ClientCall, ClientHandler, ClientMiddleware } from "../transport/transport.js";
import { checkBreakerSettings, defaultBreakerSettings, type BreakerSettings } from "./breaker-settings.js";
import { breakerMetrics, observeBreaker } from "../metrics/breaker-metrics.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";

const require = createRequire(import.meta.url);

/** opossum (CommonJS), loaded when the first breaker is built: a service that calls no one never loads it. */
function opossum(): typeof CircuitBreaker {
  return require("opossum") as typeof CircuitBreaker;
}

/**
 * Answers a call instead of the callee: gets the call and why it could not
 * go through (the breaker-open error, or the callee's failure). Returns the
 * response (or a Promise of it) for unary and client-streaming methods, an
 * AsyncIterable of responses for server and bidi streaming; throws to fail.
 */
export type BreakerFallback = (call: ClientCall, error: unknown) => unknown;

/** Settings of one method, and its fallback. */
export interface BreakerMethodOptions extends Partial<BreakerSettings> {
  /** Used while the breaker is open, and when a call fails in a way that counts against the callee. */
  readonly fallback?: BreakerFallback;
}

/**
 * Options of breakerMiddleware: settings for every breaker, then per
 * service (by registry name), then per method; each level overrides the one
 * before it setting by setting.
 */
export interface BreakerOptions extends Partial<BreakerSettings> {
  /** By the registry name of the service called, such as `user`. */
  readonly perService?: Readonly<Record<string, Partial<BreakerSettings>>>;
  /**
   * By `"<registry name>/<Method>"` as in the proto (`"user/Login"`), or by
   * gRPC path (`"/user.v1.Users/Login"`) for that method whatever service name
   * serves it. Both may be given; `"user/Login"` wins over the path.
   */
  readonly perMethod?: Readonly<Record<string, BreakerMethodOptions>>;
  /** Where opening, half-opening and closing are logged. */
  readonly logger?: Logger;
  /** Where `tsmicro_breaker_state` and `tsmicro_breaker_transitions_total` are recorded; none when absent. */
  readonly metrics?: MetricsRegistry;
}

/** Where a breaker is: calls flow (closed), fail fast (open), or one probe is allowed (halfOpen). */
export type BreakerState = "closed" | "open" | "halfOpen";

/** One breaker's state and its counts over the rolling window, for tests and metrics. */
export interface BreakerStats {
  /** The registry name of the service called. */
  readonly service: string;
  /** The gRPC path of the method. */
  readonly method: string;
  readonly state: BreakerState;
  /** Calls made, including those failed fast. */
  readonly fires: number;
  /** Calls the callee answered, business errors (NOT_FOUND, …) included. */
  readonly successes: number;
  /** Calls that failed in a way that counts against the callee. */
  readonly failures: number;
  /** Calls failed fast while open. */
  readonly rejects: number;
  readonly settings: BreakerSettings;
}

/** The middleware, plus a look at its breakers. */
export interface BreakerMiddleware extends ClientMiddleware {
  /** The breaker of one method, or undefined before that method's first call. */
  stats(service: string, path: string): BreakerStats | undefined;
  /** Every breaker made so far. */
  list(): BreakerStats[];
  /** Stops the breakers' timers; calls after this go through unguarded. */
  stop(): void;
}

/** The `google.rpc.ErrorInfo` domain and reason of the breaker-open error. */
export const breakerOpenReason = { domain: "tsmicro.runtime", reason: "BREAKER_OPEN" } as const;

/** Codes that mean the callee is in trouble; every other code is an answer and never opens a breaker. */
export const breakerFailureCodes: ReadonlySet<number> = new Set<number>([
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.INTERNAL,
  Code.RESOURCE_EXHAUSTED,
  Code.UNKNOWN,
]);

/** True when `error` is the fail-fast error of an open breaker (here or on a service further down). */
export function isBreakerOpen(error: unknown): boolean {
  return hasErrorReason(error, breakerOpenReason.domain, breakerOpenReason.reason);
}

/**
 * True when `error` counts against the callee; an error without a gRPC code counts as UNKNOWN. A
 * message over a size limit is the caller's (or its answer's) size, not the callee in trouble.
 */
export function countsAsFailure(error: unknown): boolean {
  return !isTsmicroError(error) || (breakerFailureCodes.has(error.code) && !isSizeLimitFailure(error));
}

type Breaker = CircuitBreaker<[ClientHandler, ClientCall], unknown>;

interface Entry {
  readonly breaker: Breaker;
  readonly service: string;
  readonly method: MethodDefinition;
  readonly settings: BreakerSettings;
  readonly streaming: boolean;
  readonly openMessage: string;
  /** What a call beyond maxConcurrent fails with. */
  readonly fullMessage: string;
  /** The ErrorInfo of its open refusals. */
  readonly openReason: ErrorDetail;
  /** When it last opened (Date.now()): its refusals say when the next probe goes through. */
  openedAt: number;
}

/**
 * When an open breaker's next probe goes through, as RetryInfo: what is left of its reset timeout
 * (a second at least, once it is half-open with its probe in flight).
 */
function nextProbe(entry: Entry): ErrorDetail {
  return retryDelayDetail(Math.max(1_000, entry.openedAt + entry.settings.resetTimeoutMs - Date.now()));
}

/** A stream with its first message already received: that message decides the breaker's outcome. */
interface Primed {
  readonly iterator: AsyncIterator<unknown>;
  readonly first: IteratorResult<unknown> | undefined;
}

const settingKeys = Object.keys(defaultBreakerSettings) as (keyof BreakerSettings)[];

/**
 * Client middleware with one opossum circuit breaker per service and method,
 * made on the method's first call. Only failures that mean the callee is in
 * trouble (breakerFailureCodes, or any error without a code) count; business
 * errors and calls the caller cancelled count as answered, and every error
 * reaches the caller unchanged. An open breaker fails calls fast with
 * UNAVAILABLE (`isBreakerOpen`, not retryable), or answers with the method's
 * fallback; after `resetTimeoutMs` one probe goes through and its outcome
 * closes or reopens it (a probe answered with a business error closes it:
 * the callee answered). For server and bidi streams the outcome is decided
 * by the first message: an error before it counts, errors after it do not;
 * so a stream that may stay silent for long (a watch) would hold a half-open
 * breaker's probe, and is better given `enabled: false`.
 */
export function breakerMiddleware(options: BreakerOptions = {}): BreakerMiddleware {
  const global = checkBreakerSettings(options, "breakerMiddleware options", [
    "perService",
    "perMethod",
    "logger",
    "metrics",
  ]);
  const perService = options.perService ?? {};
  const perMethod = options.perMethod ?? {};
  for (const [name, settings] of Object.entries(perService)) checkBreakerSettings(settings, `perService[${name}]`);
  for (const [key, settings] of Object.entries(perMethod)) {
    const slash = key.indexOf("/");
    if (slash <= 0 && !/^\/[^/]+\/[^/]+$/.test(key)) {
      throw new SetupError(
        "TSM_ERR_FLAG",
        "breakerMiddleware perMethod key",
        JSON.stringify(key),
        'use "<service>/<Method>" (such as "user/Login") or a gRPC path (such as "/user.v1.Users/Login")',
      );
    }
    checkBreakerSettings(settings, `perMethod[${key}]`, ["fallback"]);
  }
  const logger = options.logger;
  const metrics = options.metrics ? breakerMetrics(options.metrics) : undefined;
  // Breakers are shared by every client the middleware wraps, so a service
  // called through two clients still has one breaker per method.
  const byService = new Map<string, Map<string, Entry | null>>();
  let stopped = false;

  function entryFor(service: string, method: MethodDefinition): Entry | null {
    let byPath = byService.get(service);
    if (byPath === undefined) {
      byPath = new Map();
      byService.set(service, byPath);
    }
    let entry = byPath.get(method.path);
    if (entry === undefined) {
      entry = create(service, method);
      byPath.set(method.path, entry);
    }
    return entry;
  }

  function create(service: string, method: MethodDefinition): Entry | null {
    const named = perMethod[`${service}/${method.name}`];
    const byPath = perMethod[method.path];
    const settings = merge(defaultBreakerSettings, global, perService[service], byPath, named);
    if (!settings.enabled) return null;
    if (Math.floor(settings.rollingCountTimeoutMs / settings.rollingCountBuckets) < 1) {
      throw new SetupError(
        "TSM_ERR_FLAG",
        `the breaker window of ${service} ${method.path}`,
        `${settings.rollingCountTimeoutMs} ms in ${settings.rollingCountBuckets} buckets`,
        "each bucket must span at least 1 ms",
      );
    }
    const fallback = named?.fallback ?? byPath?.fallback;
    const streaming = method.kind === "server_streaming" || method.kind === "bidi_streaming";
    const breaker: Breaker = new (opossum())(streaming ? openStream : send, {
      name: `${service} ${method.path}`,
      // Deadlines already bound every call and cancel it on the wire; opossum's
      // timer would only stop waiting and leave the call running (see timeoutMs).
      timeout: false,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      volumeThreshold: settings.volumeThreshold,
      resetTimeout: settings.resetTimeoutMs,
      rollingCountTimeout: settings.rollingCountTimeoutMs,
      rollingCountBuckets: settings.rollingCountBuckets,
      ...(settings.maxConcurrent > 0 ? { capacity: settings.maxConcurrent } : {}),
      // Latency percentiles and snapshot events cost on every call and timer tick; metrics middleware measures latency.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // opossum passes fire's arguments after the error.
      errorFilter: isAnswer as (error: unknown) => boolean,
    });
    const entry: Entry = {
      breaker,
      service,
      method,
      settings,
      streaming,
      openMessage:
        `circuit breaker open for ${service} ${method.path}: too many of its calls failed, so calls fail fast; ` +
        `one probe call is let through every ${settings.resetTimeoutMs} ms and closes it when it succeeds`,
      fullMessage:
        `${settings.maxConcurrent} calls of ${service} ${method.path} are in flight, the most its circuit breaker ` +
        "lets through at once (maxConcurrent): this one failed fast",
      openReason: errorReasonDetail(breakerOpenReason.reason, breakerOpenReason.domain, {
        service,
        method: method.path,
      }),
      openedAt: 0,
    };
    breaker.on("open", () => {
      entry.openedAt = Date.now();
    });
    // opossum calls this for counted failures and for calls it rejects while
    // open; registering it always (not only with a fallback) is what turns
    // opossum's own open error into ours without a catch on every call.
    breaker.fallback((_next: ClientHandler, call: ClientCall, error: unknown): Promise<unknown> => {
      const reported = isOpossumOpen(error)
        ? new TsmicroError(Code.UNAVAILABLE, entry.openMessage, {
            retryable: false,
            unprocessed: true,
            details: [entry.openReason, nextProbe(entry)],
          })
        : isOpossumFull(error)
          ? new TsmicroError(Code.RESOURCE_EXHAUSTED, entry.fullMessage, { retryable: false, unprocessed: true })
          : error;
      if (!fallback) return Promise.reject(reported);
      const answer = Promise.resolve(fallback(call, reported));
      return streaming ? answer.then(primeFallback) : answer;
    });
    if (metrics) observeBreaker(metrics, breaker, service, method.path);
    if (logger) {
      // `target`, not `service`: the logger's own `service` is the caller's name, and a line has one of each.
      const fields = { target: service, method: method.path };
      breaker.on("open", () =>
        logger.warn(
          { ...fields, state: "open", ...counts(breaker) },
          `circuit breaker for ${service} ${method.path} opened: failing fast for ${settings.resetTimeoutMs} ms`,
        ),
      );
      // Half-opening is opossum's timer, set in the context of the call that opened the breaker: not that call's line.
      breaker.on("halfOpen", () =>
        outsideTrace(() =>
          logger.info(
            { ...fields, state: "halfOpen" },
            `circuit breaker for ${service} ${method.path} half-open: letting one probe call through`,
          ),
        ),
      );
      breaker.on("close", () =>
        logger.info({ ...fields, state: "closed" }, `circuit breaker for ${service} ${method.path} closed`),
      );
    }
    return entry;
  }

  const middleware = (next: ClientHandler): ClientHandler =>
    function breakerCall(call: ClientCall) {
      if (stopped) return next(call);
      const entry = entryFor(call.service, call.method);
      if (entry === null) return next(call);
      const sent = entry.settings.timeoutMs > 0 ? withTimeout(call, entry.settings.timeoutMs) : call;
      return entry.streaming ? throughBreaker(entry.breaker, next, sent) : entry.breaker.fire(next, sent);
    };

  function entries(): Entry[] {
    return [...byService.values()].flatMap((byPath) => [...byPath.values()].filter((e): e is Entry => e !== null));
  }

  return Object.assign(middleware, {
    stats(service: string, path: string): BreakerStats | undefined {
      const entry = byService.get(service)?.get(path);
      return entry ? statsOf(entry) : undefined;
    },
    list: () => entries().map(statsOf),
    stop(): void {
      stopped = true;
      for (const entry of entries()) entry.breaker.shutdown();
      byService.clear();
    },
  });
}

/** Spreads the settings given at each level over the defaults, skipping unset ones. */
function merge(
  defaults: BreakerSettings,
  ...levels: readonly (Partial<BreakerSettings> | undefined)[]
): BreakerSettings {
  const merged: Record<string, unknown> = { ...defaults };
  for (const level of levels) {
    if (!level) continue;
    for (const key of settingKeys) if (level[key] !== undefined) merged[key] = level[key];
  }
  return merged as unknown as BreakerSettings;
}

function send(next: ClientHandler, call: ClientCall): Promise<unknown> {
  return next(call) as Promise<unknown>;
}

/** Opens a stream and waits for its first message (or its end), so the breaker sees whether the callee answered. */
async function openStream(next: ClientHandler, call: ClientCall): Promise<Primed> {
  const iterator = (next(call) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  return { iterator, first: await iterator.next() };
}

function primeFallback(answer: unknown): Primed {
  return { iterator: (answer as AsyncIterable<unknown>)[Symbol.asyncIterator](), first: undefined };
}

/** The stream as the caller sees it: lazy like every client stream, and closing the callee's when the caller stops early. */
async function* throughBreaker(breaker: Breaker, next: ClientHandler, call: ClientCall): AsyncGenerator<unknown> {
  const { iterator, first } = (await breaker.fire(next, call)) as Primed;
  let finished = false;
  try {
    for (let result = first ?? (await iterator.next()); !result.done; result = await iterator.next()) {
      yield result.value;
    }
    finished = true;
  } catch (error) {
    finished = true;
    throw error;
  } finally {
    if (!finished) await iterator.return?.();
  }
}

/** opossum's errorFilter: true for outcomes that say nothing against the callee. */
function isAnswer(error: unknown, _next: ClientHandler, call: ClientCall): boolean {
  // The caller gave up (its own signal): whatever error that produced is not the callee's.
  if (call.signal?.aborted) return true;
  // Nor is a call not sent because its deadline had passed (a handler's, past its served call's).
  if (isNotSentForDeadline(error)) return true;
  // The callee answered, passing on another service's failure: that service's callers' breakers count it.
  if (failedService(error) !== undefined) return true;
  return !countsAsFailure(error);
}

function isOpossumOpen(error: unknown): boolean {
  return opossumCode(error) === "EOPENBREAKER";
}

/** opossum's rejection of a call beyond its capacity (maxConcurrent). */
function isOpossumFull(error: unknown): boolean {
  return opossumCode(error) === "ESEMLOCKED";
}

function opossumCode(error: unknown): unknown {
  return error instanceof Error && opossum().isOurError(error) ? (error as Error & { code?: unknown }).code : undefined;
}

function withTimeout(call: ClientCall, timeoutMs: number): ClientCall {
  const deadline = new Date(Date.now() + timeoutMs);
  return call.deadline !== undefined && call.deadline <= deadline ? call : { ...call, deadline };
}

function counts(breaker: Breaker): { fires: number; successes: number; failures: number; rejects: number } {
  const { fires, successes, failures, rejects } = breaker.stats;
  return { fires, successes, failures, rejects };
}

function statsOf(entry: Entry): BreakerStats {
  const { breaker } = entry;
  return {
    service: entry.service,
    method: entry.method.path,
    state: breaker.opened ? "open" : breaker.halfOpen ? "halfOpen" : "closed",
    ...counts(breaker),
    settings: entry.settings,
  };
}
