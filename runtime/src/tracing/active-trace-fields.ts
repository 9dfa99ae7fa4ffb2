import { loadedOtelApi } from "./otel-api.js";

/** The ids of a log line's trace, as pino fields. */
export interface TraceFields {
  readonly trace_id: string;
  readonly span_id: string;
}

/**
 * The trace and span id of the span active in OTel context (the call being
 * handled, the gateway request being served), for a logger's mixin;
 * undefined outside any span, with tracing off (OTEL_SDK_DISABLED), or for
 * an invalid span context. Costs a context lookup; loads nothing.
 */
export function activeTraceFields(): TraceFields | undefined {
  const api = loadedOtelApi();
  const span = api?.trace.getActiveSpan();
  if (!api || !span) return undefined;
  const ids = span.spanContext();
  if (!api.isSpanContextValid(ids)) return undefined;
  return { trace_id: ids.traceId, span_id: ids.spanId };
}

/**
 * The trace id of the call (or request, or event) the code runs in, as its log lines and the
 * gateway's error bodies carry it: to show a user, or to pass to a system that is not traced.
 * Undefined outside any, and with tracing off (OTEL_SDK_DISABLED=true).
 */
export function activeTraceId(): string | undefined {
  return activeTraceFields()?.trace_id;
}

/**
 * Runs `fn` outside any span: for a line logged from a timer that inherited
 * the context of the call that set it, but is about no call (a breaker's
 * reset), which would otherwise carry that call's trace id.
 */
export function outsideTrace<T>(fn: () => T): T {
  const api = loadedOtelApi();
  return api ? api.context.with(api.ROOT_CONTEXT, fn) : fn();
}

/** The span each failure ended, for lines logged about it after that span's context is gone. */
const failedSpans = new WeakMap<object, TraceFields>();

/**
 * Notes that `error` failed the span with `ids` (an event's processing): the
 * line the broker logs about the failure, outside the span's context, then
 * carries its trace with `failureTraceFields`.
 */
export function noteFailedSpan(error: unknown, ids: { readonly traceId: string; readonly spanId: string }): void {
  if (typeof error === "object" && error !== null)
    failedSpans.set(error, { trace_id: ids.traceId, span_id: ids.spanId });
}

/** The trace and span id of the span `error` failed, when noted. */
export function failureTraceFields(error: unknown): TraceFields | undefined {
  return typeof error === "object" && error !== null ? failedSpans.get(error) : undefined;
}
