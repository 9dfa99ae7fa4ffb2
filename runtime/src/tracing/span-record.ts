import type { Attributes, AttributeValue, HrTime, Link, SpanContext, TraceState } from "@opentelemetry/api";
import type { InstrumentationScope } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace";
import { ProtoWriter, varintSize, Wire } from "./proto-writer.js";
import type { RecordingSpan } from "./recording-span.js";

/**
 * Finished spans as they cross to the export worker: each span already in
 * OTLP's protobuf encoding, as the `spans` entries of a ScopeSpans message,
 * in bytes whose buffer is transferred, not copied. The worker puts the
 * resource and scope around them and posts them as they are (http/protobuf),
 * or reads them back for OTel's JSON serializer (http/json). Writing a span
 * costs the service's thread about what copying its fields would, and the
 * worker no longer encodes each span again.
 */
export interface SpanBatch {
  /** The spans from `start` on; the bytes before are room for the request around them. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly start: number;
  readonly count: number;
}

/** OTLP's field numbers (opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto). */
const ScopeSpansField = { scope: 1, spans: 2 } as const;
const SpanField = {
  traceId: 1,
  spanId: 2,
  traceState: 3,
  parentSpanId: 4,
  name: 5,
  kind: 6,
  start: 7,
  end: 8,
  attributes: 9,
  events: 11,
  links: 13,
  status: 15,
  flags: 16,
} as const;
const EventField = { time: 1, name: 2, attributes: 3 } as const;
const LinkField = { traceId: 1, spanId: 2, traceState: 3, attributes: 4, flags: 6 } as const;
const StatusField = { message: 2, code: 3 } as const;
const KeyValueField = { key: 1, value: 2 } as const;
const AnyValueField = { string: 1, bool: 2, int: 3, double: 4, array: 5 } as const;
const ResourceSpansField = { resource: 1, scopeSpans: 2 } as const;

/** OTLP span flags: the W3C trace flags, and whether (and that) the parent is remote. */
const hasIsRemote = 0x100;
const isRemote = 0x200;

/**
 * Room left before each batch's spans for the request around them (its
 * resource and scope), so the export worker sends the batch's own bytes.
 */
const envelopeRoom = 2048;

/** Writes ended spans into one batch until `take()`; the next batch starts as large as the last one grew. */
export class SpanWriter {
  readonly #out: ProtoWriter;
  #count = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#out = new ProtoWriter(initialBytes, envelopeRoom);
  }

