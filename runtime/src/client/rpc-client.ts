import type { CallContext, CallOptions, Caller, Metadata } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import { setTimeout as sleep } from "node:timers/promises";
import { abortedBy } from "../errors/aborted.js";
import { answerReserveMs, failedService, nameFailedService } from "../errors/failed-service.js";
import { Code, copyOfError, isTsmicroError, TsmicroError } from "../errors/tsmicro-error.js";
import type { Node } from "../registry/registry.js";
import type { Selector } from "../selector/selector.js";
import { type AttemptTimeout, type AttemptTimeouts, attemptTimeoutMs, LatencyEstimate } from "./attempt-timeout.js";
import { optionOf } from "./method-options.js";
import { invalidTimeout, refusedCall } from "./call-timeout.js";
import { HedgeBudget, type HedgeWire, type HedgingPolicies, hedgedCall, hedgingOf } from "./hedging.js";
import { notSentWording, throwIfLate } from "../transport/call-errors.js";
import {
  type CallResult,
  chain,
  type ClientCall,
  type ClientHandler,
  type ClientMiddleware,
  type ClientTransport,
} from "../transport/transport.js";

/** Options of the clients of a service, from `--client_*` flags. */
export interface RpcClientOptions {
  readonly selector: Selector;
  readonly transport: ClientTransport;
  /** Extra attempts on another node for retryable failures. Default 1, as go-micro's `--client_retries`. */
  readonly retries?: number;
  /** Per-call timeout of unary calls when the caller sets none. Default 5 s, as go-micro's `--client_request_timeout`. */
  readonly requestTimeoutMs?: number;
  /** Timeout of streaming calls when the caller sets none (`--client_stream_timeout`). Default none: watches live for hours. */
  readonly streamTimeoutMs?: number;
  /** Client middleware; in `[a, b]` a wraps b, and both wrap the retries. */
  readonly middleware?: readonly ClientMiddleware[];
  /** The call being served right now, if any: its deadline and cancellation pass downstream. */
  readonly currentCall?: () => CallContext | undefined;
  /**
   * Whether the served call `call` has been answered: calls made after that, by work its handler
   * left running, keep its passed-on metadata but not its deadline nor its cancel. Default: never.
   */
  readonly answered?: (call: CallContext) => boolean;
  /** Milliseconds to wait before retry number `attempt` (1-based). Default: none before the first, then jittered exponential. */
  readonly backoff?: (attempt: number) => number;
  /**
   * How long one attempt of an idempotent unary call (proto
   * `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT) may go unanswered
   * before it is abandoned and the call tried on another node, within the
   * call's deadline and `retries` (`--client_attempt_timeout`): milliseconds,
   * `auto` (the default: learnt from the method's latency) or `none`.
   * Other calls have no attempt timeout: a slow answer is never raced by a second request.
   */
  readonly attemptTimeout?: AttemptTimeout;
  /** Attempt timeouts of single methods, over `attemptTimeout` (see checkAttemptTimeouts). */
  readonly attemptTimeouts?: AttemptTimeouts;
  /** Hedged methods (idempotent unary ones only): their calls race on several nodes instead of retrying. */
  readonly hedging?: HedgingPolicies;
}

/**
 * A failure as the caller of a method with side effects gets it: one that
 * may have been applied (the request may have reached the server, and no
 * answer came) says so in its message, since it was not retried; any other
 * failure comes as it is.
 */
function withOutcome(error: unknown, call: ClientCall, node: Node): unknown {
  if (call.method.idempotency !== "unknown" || !isTsmicroError(error) || !error.mayHaveBeenApplied) return error;
  return notSentAgain(
    error,
    `${call.method.path} may have been applied on ${node.address}: ` +
      "it has side effects, so it was not retried; mark it idempotent in the proto to allow retries",
  );
}

/**
 * A server stream that broke off after delivering messages, whatever its method: never sent again
 * (the caller would see those messages twice), which its message says, rather than
 * withOutcome's advice to mark the method idempotent, which would not change that.
 */
