import type { Tracer, TracerProvider } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { lendToGlobalTracer } from "./global-tracer.js";
import { leanTracer } from "./lean-tracer.js";
import { loadOtelApi } from "./otel-api.js";
import { RandomIds, samplerOf } from "./sampling.js";

const api = loadOtelApi();

afterEach(() => {
  api.trace.disable();
});

describe("lendToGlobalTracer", () => {
  it("leaves a tracer provider the program registered first in place", () => {
    const own = { startSpan: () => undefined, startActiveSpan: () => undefined } as unknown as Tracer;
    const provider: TracerProvider = { getTracer: () => own };
    expect(api.trace.setGlobalTracerProvider(provider)).toBe(true);
    const withdraw = lendToGlobalTracer(api, leanTracer(api, samplerOf("always_on", 1), new RandomIds()));
    try {
      expect((api.trace.getTracerProvider() as unknown as { getDelegate(): TracerProvider }).getDelegate()).toBe(
        provider,
      );
    } finally {
      withdraw();
    }
  });
});
