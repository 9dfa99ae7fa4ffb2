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
