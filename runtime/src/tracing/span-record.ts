import type { Attributes, AttributeValue, HrTime, Link, SpanContext, TraceState } from "@opentelemetry/api";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace";
import type { RecordingSpan } from "./recording-span.js";

/**
 * Finished spans as they cross to the export worker: one flat array of
 * strings and numbers per batch. A structured clone copies such an array
 * several times faster than the same spans as objects, whose every key it
 * writes out again; the service's thread pays only this copy. Per span:
 *
 *   name, kind, traceId, spanId, traceFlags, traceState, parentSpanId,
 *   parentIsRemote (0 no, 1 yes, 2 unknown), startMs, endMs, statusCode,
 *   statusMessage, attributes, events, links
 *
 * where an absent string is "", attributes are their count then key, value
 * pairs, events their count then name, timeMs, attributes each, and links
 * their count then traceId, spanId, traceFlags, traceState, attributes each.
 */
export type SpanBatch = (string | number | AttributeValue)[];

/** Appends `span` to `batch`. */
export function encodeSpan(batch: SpanBatch, span: RecordingSpan): void {
  const context = span.spanContext();
  const parent = span.parent;
  batch.push(
    span.name,
    span.kind,
    context.traceId,
    context.spanId,
    context.traceFlags,
    context.traceState?.serialize() ?? "",
    parent?.spanId ?? "",
    parent?.isRemote === undefined ? 2 : parent.isRemote ? 1 : 0,
    span.startMs,
    span.endMs,
    span.status.code,
    span.status.message ?? "",
  );
  encodeAttributes(batch, span.attributes);
  batch.push(span.events.length);
  for (const event of span.events) {
    batch.push(event.name, event.timeMs);
    encodeAttributes(batch, event.attributes);
  }
  batch.push(span.links.length);
  for (const link of span.links) encodeLink(batch, link);
}

function encodeAttributes(batch: SpanBatch, attributes: Attributes | undefined): void {
  const at = batch.length;
  batch.push(0);
  let count = 0;
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    batch.push(key, value);
    count++;
  }
  batch[at] = count;
}

function encodeLink(batch: SpanBatch, link: Link): void {
  const { traceId, spanId, traceFlags, traceState } = link.context;
  batch.push(traceId, spanId, traceFlags, traceState?.serialize() ?? "");
  encodeAttributes(batch, link.attributes);
}

/** What the worker adds to decoded spans: the service's resource and the runtime's scope. */
export interface SpanOrigin {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  /** A TraceState of header text (`@opentelemetry/core`'s TraceState). */
  readonly traceState: (text: string) => TraceState;
}

/** The spans of `batch` as the ReadableSpans an OTLP exporter serializes, on the export worker. */
export function decodeSpans(batch: SpanBatch, origin: SpanOrigin): ReadableSpan[] {
  const reader = new Reader(batch, origin);
  const spans: ReadableSpan[] = [];
  while (reader.more()) spans.push(reader.span());
  return spans;
}

class Reader {
  #at = 0;

  constructor(
    private readonly batch: SpanBatch,
    private readonly origin: SpanOrigin,
  ) {}

  more(): boolean {
    return this.#at < this.batch.length;
  }

  span(): ReadableSpan {
    const name = this.#string();
    const kind = this.#number();
    const context = this.#context();
    const parentSpanId = this.#string();
    const parentIsRemote = this.#number();
    const startMs = this.#number();
    const endMs = this.#number();
    const code = this.#number();
    const message = this.#string();
    const attributes = this.#attributes();
    const events: TimedEvent[] = [];
    for (let n = this.#number(); n > 0; n--)
      events.push({
        name: this.#string(),
        time: hrTimeOf(this.#number()),
        attributes: this.#attributes(),
      });
    const links: Link[] = [];
    for (let n = this.#number(); n > 0; n--) links.push({ context: this.#context(), attributes: this.#attributes() });
    const parentSpanContext: SpanContext | undefined = parentSpanId
      ? {
          traceId: context.traceId,
          spanId: parentSpanId,
          traceFlags: context.traceFlags,
          ...(parentIsRemote === 2 ? {} : { isRemote: parentIsRemote === 1 }),
        }
      : undefined;
    return {
      name,
      kind,
      spanContext: () => context,
      parentSpanContext,
      startTime: hrTimeOf(startMs),
      endTime: hrTimeOf(endMs),
      duration: hrTimeOf(endMs - startMs),
      status: message ? { code, message } : { code },
      attributes,
      links,
      events,
      ended: true,
      resource: this.origin.resource,
      instrumentationScope: this.origin.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }

  #context(): SpanContext {
    const traceId = this.#string();
    const spanId = this.#string();
    const traceFlags = this.#number();
    const traceState = this.#string();
    return {
      traceId,
      spanId,
      traceFlags,
      ...(traceState ? { traceState: this.origin.traceState(traceState) } : {}),
    };
  }

  #attributes(): Attributes {
    const attributes: Attributes = {};
    for (let n = this.#number(); n > 0; n--) {
      const key = this.#string();
      attributes[key] = this.batch[this.#at++] as AttributeValue;
    }
    return attributes;
  }

  #string(): string {
    return this.batch[this.#at++] as string;
  }

  #number(): number {
    return this.batch[this.#at++] as number;
  }
}

/** Epoch milliseconds as [seconds, nanoseconds]. */
function hrTimeOf(ms: number): HrTime {
  const seconds = Math.floor(ms / 1_000);
  const nanos = Math.min(Math.round((ms - seconds * 1_000) * 1e6), 999_999_999);
  return [seconds, nanos];
}
