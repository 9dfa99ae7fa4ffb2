import { TraceState } from "@opentelemetry/core";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { describe, expect, it } from "vitest";
import { RecordingSpan } from "./recording-span.js";
import { decodeSpans, exportRequests, SpanWriter } from "./span-record.js";

const origin = {
  resource: resourceFromAttributes({ "service.name": "front" }),
  scope: { name: "@tsmicro/runtime" },
  traceState: (text: string) => new TraceState(text),
};

const ids = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "00f067aa0ba902b7", traceFlags: 1 };

/** The length-delimited fields of a protobuf message, in order: [field number, bytes]. */
function fieldsOf(bytes: Uint8Array): [number, Uint8Array][] {
  const fields: [number, Uint8Array][] = [];
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let scale = 1; ; scale *= 0x80) {
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const tag = varint();
    expect(tag % 8).toBe(2);
    const length = varint();
    fields.push([Math.floor(tag / 8), bytes.subarray(at, at + length)]);
    at += length;
  }
  return fields;
}

/** An ExportTraceServiceRequest holding one ResourceSpans: a resource holding `resourceText`, the scope, then `spans`. */
function expectRequest(request: Uint8Array, resourceText: string, spans: Uint8Array): void {
  const top = fieldsOf(request);
  expect(top.map(([field]) => field)).toEqual([1]);
  const inner = fieldsOf(top[0]![1]);
  expect(inner.map(([field]) => field)).toEqual([1, 2]);
  expect(Buffer.from(inner[0]![1]).toString("latin1")).toContain(resourceText);
  const scopeSpans = inner[1]![1];
  const scoped = fieldsOf(scopeSpans);
  expect(scoped.map(([field]) => field)).toEqual([1, ...scoped.slice(1).map(() => 2)]);
  expect(Buffer.from(scoped[0]![1]).toString("latin1")).toContain("@tsmicro/runtime");
  expect(Buffer.from(scopeSpans.subarray(scopeSpans.length - spans.length))).toEqual(Buffer.from(spans));
}

function endedSpan(): RecordingSpan {
  let ended: RecordingSpan | undefined;
  const span = new RecordingSpan(
    {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "00f067aa0ba902b7",
      traceFlags: 1,
      traceState: new TraceState("vendor=v"),
    },
    {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
      isRemote: true,
    },
    "demo.Alpha/Unary",
    1,
    { "rpc.system": "grpc", "rpc.method": "Unary" },
    [
      {
        context: {
          traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
          spanId: "00f067aa0ba902b8",
          traceFlags: 0,
        },
        attributes: { why: "batch" },
      },
    ],
    (span) => {
      ended = span;
    },
  );
  span.setAttribute("rpc.grpc.status_code", 5);
  span.setAttribute("tags", ["a", "b"]);
  span.setAttribute("flags", [true, false]);
  span.setAttribute("weights", [0.5, 2]);
  span.setAttribute("enduser.id", "Zoë 😀");
  span.recordException(new TypeError("no such account"));
  span.setStatus({ code: 2, message: "no such account" });
  span.updateName("demo.Alpha/Other");
  span.end();
  span.setAttribute("late", true);
  return ended!;
}

