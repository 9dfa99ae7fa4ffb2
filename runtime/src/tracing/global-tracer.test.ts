import type { Tracer, TracerProvider } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { lendToGlobalTracer } from "./global-tracer.js";
import { leanTracer } from "./lean-tracer.js";
import { loadOtelApi } from "./otel-api.js";
import { RecordingSpan } from "./recording-span.js";
import { RandomIds, samplerOf } from "./sampling.js";

const api = loadOtelApi();
const withdrawals: (() => void)[] = [];

afterEach(() => {
  for (const withdraw of withdrawals.splice(0)) withdraw();
  api.trace.disable();
});

/** A tracing's tracer, recording (as with an exporter) into `ended` when given. */
function lend(ended?: RecordingSpan[]): Tracer {
  const tracer = leanTracer(api, samplerOf("always_on", 1), new RandomIds(), ended && ((span) => ended.push(span)));
  withdrawals.push(lendToGlobalTracer(api, tracer));
  return tracer;
}

describe("lendToGlobalTracer", () => {
  it("gives user code a span of the tracer of the span it runs in, or of the first tracing outside any", () => {
    const first: RecordingSpan[] = [];
    const second: RecordingSpan[] = [];
    lend(first);
    const secondTracer = lend(second);
    const user = api.trace.getTracer("shop");
    const call = secondTracer.startSpan("call");
    const inside = user.startSpan("inside", {}, api.trace.setSpan(api.ROOT_CONTEXT, call));
    expect(inside).toBeInstanceOf(RecordingSpan);
    expect(inside.spanContext().traceId).toBe(call.spanContext().traceId);
    inside.end();
    expect(second.map((span) => span.name)).toEqual(["inside"]);
    user.startSpan("outside", {}, api.ROOT_CONTEXT).end();
    expect(first.map((span) => span.name)).toEqual(["outside"]);
  });

  it("inside a span that records nothing, gives ids alone under its trace, whatever tracing records", () => {
    lend([]);
    const idsOnly = leanTracer(api, samplerOf("always_on", 1), new RandomIds()).startSpan("call");
    const active = api.trace.setSpan(api.ROOT_CONTEXT, idsOnly);
    const span = api.trace.getTracer("shop").startActiveSpan("inside", {}, active, (inside) => inside);
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe(idsOnly.spanContext().traceId);
    expect(span.spanContext().spanId).not.toBe(idsOnly.spanContext().spanId);
  });

  it("leaves a tracer provider the program registered first in place", () => {
    const own = { startSpan: () => undefined, startActiveSpan: () => undefined } as unknown as Tracer;
    const provider: TracerProvider = { getTracer: () => own };
    expect(api.trace.setGlobalTracerProvider(provider)).toBe(true);
    lend();
    expect(api.trace.getTracer("shop")).toBe(own);
  });
});