function brokenOff(error: unknown, call: ClientCall, node: Node): unknown {
  // The server's own answer (a business error) is no breakage: it comes as it is.
  if (!isTsmicroError(error) || !(error.retryable || error.mayHaveBeenApplied)) return error;
  return notSentAgain(
    error,
    `${call.method.path} broke off on ${node.address} after its first messages: ` +
      "a stream is not sent again once it has delivered some",
  );
}

/** `error` as its caller gets it when it was not sent again: not retryable, with why in its message. */
function notSentAgain(error: TsmicroError, why: string): TsmicroError {
  return new TsmicroError(error.code, `${error.message} (${why})`, {
    cause: error,
    details: error.details,
    metadata: error.metadata,
    retryable: false,
    mayHaveBeenApplied: error.mayHaveBeenApplied,
  });
}

/** The flag that sets a call's timeout when the caller gives none, by the method's kind. */
const timeoutFlags: Readonly<Record<MethodDefinition["kind"], string>> = {
  unary: "--client_request_timeout",
  server_streaming: "--client_stream_timeout",
  client_streaming: "--client_stream_timeout",
  bidi_streaming: "--client_stream_timeout",
};

/** A transport's or server's wording of a passed deadline, which names neither the service nor what set it. */
const transportDeadline = /^(?:Deadline exceeded: \S+ got no answer in time|deadline exceeded serving \S+)/;

/**
 * A passed deadline as its caller gets it: naming the service called and
 * what set the deadline (`--client_request_timeout`, the call's own
 * timeoutMs, or the call being served), as `tsmicro call` words it, and
 * whether the call was sent at all. A failure passed on from further down,
 * which names its own service, and any other failure come as they are.
 */
function explainedDeadline(error: unknown, service: string, deadlineSetBy: string | undefined): unknown {
  if (deadlineSetBy === undefined || !isTsmicroError(error) || error.code !== Code.DEADLINE_EXCEEDED) return error;
  if (failedService(error) !== undefined) return error;
  if (notSentWording.test(error.message))
    return copyOfError(error, {
      message: error.message.replace(
        notSentWording,
        `no time left to call ${service} ${deadlineSetBy}: $1 was not sent`,
      ),
    });
  if (!transportDeadline.test(error.message)) return error;
  return copyOfError(error, {
    message: error.message.replace(transportDeadline, `no answer from ${service} ${deadlineSetBy}`),
  });
}

/** No node tried yet. */
const noneTried: ReadonlySet<string> = new Set();

/** `result`, its failure naming the service as the one whose call failed (`name` throws it so named). */
function namingFailures(result: CallResult, name: (error: unknown) => never): CallResult {
  if (!(Symbol.asyncIterator in result)) return result.then(undefined, name);
  return (async function* () {
    try {
      yield* result;
    } catch (error) {
      name(error);
    }
  })();
}

/**
 * Whether a key of the call being served travels on to the calls its
 * handler makes: the request id (which the gateway forwards from
 * `X-Request-Id`), and Kratos's `x-md-global-` keys, the way a caller marks
 * metadata for every hop. Other keys, credentials among them, stay where
 * they were sent unless a handler passes them on itself.
 */
function passesOn(key: string): boolean {
  return key === "x-request-id" || key.startsWith("x-md-global-");
}

/** The metadata a call sends: its own, plus the keys of the call being served that pass on and it does not set. */
function passedOn(parent: Metadata | undefined, own: Metadata): Metadata {
  let metadata = own;
  if (parent === undefined) return metadata;
  for (const key in parent) {
    if (!passesOn(key) || key in own) continue;
    if (metadata === own) metadata = { ...own };
    metadata[key] = parent[key]!;
  }
  return metadata;
}

/**
 * The served call whose deadline and cancel bound a call made under it: none once it has been
 * answered. What its handler left running then (a job whose id it answered, an audit write) is
 * waited for by no one, and would otherwise fail DEADLINE_EXCEEDED as soon as the answered call's
 * deadline passed. As Go's `context.WithoutCancel`, such a call still carries the served call's
 * passed-on metadata (request id, `x-md-global-` keys): the ids and claims the work acts for are
 * still the caller's. An explicit `parent` in the call's options bounds it whatever its state.
 */
