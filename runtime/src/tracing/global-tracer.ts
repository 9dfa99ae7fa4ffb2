import type { Context, Span, Tracer, TracerProvider } from "@opentelemetry/api";
import type { OtelApiModule } from "./otel-api.js";
import { RecordingSpan } from "./recording-span.js";
import { RandomIds } from "./sampling.js";

// Process state, as OTel's global provider is: the tracers of the tracings running here, the first
// started first, and the one provider lent to the API (made with the first tracing that needs it).
const running: Tracer[] = [];
let lent: TracerProvider | undefined;

/**
 * Lends `tracer` to code of the user's that traces with `@opentelemetry/api` (`trace.getTracer(…)`),
 * through the API's global tracer provider, unless the program registered one of its own (an
 * OpenTelemetry SDK) before: that one keeps the user's spans. A span started inside one of
 * tsmicro's recording spans (a call's, a request's) comes from the tracer that made that span, so it
 * is that span's child and is exported with that service's spans; inside a span that records
 * nothing, it carries ids alone, under that span's trace; outside any, it comes from the first
 * tracing still running. Returns the withdrawal, for shutdown.
 */
export function lendToGlobalTracer(api: OtelApiModule, tracer: Tracer): () => void {
  running.push(tracer);
  const current = api.trace.getTracerProvider();
  // A ProxyTracerProvider is the API's own while nothing is registered (or after trace.disable()).
  if (current !== lent && current instanceof api.ProxyTracerProvider) {
    const delegating = delegatingTracer(api);
    const provider: TracerProvider = { getTracer: () => delegating };
    if (api.trace.setGlobalTracerProvider(provider)) lent = provider;
  }
  return () => {
    const at = running.indexOf(tracer);
    if (at >= 0) running.splice(at, 1);
  };
}

function delegatingTracer(api: OtelApiModule): Tracer {
  const ids = new RandomIds();
  /** A span of ids alone: under the parent's trace with a span id of its own, or none at all. */
  const idsOnly = (parent: Span | undefined): Span => {
    const context = parent?.spanContext();
    if (!context || !api.isSpanContextValid(context)) return api.trace.wrapSpanContext(api.INVALID_SPAN_CONTEXT);
    return api.trace.wrapSpanContext({ ...context, spanId: ids.spanId(), isRemote: false });
  };
  const start = (name: string, rest: unknown[], active: boolean): unknown => {
    const context = (active ? (rest.length > 2 ? rest[1] : undefined) : rest[1]) as Context | undefined;
    const parent = api.trace.getSpan(context ?? api.context.active());
    const maker = parent instanceof RecordingSpan ? parent.tracer : parent ? undefined : running[0];
    if (maker)
      return active
        ? (maker.startActiveSpan as (name: string, ...rest: unknown[]) => unknown)(name, ...rest)
        : (maker.startSpan as (name: string, ...rest: unknown[]) => unknown)(name, ...rest);
    const span = idsOnly(parent);
    if (!active) return span;
    const fn = rest.at(-1) as (span: Span) => unknown;
    return api.context.with(api.trace.setSpan(context ?? api.context.active(), span), fn, undefined, span);
  };
  return {
    startSpan: (name: string, ...rest: unknown[]) => start(name, rest, false),
    // startActiveSpan(name, [options, [context,]] fn), as the API's overloads have it.
    startActiveSpan: (name: string, ...rest: unknown[]) => start(name, rest, true),
  } as Tracer;
}
