import type { Attributes, AttributeValue, HrTime, Link, SpanContext, TraceState } from "@opentelemetry/api";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace";
import type { RecordingSpan } from "./recording-span.js";

/**
 * Finished spans as they cross to the export worker: the spans written one
 * after another into bytes whose buffer is transferred, not copied, and the
 * table of the batch's repeated strings (names, attribute keys and values),
 * each written once. A structured clone of the same spans as objects or
 * arrays costs the service's thread several times more, and leaves garbage
 * behind. Per span:
 *
 *   name, kind, traceId, spanId, traceFlags, traceState, parentSpanId,
 *   parentIsRemote (0 no, 1 yes, 2 unknown), startMs, endMs, statusCode,
 *   statusMessage, attributes, events, links
 *
 * where ids are inline latin1 text with a length byte (absent: length 0),
 * other strings an index into `strings` (absent: ""), kinds, flags and codes
 * a byte, times a float64 of epoch milliseconds, attributes their count then
 * key, value pairs, events their count then name, timeMs, attributes each,
 * and links their count then traceId, spanId, traceFlags, traceState,
 * attributes each.
 */
export interface SpanBatch {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly strings: readonly string[];
}

/** How an attribute value is written: its tag byte, then the value. */
const Tag = { String: 0, Number: 1, True: 2, False: 3, Array: 4, Empty: 5 } as const;

/** Writes ended spans into one batch until `take()`; the next batch starts as large as the last one grew. */
export class SpanWriter {
  #bytes: Buffer;
  #at = 0;
  #strings = new Map<string, number>();
  #table: string[] = [];

  constructor(initialBytes = 64 * 1024) {
    this.#bytes = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** The batch written so far, whose buffer the caller may transfer; the writer starts a new one. */
  take(): SpanBatch {
    // allocUnsafeSlow's bytes are a whole ArrayBuffer of their own, never a shared one or a pool's.
    const batch = { bytes: new Uint8Array(this.#bytes.buffer as ArrayBuffer, 0, this.#at), strings: this.#table };
    this.#bytes = Buffer.allocUnsafeSlow(this.#bytes.length);
    this.#at = 0;
    this.#strings = new Map();
    this.#table = [];
    return batch;
  }

  /** Appends `span`. */
  write(span: RecordingSpan): void {
    const context = span.spanContext();
    const parent = span.parent;
    this.#string(span.name);
    this.#byte(span.kind);
    this.#id(context.traceId);
    this.#id(context.spanId);
    this.#byte(context.traceFlags);
    this.#string(context.traceState?.serialize() ?? "");
    this.#id(parent?.spanId ?? "");
    this.#byte(parent?.isRemote === undefined ? 2 : parent.isRemote ? 1 : 0);
    this.#float(span.startMs);
    this.#float(span.endMs);
    this.#byte(span.status.code);
    this.#string(span.status.message ?? "");
    this.#attributes(span.attributes);
    this.#count(span.events.length);
    for (const event of span.events) {
      this.#string(event.name);
      this.#float(event.timeMs);
      this.#attributes(event.attributes);
    }
    this.#count(span.links.length);
    for (const { context: linked, attributes } of span.links) {
      this.#id(linked.traceId);
      this.#id(linked.spanId);
      this.#byte(linked.traceFlags);
      this.#string(linked.traceState?.serialize() ?? "");
      this.#attributes(attributes);
    }
  }

  #attributes(attributes: Attributes | undefined): void {
    const countAt = this.#at;
    this.#count(0);
    let count = 0;
    for (const key in attributes) {
      const value = attributes[key];
      if (value === undefined) continue;
      this.#string(key);
      this.#value(value);
      count++;
    }
    this.#bytes.writeUInt32LE(count, countAt);
  }

  #value(value: AttributeValue | null | undefined): void {
    if (typeof value === "string") {
      this.#byte(Tag.String);
      this.#string(value);
    } else if (typeof value === "number") {
      this.#byte(Tag.Number);
      this.#float(value);
    } else if (typeof value === "boolean") {
      this.#byte(value ? Tag.True : Tag.False);
    } else if (Array.isArray(value)) {
      this.#byte(Tag.Array);
      this.#count(value.length);
      for (const item of value) this.#value(item);
    } else {
      this.#byte(Tag.Empty);
    }
  }

  #string(text: string): void {
    let index = this.#strings.get(text);
    if (index === undefined) {
      index = this.#table.push(text) - 1;
      this.#strings.set(text, index);
    }
    this.#count(index);
  }