function boundingCall(
  served: CallContext | undefined,
  answered: ((call: CallContext) => boolean) | undefined,
): CallContext | undefined {
  return served !== undefined && answered?.(served) ? undefined : served;
}

/** No wait before the first retry (it goes to another node), then full jitter on 25 ms · 2^n, capped at 1 s. */
export function defaultBackoff(attempt: number): number {
  return attempt <= 1 ? 0 : Math.random() * Math.min(1_000, 25 * 2 ** attempt);
}

/**
 * The caller behind typed clients of one registered service: it resolves
 * each call's deadline (its own timeout, never beyond the parent call's),
 * runs the middleware, picks nodes through the selector and retries
 * retryable failures on other nodes while the deadline allows.
 */
export function createRpcCaller(service: string, options: RpcClientOptions): Caller {
  const { selector, transport } = options;
  const retries = options.retries ?? 1;
  const timeoutMs = options.requestTimeoutMs ?? 5_000;
  const backoff = options.backoff ?? defaultBackoff;
  const attemptTimeout = options.attemptTimeout ?? "auto";
  const latencies = new WeakMap<MethodDefinition, LatencyEstimate>();
  const budget = new HedgeBudget();
  const sendThrough = chain(options.middleware ?? [], ((call) => sendWithRetries(call)) as ClientHandler);
  // Every failure the caller sees names this service, for the caller to pass on (see failedServiceKey).
  const name = (error: unknown): never => {
    throw nameFailedService(error, service);
  };
  // A deadline's failure says what set the deadline, the way tsmicro call says it.
  const send = ([call, deadlineSetBy]: readonly [ClientCall, string | undefined]) =>
    namingFailures(sendThrough(call), (error) => name(explainedDeadline(error, service, deadlineSetBy)));

  /** The call to send, and what set its deadline (as its failure names it), if it has one. */
  function resolve(
    method: MethodDefinition,
    request: unknown,
    callOptions: CallOptions | undefined,
  ): readonly [ClientCall, string | undefined] {
    const served = callOptions?.parent ?? options.currentCall?.();
    const parent = callOptions?.parent ?? boundingCall(served, options.answered);
    // Infinity (or no stream timeout) means no deadline of its own; a parent's still applies.
    const timeout = callOptions?.timeoutMs ?? (method.kind === "unary" ? timeoutMs : options.streamTimeoutMs);
    let deadline = timeout === undefined || timeout === Infinity ? undefined : new Date(Date.now() + timeout);
    if (parent?.deadline && (deadline === undefined || parent.deadline < deadline)) deadline = parent.deadline;
    const own = callOptions?.signal;
    const inherited = parent?.signal;
    const signal = own && inherited ? AbortSignal.any([own, inherited]) : (own ?? inherited);
    const metadata = passedOn(served?.metadata, callOptions?.metadata ?? {});
    const setting = callOptions?.timeoutMs !== undefined ? "the call's timeoutMs" : timeoutFlags[method.kind];
    const deadlineSetBy =
      deadline === undefined
        ? undefined
        : deadline === parent?.deadline
          ? `before the deadline of the call being served (${parent.method.path})`
          : `within ${timeout} ms (${setting})`;
    const call: ClientCall = {
      service,
      method,
      request,
      metadata,
      deadline,
      signal,
      onHeader: callOptions?.onHeader,
      onTrailer: callOptions?.onTrailer,
      compression: callOptions?.compression,
      waitForReady: callOptions?.waitForReady,
    };
    return [call, deadlineSetBy];
  }

  /**
   * A node for the call: at once, with no promise to wait for, while the service's nodes are
   * cached (most calls); throws or rejects UNAVAILABLE when it has none.
   */
  function pick(exclude: ReadonlySet<string>, call?: ClientCall): Node | Promise<Node> {
    if (call?.waitForReady) return pickWhenReady(exclude, call);
    const next = selector.select(service, { exclude });
    return typeof next === "function" ? next() : next.then((ready) => ready());
  }

  /**
   * A node for a wait-for-ready call: when its service has no node yet (none registered, or the
   * registry unreachable), it waits for one until its deadline or its cancel, as gRPC waits for a
   * channel to become ready, asking the selector again at growing intervals.
   */
  async function pickWhenReady(exclude: ReadonlySet<string>, call: ClientCall): Promise<Node> {
    for (let interval = 50; ; interval = Math.min(interval * 2, 1_000)) {
      try {
        const next = await selector.select(service, { exclude });
        return next();
      } catch (error) {
        if (!noNodeYet(error)) throw error;
        await waitForNode(call, interval, error);
      }
    }
  }

  function mayRetry(error: unknown, attempt: number, call: ClientCall): boolean {
    if (attempt > retries || !isTsmicroError(error) || !error.retryable) return false;
    // The node answered with the failure of a call of its own: another node would make the same call.
    if (failedService(error) !== undefined) return false;
    // A method with side effects is not sent again once it may have been applied.
    if (call.method.idempotency === "unknown" && error.mayHaveBeenApplied) return false;
    if (call.signal?.aborted) return false;
    return call.deadline === undefined || call.deadline.getTime() > Date.now();
  }

  /**
   * The call as attempt number `attempt` sends it: for an idempotent call
   * whose attempts time out, but the last, with that attempt's deadline
   * (the server stops at it too).
   */
  function attemptOf(call: ClientCall, attempt: number): ClientCall {
    // The last attempt has what is left of the deadline.
    if (call.method.idempotency === "unknown" || attempt > retries) return call;
    let estimate = latencies.get(call.method);
    if (!estimate) {
      estimate = new LatencyEstimate();
      latencies.set(call.method, estimate);
    }
    const remaining = call.deadline === undefined ? Infinity : call.deadline.getTime() - Date.now();
    const setting = optionOf(options.attemptTimeouts, service, call.method)?.value ?? attemptTimeout;
    const limit = attemptTimeoutMs(setting, estimate, remaining);
    return limit === undefined ? call : { ...call, deadline: new Date(Date.now() + limit) };
  }

  /**
   * Whether an attempt failed because its own timeout passed (see attemptTimedOut), with time and attempts
   * left to try another node: the last attempt has the whole of what is left.
   */
  function abandoned(error: unknown, attempt: number, call: ClientCall, sent: ClientCall, elapsedMs: number): boolean {
    if (sent === call || attempt > retries || call.signal?.aborted) return false;
    if (!attemptTimedOut(error, sent, elapsedMs)) return false;
    return call.deadline === undefined || call.deadline.getTime() > Date.now();
  }

  /** What a hedged call needs of this caller. */
  const hedgeWire: HedgeWire = {
    pick,
    send: (node, call) => transport.call(node.address, call) as Promise<unknown>,
    mark: (node, error, elapsedMs) => selector.mark(service, node, error, elapsedMs),
    retryable: (error, call) => mayRetry(error, 0, call),
    budget,
  };

  /**
   * Waits out the backoff before retry number `attempt`, or fails at once with `failure()` (the last
   * attempt's failure) when the call's deadline would pass first: a retry is not sent past it, to
   * expire on the wire and read as a call that may have been applied.
   */
  async function waitToRetry(attempt: number, call: ClientCall, failure: () => unknown): Promise<void> {
    const wait = backoff(attempt);
    if (!timeLeft(call, wait)) throw failure();
    if (wait > 0) await sleep(wait);
    // A timer may fire late: the deadline may have passed during the wait after all.
    if (!timeLeft(call, 0)) throw failure();
  }

  async function unaryWithRetries(call: ClientCall): Promise<unknown> {
    // Before a node is picked: the failure says the call was not sent, and no node is marked slow.
    throwIfLate(call);
    const policy = call.method.idempotency === "unknown" ? undefined : hedgingOf(options.hedging, service, call.method);
    if (policy) return hedgedCall(call, policy, hedgeWire);
    // Made on the first retry: most calls need no record of the nodes tried.
    let tried: Set<string> | undefined;
    for (let attempt = 1; ; attempt++) {
      const picked = pick(tried ?? noneTried, call);
      // Awaited only when it is a promise: an await of a node would still cost a turn of the microtask queue.
      const node = picked instanceof Promise ? await picked : picked;
      const sent = attemptOf(call, attempt);
      const started = performance.now();
      try {
        const response = await (transport.call(node.address, sent) as Promise<unknown>);
        const elapsed = performance.now() - started;
        latencies.get(call.method)?.observe(elapsed);
        selector.mark(service, node, undefined, elapsed);
        return response;
      } catch (error) {
        selector.mark(service, node, error, performance.now() - started);
        tried ??= new Set();
        tried.add(node.id);
        // An abandoned attempt goes to another node at once: the node is slow or stuck, not overloaded.
        if (abandoned(error, attempt, call, sent, performance.now() - started)) continue;
        if (!mayRetry(error, attempt, call)) throw withOutcome(error, call, node);
        await waitToRetry(attempt, call, () => withOutcome(error, call, node));
      }
    }
  }

  /** A server stream is retried only while nothing was received, so no message is seen twice. */
  async function* serverStreamWithRetries(call: ClientCall): AsyncIterable<unknown> {
    throwIfLate(call);
    const tried = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const node = await pick(tried, call);
      tried.add(node.id);
      let received = false;
      try {
        for await (const message of transport.call(node.address, call) as AsyncIterable<unknown>) {
          received = true;
          yield message;
        }
        selector.mark(service, node, undefined);
        return;
      } catch (error) {
        selector.mark(service, node, error);
        if (received) throw brokenOff(error, call, node);
        if (!mayRetry(error, attempt, call)) throw withOutcome(error, call, node);
        await waitToRetry(attempt, call, () => withOutcome(error, call, node));
      }
    }
  }

  /** Request streams cannot be replayed, so client and bidi streams get one attempt. */
  function streamOnce(call: ClientCall): Promise<unknown> | AsyncIterable<unknown> {
    if (call.method.kind === "client_streaming") {
      return (async () => {
        throwIfLate(call);
        const node = await pick(noneTried, call);
        try {
          const response = await (transport.call(node.address, call) as Promise<unknown>);
          selector.mark(service, node, undefined);
          return response;
        } catch (error) {
          selector.mark(service, node, error);
          throw error;
        }
      })();
    }
    return (async function* () {
      throwIfLate(call);
      const node = await pick(noneTried, call);
      try {
        yield* transport.call(node.address, call) as AsyncIterable<unknown>;
        selector.mark(service, node, undefined);
      } catch (error) {
        selector.mark(service, node, error);
        throw error;
      }
    })();
  }

  function sendWithRetries(call: ClientCall): Promise<unknown> | AsyncIterable<unknown> {
    switch (call.method.kind) {
      case "unary":
        return unaryWithRetries(call);
      case "server_streaming":
        return serverStreamWithRetries(call);
      default:
        return streamOnce(call);
    }
  }

  /** Sends a call, unless its options are a mistake (see invalidTimeout), which fails it unsent. */
  function call(method: MethodDefinition, request: unknown, callOptions: CallOptions | undefined) {
    const refused = invalidTimeout(method, callOptions);
    return refused ? refusedCall(method, request, refused) : send(resolve(method, request, callOptions));
  }

  return {
    unary<I, O>(method: MethodDefinition<I, O>, request: I, callOptions?: CallOptions): Promise<O> {
      return call(method as MethodDefinition, request, callOptions) as Promise<O>;
    },
    serverStreaming<I, O>(method: MethodDefinition<I, O>, request: I, callOptions?: CallOptions): AsyncIterable<O> {
      return call(method as MethodDefinition, request, callOptions) as AsyncIterable<O>;
    },
    clientStreaming<I, O>(
      method: MethodDefinition<I, O>,
      requests: AsyncIterable<I>,
      callOptions?: CallOptions,
    ): Promise<O> {
      return call(method as MethodDefinition, requests, callOptions) as Promise<O>;
    },
    bidiStreaming<I, O>(
      method: MethodDefinition<I, O>,
      requests: AsyncIterable<I>,
      callOptions?: CallOptions,
    ): AsyncIterable<O> {
      return call(method as MethodDefinition, requests, callOptions) as AsyncIterable<O>;
    },
  };
}