  /**
   * The batch written so far, whose buffer the caller may transfer; the
   * writer starts a new one, on `next` when it is large enough (the buffer of
   * a batch already exported).
   */
  take(next?: ArrayBuffer): SpanBatch {
    const batch = { bytes: this.#out.take(next), start: envelopeRoom, count: this.#count };
    this.#count = 0;
    return batch;
  }

  /** Appends `span`. */
  write(span: RecordingSpan): void {
    const out = this.#out;
    const context = span.spanContext();
    // A span takes a few hundred bytes: its length, two.
    const start = out.begin(ScopeSpansField.spans, 2);
    out.hexBytes(SpanField.traceId, context.traceId);
    out.hexBytes(SpanField.spanId, context.spanId);
    const traceState = context.traceState?.serialize();
    if (traceState) out.string(SpanField.traceState, traceState);
    out.hexBytes(SpanField.parentSpanId, span.parent?.spanId ?? "");
    writeNameKindAndAttributes(out, span);
    out.tag(SpanField.start, Wire.Fixed64);
    out.nanosFromMs(span.startMs);
    out.tag(SpanField.end, Wire.Fixed64);
    out.nanosFromMs(span.endMs);
    writeAttributes(out, SpanField.attributes, span.ownAttributes);
    for (const event of span.events) {
      const at = out.begin(SpanField.events);
      out.tag(EventField.time, Wire.Fixed64);
      out.nanosFromMs(event.timeMs);
      out.string(EventField.name, event.name);
      writeAttributes(out, EventField.attributes, event.attributes);
      out.end(at);
    }
    for (const link of span.links) {
      const at = out.begin(SpanField.links);
      out.hexBytes(LinkField.traceId, link.context.traceId);
      out.hexBytes(LinkField.spanId, link.context.spanId);
      const linkState = link.context.traceState?.serialize();
      if (linkState) out.string(LinkField.traceState, linkState);
      writeAttributes(out, LinkField.attributes, link.attributes);
      out.tag(LinkField.flags, Wire.Fixed32);
      out.fixed32(spanFlags(link.context.traceFlags, link.context.isRemote));
      out.end(at);
    }
    const status = out.begin(SpanField.status);
    if (span.status.message) out.string(StatusField.message, span.status.message);
    out.tag(StatusField.code, Wire.Varint);
    out.varint(span.status.code);
    out.end(status);
    out.tag(SpanField.flags, Wire.Fixed32);
    out.fixed32(spanFlags(context.traceFlags, span.parent?.isRemote));
    out.end(start, 2);
    this.#count++;
  }
}

function spanFlags(traceFlags: number, remote: boolean | undefined): number {
  return (traceFlags & 0xff) | hasIsRemote | (remote ? isRemote : 0);
}

/** A span's name, kind and shared attributes as encoded once, for the spans of that name and kind that share the set. */
interface EncodedHead {
  readonly name: string;
  readonly kind: number;
  /** Name, kind and attributes. */
  readonly bytes: Uint8Array;
  /** The attributes alone: the end of `bytes`. */
  readonly attributes: Uint8Array;
}

/** Per frozen attribute set (those spans share, per method and peer), the first name and kind written with it. */
const encodedHeads = new WeakMap<Attributes, EncodedHead>();

/**
 * A span's name, kind and base attributes (less those its own attributes
 * replace). The spans of a method share their attribute set, name and kind:
 * all three are encoded once and copied, as the fields of a message may
 * come in any order.
 */
function writeNameKindAndAttributes(out: ProtoWriter, span: RecordingSpan): void {
  const base = span.baseAttributes;
  const own = span.ownAttributes;
  if (!base || !Object.isFrozen(base) || (own && replacesAny(own, base))) {
    writeNameAndKind(out, span.name, span.kind);
    writeAttributes(out, SpanField.attributes, base, own);
    return;
  }
  let head = encodedHeads.get(base);
  if (!head) {
    head = encodeHead(span.name, span.kind, base);
    encodedHeads.set(base, head);
  }
  if (head.name === span.name && head.kind === span.kind) {
    out.raw(head.bytes);
  } else {
    // A span renamed: its own name and kind, and the set's attributes.
    writeNameAndKind(out, span.name, span.kind);
    out.raw(head.attributes);
  }
}

function encodeHead(name: string, kind: number, attributes: Attributes): EncodedHead {
  const writer = new ProtoWriter(256);
  writeNameAndKind(writer, name, kind);
  const nameAndKind = writer.take();
  writeAttributes(writer, SpanField.attributes, attributes);
  const encodedAttributes = writer.take();
  const bytes = new Uint8Array(nameAndKind.length + encodedAttributes.length);
  bytes.set(nameAndKind);
  bytes.set(encodedAttributes, nameAndKind.length);
  return { name, kind, bytes, attributes: bytes.subarray(nameAndKind.length) };
}

function writeNameAndKind(out: ProtoWriter, name: string, kind: number): void {
  out.string(SpanField.name, name);
  // OTLP's kinds count from UNSPECIFIED = 0; the API's from INTERNAL = 0.
  out.tag(SpanField.kind, Wire.Varint);
  out.varint(kind + 1);
}

function replacesAny(own: Attributes, base: Attributes): boolean {
  for (const key in own) if (key in base) return true;
  return false;
}

/** Attributes as repeated KeyValue in `field`, values as OTel's serializer writes them; keys in `except` are left out. */
export function writeAttributes(
  out: ProtoWriter,
  field: number,
  attributes: Attributes | undefined,
  except?: Attributes,
): void {
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined || (except && key in except)) continue;
    const at = out.begin(field);
    out.string(KeyValueField.key, key);
    const valueAt = out.begin(KeyValueField.value);
    writeValue(out, value);
    out.end(valueAt);
    out.end(at);
  }
}

function writeValue(out: ProtoWriter, value: AttributeValue | null | undefined): void {
  if (typeof value === "string") {
    out.string(AnyValueField.string, value);
  } else if (typeof value === "boolean") {
    out.tag(AnyValueField.bool, Wire.Varint);
    out.varint(value ? 1 : 0);
  } else if (typeof value === "number") {
    if (Number.isSafeInteger(value)) {
      out.tag(AnyValueField.int, Wire.Varint);
      out.int64(value);
    } else {
      out.tag(AnyValueField.double, Wire.Fixed64);
      out.double(value);
    }
  } else if (Array.isArray(value)) {
    const at = out.begin(AnyValueField.array);
    for (const item of value) {
      const itemAt = out.begin(1);
      writeValue(out, item);
      out.end(itemAt);
    }
    out.end(at);
  }
  // null (inside an array): an empty AnyValue, as OTel writes it.
}

/** The resource and scope every batch of one service is sent under. */
export interface SpanOrigin {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  /** A TraceState of header text (`@opentelemetry/core`'s TraceState). */
  readonly traceState: (text: string) => TraceState;
}

/**
 * The OTLP ExportTraceServiceRequest of a batch: one ResourceSpans with the
 * origin's resource, holding one ScopeSpans with its scope and the spans.
 * The resource and scope are encoded once; each batch gets the request's
 * head written into its room before the spans, and is sent as it is.
 */
