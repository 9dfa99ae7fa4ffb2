import { describe, expect, it } from "vitest";
import { loadOtelApi } from "./otel-api.js";
import { SpanOnlyContext } from "./span-context.js";

const api = loadOtelApi();
const span = api.trace.wrapSpanContext({
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  traceFlags: 1,
});

describe("SpanOnlyContext", () => {
  it("is a context holding the span, as OTel's API reads it", () => {
    const context = new SpanOnlyContext(api, span);
    expect(api.trace.getSpan(context)).toBe(span);
    expect(api.trace.getSpanContext(context)).toEqual(span.spanContext());
    expect(context.getValue(api.createContextKey("other"))).toBeUndefined();
  });

  it("keeps the span when a value is set on it, and is the root context without it", () => {
    const key = api.createContextKey("tenant");
    const extended = new SpanOnlyContext(api, span).setValue(key, "acme");
    expect(extended.getValue(key)).toBe("acme");
    expect(api.trace.getSpan(extended)).toBe(span);
    const withoutSpan = api.trace.deleteSpan(new SpanOnlyContext(api, span));
    expect(api.trace.getSpan(withoutSpan)).toBeUndefined();
    expect(new SpanOnlyContext(api, span).deleteValue(key).getValue(key)).toBeUndefined();
  });
});

describe("SpanOnlyContext with the call it was made for", () => {
  const callKey = Symbol("call");
  const call = { method: "Echo" };

  it("holds the call beside the span, through values set on it", () => {
    const context = new SpanOnlyContext(api, span, callKey, call);
    expect(context.getValue(callKey)).toBe(call);
    const key = api.createContextKey("tenant");
    const extended = context.setValue(key, "acme");
    expect(extended.getValue(callKey)).toBe(call);
    expect(extended.getValue(key)).toBe("acme");
    expect(api.trace.getSpan(extended)).toBe(span);
    // A child span made active keeps the call: what the handler calls under it still belongs to the call.
    const child = api.trace.wrapSpanContext({ ...span.spanContext(), spanId: "00f067aa0ba902b8" });
    expect(api.trace.setSpan(context, child).getValue(callKey)).toBe(call);
  });

  it("drops the span or the call alone", () => {
    const context = new SpanOnlyContext(api, span, callKey, call);
    const withoutSpan = api.trace.deleteSpan(context);
    expect(api.trace.getSpan(withoutSpan)).toBeUndefined();
    expect(withoutSpan.getValue(callKey)).toBe(call);
    const withoutCall = context.deleteValue(callKey);
    expect(withoutCall.getValue(callKey)).toBeUndefined();
    expect(api.trace.getSpan(withoutCall)).toBe(span);
  });
});