/** Whether `call` has time left `afterMs` from now: none once its deadline has passed. */
function timeLeft(call: ClientCall, afterMs: number): boolean {
  return call.deadline === undefined || !(call.deadline.getTime() <= Date.now() + afterMs);
}

/** A selection that failed before anything was sent because the service has no node to call (yet). */
function noNodeYet(error: unknown): error is TsmicroError {
  return isTsmicroError(error) && error.code === Code.UNAVAILABLE && error.unprocessed;
}

/**
 * Waits `ms` for a wait-for-ready call, or less if its deadline comes first; fails when the
 * deadline has passed (DEADLINE_EXCEEDED, saying what it waited for) or the call is cancelled.
 */
async function waitForNode(call: ClientCall, ms: number, waitingFor: TsmicroError): Promise<void> {
  const left = call.deadline === undefined ? Infinity : call.deadline.getTime() - Date.now();
  if (!(left > 0))
    throw new TsmicroError(
      Code.DEADLINE_EXCEEDED,
      `${call.method.path} waited for a node until its deadline: ${waitingFor.message}`,
      { cause: waitingFor, unprocessed: true, retryable: false },
    );
  try {
    await sleep(Math.min(ms, left), undefined, call.signal ? { signal: call.signal } : undefined);
  } catch {
    throw abortedBy(call.signal?.reason, `${call.method.path} was cancelled while it waited for a node`);
  }
}