export function exportRequests(origin: SpanOrigin): (batch: SpanBatch) => Uint8Array {
  const fixed = new ProtoWriter(1024);
  const resource = fixed.begin(ResourceSpansField.resource);
  writeAttributes(fixed, 1, origin.resource.attributes);
  fixed.end(resource);
  const resourceBytes = fixed.take();
  const scope = fixed.begin(ScopeSpansField.scope);
  fixed.string(1, origin.scope.name);
  if (origin.scope.version) fixed.string(2, origin.scope.version);
  fixed.end(scope);
  const scopeBytes = fixed.take();
  return (batch) => {
    const spans = batch.bytes.subarray(batch.start);
    const scopeSpansLength = scopeBytes.length + spans.length;
    const head = new ProtoWriter(resourceBytes.length + scopeBytes.length + 32);
    head.tag(1, Wire.Bytes);
    head.varint(resourceBytes.length + 1 + varintSize(scopeSpansLength) + scopeSpansLength);
    head.raw(resourceBytes);
    head.tag(ResourceSpansField.scopeSpans, Wire.Bytes);
    head.varint(scopeSpansLength);
    head.raw(scopeBytes);
    const headBytes = head.take();
    if (headBytes.length <= batch.start) {
      const from = batch.start - headBytes.length;
      batch.bytes.set(headBytes, from);
      return batch.bytes.subarray(from);
    }
    // A resource too large for the room: the request is a copy.
    const request = new Uint8Array(headBytes.length + spans.length);
    request.set(headBytes);
    request.set(spans, headBytes.length);
    return request;
  };
}

/** The spans of `batch` as the ReadableSpans OTel's serializers take, on the export worker (http/json). */
export function decodeSpans(batch: SpanBatch, origin: SpanOrigin): ReadableSpan[] {
  const reader = new ProtoReader(batch.bytes, batch.start);
  const spans: ReadableSpan[] = [];
  while (reader.more()) {
    reader.tag();
    spans.push(readSpan(reader.message(), origin));
  }
  return spans;
}

