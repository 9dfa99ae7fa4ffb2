import type { Context, SpanContext, Tracer } from "@opentelemetry/api";
import type { OtelApiModule } from "./otel-api.js";

/** Carriers of W3C trace context: gRPC metadata or HTTP headers, read as lower-case keys. */
export type TraceCarrier = Readonly<Record<string, unknown>>;

/**
 * Tracing as one service or gateway runs it once started: the API module,
 * its tracer (its own provider and resource), and W3C trace-context
 * propagation. Made by startTracing; shut down by whoever started it.
 */
export interface Tracing {
  readonly api: OtelApiModule;
  readonly tracer: Tracer;
  /**
   * Whether spans record anything (an exporter reads them). When false the
   * tracer only carries ids, and callers skip building attributes no one reads.
   */
  readonly recording: boolean;
  /** The context `carrier`'s `traceparent`/`tracestate` describe, on top of the root context. */
  extract(carrier: TraceCarrier): Context;
  /**
   * Sets `traceparent` (and `tracestate` when there is one) for a span in
   * `carrier`, metadata or headers; nothing for no span or an invalid one.
   */
  inject(span: SpanContext | undefined, carrier: Record<string, unknown>): void;
  /**
   * Exports the spans not yet sent, then stops the provider: the last call's spans leave before
   * this resolves. Rejects when the collector cannot be reached or does not answer in time.
   */
  shutdown(): Promise<void>;
}
