import { AsyncLocalStorage } from "node:async_hooks";
import type { CallContext } from "../definition/call.js";
import { loadedOtelApi } from "../tracing/otel-api.js";

/**
 * The scope a service runs each handler in, holding the call it serves: what runs under the
 * handler without being handed its context finds the call's deadline and cancel there (the
 * clients it calls with, the database it queries). One per process, as OTel's context is: a
 * database opened in main.ts knows no service, yet its queries belong to the call being served.
 */
export const servedCallScope = new AsyncLocalStorage<CallContext>();

/**
 * The key a traced call's span context holds the call under: a traced service runs its handler
 * in the span's scope alone, not in servedCallScope as well (one scope per call rather than two).
 */
export const servedCallKey = Symbol("tsmicro served call");

/** The call whose handler the code calling this runs under, if any. */
export function servedCall(): CallContext | undefined {
  return (
    servedCallScope.getStore() ?? (loadedOtelApi()?.context.active().getValue(servedCallKey) as CallContext | undefined)
  );
}

/**
 * The calls whose handler has returned. Work a handler started and left running (a job it
 * answers the id of, an audit line) still runs in its call's scope, yet no caller waits for it
 * any more: what bounds a call's waits by its deadline (the database's queries, the clients'
 * calls), so that its caller reads who did not answer, has no reason to bound that work.
 */
const answered = new WeakSet<CallContext>();

/** Marks the call `context` answered: its handler has returned, or failed. */
export function servedCallAnswered(context: CallContext): void {
  answered.add(context);
}

/** Whether the served call `context` has been answered (see servedCallAnswered). */
export function hasBeenAnswered(context: CallContext): boolean {
  return answered.has(context);
}

/** The call whose handler the code calling this runs under, while its caller still waits for the answer. */
export function unansweredServedCall(): CallContext | undefined {
  const call = servedCall();
  return call === undefined || answered.has(call) ? undefined : call;
}

/**
 * Runs `work` for the call being served, no longer bounded by it: the caller's cancel and the
 * call's deadline neither refuse nor stop the database queries and client calls `work` makes
 * (each has its own timeouts: connect_timeout, --client_request_timeout), while the call's
 * metadata and trace still go with them, as Go's context.WithoutCancel. For what must be done
 * whatever the caller does: a clean-up or a compensating write after catching the cancel, an
 * audit line. Outside a served call `work` runs as it is.
 */
export function withoutCancel<T>(work: () => T): T {
  const call = servedCall();
  return call === undefined ? work() : servedCallScope.run(uncancellable(call), work);
}

/**
 * `call` with no deadline and a signal that never aborts. A view, not a copy: the context's own
 * methods and getters run on it (a server's context keeps its state in private fields).
 */
function uncancellable(call: CallContext): CallContext {
  const signal = new AbortController().signal;
  return new Proxy(call, {
    get(target, key) {
      if (key === "deadline") return undefined;
      if (key === "signal") return signal;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