function readSpan(reader: ProtoReader, origin: SpanOrigin): ReadableSpan {
  let traceId = "";
  let spanId = "";
  let traceState = "";
  let parentSpanId = "";
  let name = "";
  let kind = 0;
  let startTime: HrTime = [0, 0];
  let endTime: HrTime = [0, 0];
  let flags = 0;
  let status: { code: number; message?: string } = { code: 0 };
  const attributes: Attributes = {};
  const events: TimedEvent[] = [];
  const links: Link[] = [];
  while (reader.more()) {
    const [field, wire] = reader.tag();
    switch (field) {
      case SpanField.traceId:
        traceId = reader.hex();
        break;
      case SpanField.spanId:
        spanId = reader.hex();
        break;
      case SpanField.traceState:
        traceState = reader.string();
        break;
      case SpanField.parentSpanId:
        parentSpanId = reader.hex();
        break;
      case SpanField.name:
        name = reader.string();
        break;
      case SpanField.kind:
        kind = reader.varint() - 1;
        break;
      case SpanField.start:
        startTime = reader.hrTime();
        break;
      case SpanField.end:
        endTime = reader.hrTime();
        break;
      case SpanField.attributes:
        readKeyValue(reader.message(), attributes);
        break;
      case SpanField.events:
        events.push(readEvent(reader.message()));
        break;
      case SpanField.links:
        links.push(readLink(reader.message(), origin));
        break;
      case SpanField.status:
        status = readStatus(reader.message());
        break;
      case SpanField.flags:
        flags = reader.fixed32();
        break;
      default:
        reader.skip(wire);
    }
  }
  const context: SpanContext = {
    traceId,
    spanId,
    traceFlags: flags & 0xff,
    ...(traceState ? { traceState: origin.traceState(traceState) } : {}),
  };
  const parentSpanContext: SpanContext | undefined = parentSpanId
    ? { traceId, spanId: parentSpanId, traceFlags: context.traceFlags, isRemote: (flags & isRemote) !== 0 }
    : undefined;
  const durationNanos = (endTime[0] - startTime[0]) * 1e9 + (endTime[1] - startTime[1]);
  return {
    name,
    kind,
    spanContext: () => context,
    parentSpanContext,
    startTime,
    endTime,
    duration: [Math.floor(durationNanos / 1e9), durationNanos % 1e9],
    status,
    attributes,
    links,
    events,
    ended: true,
    resource: origin.resource,
    instrumentationScope: origin.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

function readEvent(reader: ProtoReader): TimedEvent {
  const event: { name: string; time: HrTime; attributes: Attributes } = { name: "", time: [0, 0], attributes: {} };
  while (reader.more()) {
    const [field, wire] = reader.tag();
    if (field === EventField.time) event.time = reader.hrTime();
    else if (field === EventField.name) event.name = reader.string();
    else if (field === EventField.attributes) readKeyValue(reader.message(), event.attributes);
    else reader.skip(wire);
  }
  return event;
}

function readLink(reader: ProtoReader, origin: SpanOrigin): Link {
  let traceId = "";
  let spanId = "";
  let traceState = "";
  let flags = 0;
  const attributes: Attributes = {};
  while (reader.more()) {
    const [field, wire] = reader.tag();
    if (field === LinkField.traceId) traceId = reader.hex();
    else if (field === LinkField.spanId) spanId = reader.hex();
    else if (field === LinkField.traceState) traceState = reader.string();
    else if (field === LinkField.attributes) readKeyValue(reader.message(), attributes);
    else if (field === LinkField.flags) flags = reader.fixed32();
    else reader.skip(wire);
  }
  const context: SpanContext = {
    traceId,
    spanId,
    traceFlags: flags & 0xff,
    ...(flags & hasIsRemote ? { isRemote: (flags & isRemote) !== 0 } : {}),
    ...(traceState ? { traceState: origin.traceState(traceState) } : {}),
  };
  return { context, attributes };
}

function readStatus(reader: ProtoReader): { code: number; message?: string } {
  const status: { code: number; message?: string } = { code: 0 };
  while (reader.more()) {
    const [field, wire] = reader.tag();
    if (field === StatusField.message) status.message = reader.string();
    else if (field === StatusField.code) status.code = reader.varint();
    else reader.skip(wire);
  }
  return status;
}

function readKeyValue(reader: ProtoReader, into: Attributes): void {
  let key = "";
  let value: AttributeValue | null = null;
  while (reader.more()) {
    const [field, wire] = reader.tag();
    if (field === KeyValueField.key) key = reader.string();
    else if (field === KeyValueField.value) value = readValue(reader.message());
    else reader.skip(wire);
  }
  into[key] = value as AttributeValue;
}

function readValue(reader: ProtoReader): AttributeValue | null {
  let value: AttributeValue | null = null;
  while (reader.more()) {
    const [field, wire] = reader.tag();
    if (field === AnyValueField.string) value = reader.string();
    else if (field === AnyValueField.bool) value = reader.varint() === 1;
    else if (field === AnyValueField.int) value = reader.int64();
    else if (field === AnyValueField.double) value = reader.double();
    else if (field === AnyValueField.array) {
      const items: (AttributeValue | null)[] = [];
      const array = reader.message();
      while (array.more()) {
        array.tag();
        items.push(readValue(array.message()));
      }
      value = items as AttributeValue;
    } else reader.skip(wire);
  }
  return value;
}

/** Reads back what ProtoWriter writes: the worker's side of the JSON path. */
class ProtoReader {
  readonly #bytes: Buffer;
  #at: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#at = start;
    this.#end = end;
  }

  more(): boolean {
    return this.#at < this.#end;
  }

  tag(): [field: number, wire: number] {
    const tag = this.varint();
    return [Math.floor(tag / 8), tag % 8];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.#bytes[this.#at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  }

  int64(): number {
    const start = this.#at;
    const value = this.varint();
    // Ten bytes: a negative number in two's complement.
    return this.#at - start === 10 ? Number(BigInt.asIntN(64, this.#bigVarint(start))) : value;
  }

  #bigVarint(start: number): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) value |= BigInt(this.#bytes[start + i]! & 0x7f) << BigInt(7 * i);
    return value;
  }

  double(): number {
    const value = this.#bytes.readDoubleLE(this.#at);
    this.#at += 8;
    return value;
  }

  fixed32(): number {
    const value = this.#bytes.readUInt32LE(this.#at);
    this.#at += 4;
    return value;
  }

  /** fixed64 nanoseconds as [seconds, nanoseconds]. */
  hrTime(): HrTime {
    const low = this.fixed32();
    const high = this.fixed32();
    const total = BigInt(high) * 0x1_0000_0000n + BigInt(low);
    return [Number(total / 1_000_000_000n), Number(total % 1_000_000_000n)];
  }

  string(): string {
    const length = this.varint();
    const text = this.#bytes.toString("utf8", this.#at, this.#at + length);
    this.#at += length;
    return text;
  }

  hex(): string {
    const length = this.varint();
    const text = this.#bytes.toString("hex", this.#at, this.#at + length);
    this.#at += length;
    return text;
  }

  message(): ProtoReader {
    const length = this.varint();
    const reader = new ProtoReader(this.#bytes, this.#at, this.#at + length);
    this.#at += length;
    return reader;
  }

  skip(wire: number): void {
    if (wire === Wire.Varint) this.varint();
    else if (wire === Wire.Fixed64) this.#at += 8;
    else if (wire === Wire.Fixed32) this.#at += 4;
    else this.#at += this.varint();
  }
}