describe("span records", () => {
  it("carry a span to the worker whole: ids, parent, times, attributes, events, links, status", () => {
    const span = endedSpan();
    // A small first buffer: the writer grows it as spans come.
    const writer = new SpanWriter(16);
    writer.write(span);
    writer.write(span);
    const batch = writer.take();
    const moved = structuredClone(batch, { transfer: [batch.bytes.buffer] });
    expect(batch.bytes.byteLength).toBe(0);
    const [decoded, again] = decodeSpans(moved, origin);
    expect({ ...again, spanContext: again!.spanContext() }).toEqual({
      ...decoded,
      spanContext: decoded!.spanContext(),
    });
    expect(decoded!.name).toBe("demo.Alpha/Other");
    expect(decoded!.kind).toBe(1);
    expect(decoded!.spanContext()).toMatchObject({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "00f067aa0ba902b7",
      traceFlags: 1,
    });
    expect(decoded!.spanContext().traceState?.serialize()).toBe("vendor=v");
    expect(decoded!.parentSpanContext).toMatchObject({
      spanId: "b7ad6b7169203331",
      isRemote: true,
    });
    expect(decoded!.attributes).toEqual({
      "rpc.system": "grpc",
      "rpc.method": "Unary",
      "rpc.grpc.status_code": 5,
      tags: ["a", "b"],
      flags: [true, false],
      weights: [0.5, 2],
      "enduser.id": "Zoë 😀",
    });
    expect(decoded!.status).toEqual({ code: 2, message: "no such account" });
    expect(decoded!.events).toHaveLength(1);
    expect(decoded!.events[0]!.attributes).toMatchObject({
      "exception.type": "TypeError",
      "exception.message": "no such account",
    });
    expect(decoded!.links[0]).toMatchObject({
      context: { spanId: "00f067aa0ba902b8" },
      attributes: { why: "batch" },
    });
    const startMs = decoded!.startTime[0] * 1_000 + decoded!.startTime[1] / 1e6;
    expect(Math.abs(startMs - span.startMs)).toBeLessThan(0.001);
    expect(decoded!.endTime[1]).toBeLessThan(1e9);
    expect(decoded!.resource).toBe(origin.resource);
  });

  it("are spans OTel's OTLP serializer accepts", () => {
    const writer = new SpanWriter();
    writer.write(endedSpan());
    const json = JSON.parse(
      new TextDecoder().decode(JsonTraceSerializer.serializeRequest(decodeSpans(writer.take(), origin))),
    );
    const otlp = json.resourceSpans[0].scopeSpans[0].spans[0];
    expect(otlp).toMatchObject({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "00f067aa0ba902b7",
      parentSpanId: "b7ad6b7169203331",
      traceState: "vendor=v",
      name: "demo.Alpha/Other",
      kind: 2,
      status: { code: 2, message: "no such account" },
    });
    expect(BigInt(otlp.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(otlp.startTimeUnixNano));
  });

  it("keep long and non-ASCII strings, many attributes, negative and large numbers, and exact nanoseconds", () => {
    let ended: RecordingSpan | undefined;
    const span = new RecordingSpan(
      { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "00f067aa0ba902b7", traceFlags: 1 },
      undefined,
      "x".repeat(300),
      2,
      undefined,
      undefined,
      (s) => {
        ended = s;
      },
    );
    const attributes: Record<string, string | number> = {};
    for (let i = 0; i < 100; i++) attributes[`key.${i}`] = i % 2 ? "é".repeat(i) : -(i + 1) * 1e6;
    attributes.big = 2 ** 53 - 1;
    attributes.fraction = -0.25;
    // Over 16 KB: the span's length takes three bytes, one more than written in front of it.
    attributes.long = "ü".repeat(10_000);
    span.setAttributes(attributes);
    span.end(2_000_000_000_123.5);
    const writer = new SpanWriter(16);
    writer.write(ended!);
    const [decoded] = decodeSpans(writer.take(), origin);
    expect(decoded!.name).toBe("x".repeat(300));
    expect(decoded!.attributes).toEqual(attributes);
    expect(decoded!.endTime).toEqual([2_000_000_000, 123_500_000]);
    expect(decoded!.parentSpanContext).toBeUndefined();
  });

  it("write each time as its exact nanoseconds, in the same second or the next, and ids as their bytes", () => {
    const spans: RecordingSpan[] = [];
    // All after now, so each is the span's end as given; the third carries into the high 32 bits.
    const times = [4_000_000_000_000.25, 4_000_000_000_999.5, 4_000_000_001_999.5, 4_294_967_295_999.75];
    for (const at of times) {
      const span = new RecordingSpan(
        { ...ids, traceId: "0AF7651916CD43DD8448EB211C80319C" },
        { ...ids, spanId: "b7ad6b71g9203331" },
        "x",
        1,
        undefined,
        undefined,
        (s) => spans.push(s),
      );
      span.end(at);
    }
    const writer = new SpanWriter();
    for (const span of spans) writer.write(span);
    const decoded = decodeSpans(writer.take(), origin);
    const nanos = (ms: number) => BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1e6));
    expect(decoded.map((span) => BigInt(span.endTime[0]) * 1_000_000_000n + BigInt(span.endTime[1]))).toEqual(
      times.map(nanos),
    );
    expect(decoded[0]!.spanContext().traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    // Buffer#write's rule: a character that is not hex ends the id, its bytes zeros from there.
    expect(decoded[0]!.parentSpanContext?.spanId).toBe("b7ad6b7100000000");
  });

  it("write a shared (frozen) attribute set once encoded, less the keys a span's own attributes replace", () => {
    const shared = Object.freeze({ "rpc.system": "grpc", "rpc.method": "Unary", "server.port": 50051 });
    const writer = new SpanWriter();
    for (const own of [{ "rpc.grpc.status_code": 0 }, { "rpc.method": "Renamed" }, {}]) {
      const span = new RecordingSpan(ids, undefined, "demo.Alpha/Unary", 1, shared, undefined, (s) => writer.write(s));
      span.setAttributes(own);
      span.end();
    }
    expect(decodeSpans(writer.take(), origin).map((span) => span.attributes)).toEqual([
      { ...shared, "rpc.grpc.status_code": 0 },
      { ...shared, "rpc.method": "Renamed" },
      shared,
    ]);
  });

  it("write the name and kind a span has when it shares its attribute set with spans of another name or kind", () => {
    const shared = Object.freeze({ "rpc.system": "grpc", "rpc.method": "Unary" });
    const writer = new SpanWriter();
    for (const [name, kind, renamed] of [
      ["demo.Alpha/Unary", 1, undefined],
      ["demo.Alpha/Unary", 2, undefined],
      ["demo.Alpha/Unary", 1, "demo.Alpha/Other"],
      ["demo.Alpha/Unary", 1, undefined],
    ] as const) {
      const span = new RecordingSpan(ids, undefined, name, kind, shared, undefined, (s) => writer.write(s));
      if (renamed) span.updateName(renamed);
      span.end();
    }
    const decoded = decodeSpans(writer.take(), origin);
    expect(decoded.map((span) => [span.name, span.kind])).toEqual([
      ["demo.Alpha/Unary", 1],
      ["demo.Alpha/Unary", 2],
      ["demo.Alpha/Other", 1],
      ["demo.Alpha/Unary", 1],
    ]);
    expect(decoded.map((span) => span.attributes)).toEqual([shared, shared, shared, shared]);
  });

  it("become an export request in the batch's own buffer: the resource and scope written before its spans", () => {
    const writer = new SpanWriter();
    writer.write(endedSpan());
    writer.write(endedSpan());
    const batch = writer.take();
    const spans = batch.bytes.slice(batch.start);
    const request = exportRequests(origin)(batch);
    expect(request.buffer).toBe(batch.bytes.buffer);
    expectRequest(request, "front", spans);

    // A resource larger than the room before the spans: the request is a copy, the same bytes.
    const large = { ...origin, resource: resourceFromAttributes({ "service.name": "front", note: "n".repeat(5_000) }) };
    writer.write(endedSpan());
    const next = writer.take();
    const copied = exportRequests(large)(next);
    expect(copied.buffer).not.toBe(next.bytes.buffer);
    expectRequest(copied, "n".repeat(5_000), next.bytes.slice(next.start));
  });

  it("start each batch afresh after take(), in the buffer handed back when it is large enough", () => {
    const spare = new ArrayBuffer(256 * 1024);
    const small = new ArrayBuffer(16);
    const writer = new SpanWriter();
    writer.write(endedSpan());
    expect(decodeSpans(writer.take(small), origin)).toHaveLength(1);
    expect(decodeSpans(writer.take(spare), origin)).toEqual([]);
    writer.write(endedSpan());
    const batch = writer.take();
    expect(batch.bytes.buffer).toBe(spare);
    expect(decodeSpans(batch, origin)).toHaveLength(1);
  });

  it("start each batch afresh after take()", () => {
    const writer = new SpanWriter();
    writer.write(endedSpan());
    expect(decodeSpans(writer.take(), origin)).toHaveLength(1);
    expect(decodeSpans(writer.take(), origin)).toEqual([]);
    writer.write(endedSpan());
    expect(decodeSpans(writer.take(), origin)).toHaveLength(1);
  });

  it("a span records nothing once ended, and ends once", () => {
    let ends = 0;
    const span = new RecordingSpan(
      {
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "00f067aa0ba902b7",
        traceFlags: 1,
      },
      undefined,
      "a",
      0,
      undefined,
      undefined,
      () => ends++,
    );
    span.end();
    span.end();
    span.addEvent("late");
    span.setStatus({ code: 2 });
    expect(ends).toBe(1);
    expect(span.isRecording()).toBe(false);
    expect(span.events).toEqual([]);
    expect(span.status.code).toBe(0);
  });
});