/**
 * How much earlier than a node's reserve (answerReserveMs) before the attempt's deadline a failure may
 * reach the client and still be that deadline's doing: the node's clock and grpc-timeout's rounding
 * give it a deadline a little earlier than the client's. A failure after the deadline always is.
 */
const answerSlackMs = 50;

/**
 * Whether `error` is the doing of the attempt's own deadline: DEADLINE_EXCEEDED from the node or the
 * transport, or a failure naming a service further down (or `postgres`) that came when that deadline
 * cut what the node waited for (see cutByAttemptDeadline): DEADLINE_EXCEEDED (a query or a call not
 * answered in time) or UNAVAILABLE (a pooled connection that did not come free in time: the query
 * was not sent, and the pool is the node's own, which another node's may not share). With the whole
 * deadline the node might have answered; whether a stuck database shows as the one or the other
 * depends only on whether the handler's query found an idle connection.
 */
function attemptTimedOut(error: unknown, sent: ClientCall, elapsedMs: number): boolean {
  if (!isTsmicroError(error)) return false;
  const named = failedService(error) !== undefined;
  if (error.code === Code.DEADLINE_EXCEEDED) return !named || cutByAttemptDeadline(sent, elapsedMs);
  // UNAVAILABLE of the node itself (refused, gone) is mayRetry's, with its backoff.
  return error.code === Code.UNAVAILABLE && named && cutByAttemptDeadline(sent, elapsedMs);
}

/**
 * Whether a failure naming a service further down came when the attempt's own deadline had cut what
 * the node waited for: within the stretch before that deadline a node keeps for its answer's way
 * back (answerReserveMs), or after it. One that came earlier is that service's own failure, which
 * another node would meet too: not sent again, as retries there would multiply down the chain.
 */
function cutByAttemptDeadline(sent: ClientCall, elapsedMs: number): boolean {
  if (sent.deadline === undefined) return false;
  const remaining = sent.deadline.getTime() - Date.now();
  return remaining <= answerReserveMs(remaining + elapsedMs) + answerSlackMs;
}
