import type { Context, Span, Tracer } from "@opentelemetry/api";
import type { OtelApiModule } from "./otel-api.js";
import { RecordingSpan } from "./recording-span.js";

/** The tracers of the tracings running in this process, the first started first. */
const running: Tracer[] = [];
let offered = false;

/**
 * Lends `tracer` to code of the user's that traces with `@opentelemetry/api` (`trace.getTracer(…)`),
 * through a global tracer provider installed with the first tracing to start (not when the program
 * registered an OpenTelemetry SDK of its own first: that one keeps the user's spans). A span started
 * inside one of tsmicro's (a call's, a request's) comes from the tracer that made that span, so it is
 * that span's child and is exported with that service's spans; outside any, from the first tracing
 * still running; with none running, a span that records nothing. Returns the withdrawal, for shutdown.
 */
export function lendToGlobalTracer(api: OtelApiModule, tracer: Tracer): () => void {
  running.push(tracer);
  if (!offered) {
    offered = true;
    const delegating = delegatingTracer(api);
    api.trace.setGlobalTracerProvider({ getTracer: () => delegating });
  }
  return () => {
    const at = running.indexOf(tracer);
    if (at >= 0) running.splice(at, 1);
  };
}

function delegatingTracer(api: OtelApiModule): Tracer {
  const makerOf = (context: Context): Tracer | undefined => {
    const span = api.trace.getSpan(context);
    return span instanceof RecordingSpan && span.tracer ? span.tracer : running[0];
  };
  const nothing = () => api.trace.wrapSpanContext(api.INVALID_SPAN_CONTEXT);
  return {
    startSpan: (name, options, context = api.context.active()) =>
      makerOf(context)?.startSpan(name, options, context) ?? nothing(),
    // startActiveSpan(name, [options, [context,]] fn), as the API's overloads have it.
    startActiveSpan(name: string, ...rest: unknown[]) {
      const maker = makerOf(rest.length > 2 ? (rest[1] as Context) : api.context.active());
      if (maker) return (maker.startActiveSpan as (name: string, ...rest: unknown[]) => unknown)(name, ...rest);
      return (rest.at(-1) as (span: Span) => unknown)(nothing());
    },
  } as Tracer;
}
