import { describe, expect, it } from "vitest";
import { loadOtelApi } from "./otel-api.js";
import { leanTracer } from "./lean-tracer.js";
import { RandomIds, samplerOf } from "./sampling.js";

const api = loadOtelApi();

describe("leanTracer", () => {
  it("starts a new sampled trace at the root, recording nothing", () => {
    const tracer = leanTracer(api, samplerOf("parentbased_always_on", 1), new RandomIds());
    const span = tracer.startSpan("a", {}, api.ROOT_CONTEXT);
    const ids = span.spanContext();
    expect(api.isSpanContextValid(ids)).toBe(true);
    expect(ids.traceFlags).toBe(api.TraceFlags.SAMPLED);
    expect(span.isRecording()).toBe(false);
  });

  it("continues the caller's trace with a span id of its own, keeping its sampling decision and tracestate", () => {
    const tracer = leanTracer(api, samplerOf("parentbased_always_on", 1), new RandomIds());
    const parent = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: api.TraceFlags.NONE,
      traceState: api.createTraceState("vendor=value"),
    };
    const context = api.trace.setSpanContext(api.ROOT_CONTEXT, parent);
    const ids = tracer.startSpan("child", {}, context).spanContext();
    expect(ids.traceId).toBe(parent.traceId);
    expect(ids.spanId).not.toBe(parent.spanId);
    // The caller did not sample: parent-based sampling keeps that.
    expect(ids.traceFlags).toBe(api.TraceFlags.NONE);
    expect(ids.traceState?.serialize()).toBe("vendor=value");
  });

  it("starts a new trace, sampled as a root, under a parent whose ids cannot propagate", () => {
    const tracer = leanTracer(api, samplerOf("parentbased_always_on", 1), new RandomIds());
    const invalid = { traceId: "0".repeat(32), spanId: "b7ad6b7169203331", traceFlags: api.TraceFlags.NONE };
    const ids = tracer.startSpan("a", {}, api.trace.setSpanContext(api.ROOT_CONTEXT, invalid)).spanContext();
    expect(ids.traceId).not.toBe(invalid.traceId);
    expect(api.isSpanContextValid(ids)).toBe(true);
    // Not the unsampled flag of the parent: the root sampler's decision.
    expect(ids.traceFlags).toBe(api.TraceFlags.SAMPLED);
  });

  it("follows a root sampler that samples nothing", () => {
    const tracer = leanTracer(api, samplerOf("parentbased_always_off", 1), new RandomIds());
    expect(tracer.startSpan("a", {}, api.ROOT_CONTEXT).spanContext().traceFlags).toBe(api.TraceFlags.NONE);
  });

  it("startActiveSpan hands the function a span and returns its result", () => {
    const tracer = leanTracer(api, samplerOf("parentbased_always_on", 1), new RandomIds());
    const seen = tracer.startActiveSpan("a", (span) => span.spanContext().spanId);
    expect(seen).toMatch(/^[0-9a-f]{16}$/);
  });
});