  /** An id, inline: ids are unique, so a table would only grow. */
  #id(hex: string): void {
    const length = Math.min(hex.length, 255);
    this.#room(1 + length);
    this.#bytes[this.#at++] = length;
    this.#at += this.#bytes.write(hex, this.#at, length, "latin1");
  }

  #byte(value: number): void {
    this.#room(1);
    this.#bytes[this.#at++] = value;
  }

  #count(value: number): void {
    this.#room(4);
    this.#at = this.#bytes.writeUInt32LE(value, this.#at);
  }

  #float(value: number): void {
    this.#room(8);
    this.#at = this.#bytes.writeDoubleLE(value, this.#at);
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, this.#at + bytes));
    this.#bytes.copy(grown, 0, 0, this.#at);
    this.#bytes = grown;
  }
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
  readonly #bytes: Buffer;
  readonly #strings: readonly string[];
  readonly #origin: SpanOrigin;
  #at = 0;

  constructor(batch: SpanBatch, origin: SpanOrigin) {
    this.#bytes = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
    this.#strings = batch.strings;
    this.#origin = origin;
  }

  more(): boolean {
    return this.#at < this.#bytes.length;
  }

  span(): ReadableSpan {
    const name = this.#string();
    const kind = this.#byte();
    const context = this.#context();
    const parentSpanId = this.#id();
    const parentIsRemote = this.#byte();
    const startMs = this.#float();
    const endMs = this.#float();
    const code = this.#byte();
    const message = this.#string();
    const attributes = this.#attributes();
    const events: TimedEvent[] = [];
    for (let n = this.#count(); n > 0; n--)
      events.push({
        name: this.#string(),
        time: hrTimeOf(this.#float()),
        attributes: this.#attributes(),
      });
    const links: Link[] = [];
    for (let n = this.#count(); n > 0; n--) links.push({ context: this.#context(), attributes: this.#attributes() });
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
      resource: this.#origin.resource,
      instrumentationScope: this.#origin.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }

  #context(): SpanContext {
    const traceId = this.#id();
    const spanId = this.#id();
    const traceFlags = this.#byte();
    const traceState = this.#string();
    return {
      traceId,
      spanId,
      traceFlags,
      ...(traceState ? { traceState: this.#origin.traceState(traceState) } : {}),
    };
  }

  #attributes(): Attributes {
    const attributes: Attributes = {};
    for (let n = this.#count(); n > 0; n--) {
      const key = this.#string();
      attributes[key] = this.#value() as AttributeValue;
    }
    return attributes;
  }

  #value(): AttributeValue | null {
    switch (this.#byte()) {
      case Tag.String:
        return this.#string();
      case Tag.Number:
        return this.#float();
      case Tag.True:
        return true;
      case Tag.False:
        return false;
      case Tag.Array: {
        const items: unknown[] = [];
        for (let n = this.#count(); n > 0; n--) items.push(this.#value());
        return items as AttributeValue;
      }
      default:
        return null;
    }
  }

  #string(): string {
    return this.#strings[this.#count()] ?? "";
  }

  #id(): string {
    const length = this.#byte();
    const id = this.#bytes.toString("latin1", this.#at, this.#at + length);
    this.#at += length;
    return id;
  }

  #byte(): number {
    return this.#bytes[this.#at++]!;
  }

  #count(): number {
    const value = this.#bytes.readUInt32LE(this.#at);
    this.#at += 4;
    return value;
  }

  #float(): number {
    const value = this.#bytes.readDoubleLE(this.#at);
    this.#at += 8;
    return value;
  }
}

/** Epoch milliseconds as [seconds, nanoseconds]. */
function hrTimeOf(ms: number): HrTime {
  const seconds = Math.floor(ms / 1_000);
  const nanos = Math.min(Math.round((ms - seconds * 1_000) * 1e6), 999_999_999);
  return [seconds, nanos];
}
