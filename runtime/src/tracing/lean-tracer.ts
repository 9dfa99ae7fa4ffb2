import type { Context, Span, SpanContext, SpanOptions, Tracer } from "@opentelemetry/api";
import type { OtelApiModule } from "./otel-api.js";
import { RecordingSpan } from "./recording-span.js";
import type { RandomIds, Sample } from "./sampling.js";
import { isPropagatable } from "./trace-context.js";

/**
 * tsmicro's tracer: the standard samplers and random ids (sampling.ts),
 * without the OTel SDK's span machinery. Each span carries real ids (a new
 * span id under the caller's trace, or a new trace) with the sampled flag
 * the sampler sets, so `traceparent` propagates, logs carry `trace_id` and
 * `span_id` and error bodies name the trace. A sampled span records (a
 * RecordingSpan, handed to `ended` when it ends) only when there is an
 * exporter to read it; otherwise it is ids alone, which cost next to nothing.
 */
export function leanTracer(
  api: OtelApiModule,
  sample: Sample,
  ids: RandomIds,
  ended?: (span: RecordingSpan) => void,
): Tracer {
  const startSpan = (name: string, options: SpanOptions = {}, context: Context = api.context.active()): Span => {
    const parent = options.root ? undefined : api.trace.getSpanContext(context);
    const inTrace = parent !== undefined && isPropagatable(parent);
    const traceId = inTrace ? parent.traceId : ids.traceId();
    const kind = options.kind ?? api.SpanKind.INTERNAL;
    const sampled = sample(inTrace ? parent : undefined, traceId);
    const spanContext: SpanContext = {
      traceId,
      spanId: ids.spanId(),
      traceFlags: sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE,
    };
    if (inTrace && parent.traceState) spanContext.traceState = parent.traceState;
    if (!sampled || !ended) return api.trace.wrapSpanContext(spanContext);
    return new RecordingSpan(
      spanContext,
      inTrace ? parent : undefined,
      name,
      kind,
      options.attributes,
      options.links,
      ended,
      tracer,
    );
  };
  // startActiveSpan(name, [options, [context,]] fn), as the API's overloads have it.
  const startActiveSpan = (name: string, ...rest: unknown[]) => {
    const fn = rest.at(-1) as (span: Span) => unknown;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : {};
    const context = rest.length > 2 ? (rest[1] as Context) : api.context.active();
    const span = startSpan(name, options, context);
    return api.context.with(api.trace.setSpan(context, span), fn, undefined, span);
  };
  const tracer = { startSpan, startActiveSpan } as Tracer;
  return tracer;
}
