import type { Context, Span, SpanContext, SpanOptions, Tracer } from "@opentelemetry/api";
import type { IdGenerator, Sampler } from "@opentelemetry/sdk-trace";
import type { OtelApiModule } from "./otel-api.js";

/** The sampling decision that records and samples (SamplingDecision.RECORD_AND_SAMPLED). */
const recordAndSampled = 2;

/**
 * The tracer of tracing without an exporter, tracing's default: its spans
 * carry real ids (a new span id under the caller's trace, or a new trace),
 * with the sampled flag the sampler would set, so `traceparent` propagates,
 * logs carry `trace_id` and `span_id` and error bodies name the trace — but
 * they record nothing, as nothing would read it. The SDK's recording spans
 * cost several microseconds each to make and end; these cost an id.
 */
export function propagatingTracer(api: OtelApiModule, sampler: Sampler, ids: IdGenerator): Tracer {
  const startSpan = (name: string, options: SpanOptions = {}, context: Context = api.context.active()): Span => {
    const parent = api.trace.getSpanContext(context);
    const inTrace = parent !== undefined && api.isSpanContextValid(parent);
    const traceId = inTrace ? parent.traceId : ids.generateTraceId();
    const { decision } = sampler.shouldSample(
      context,
      traceId,
      name,
      options.kind ?? api.SpanKind.INTERNAL,
      options.attributes ?? {},
      options.links ?? [],
    );
    const spanContext: SpanContext = {
      traceId,
      spanId: ids.generateSpanId(),
      traceFlags: decision === recordAndSampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE,
    };
    if (inTrace && parent.traceState) spanContext.traceState = parent.traceState;
    return api.trace.wrapSpanContext(spanContext);
  };
  // startActiveSpan(name, [options, [context,]] fn), as the API's overloads have it.
  const startActiveSpan = (name: string, ...rest: unknown[]) => {
    const fn = rest.at(-1) as (span: Span) => unknown;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : {};
    const context = rest.length > 2 ? (rest[1] as Context) : api.context.active();
    const span = startSpan(name, options, context);
    return api.context.with(api.trace.setSpan(context, span), fn, undefined, span);
  };
  return { startSpan, startActiveSpan } as Tracer;
}
