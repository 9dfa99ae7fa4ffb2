import { describe, expect, it } from "vitest";
import { RandomIds, samplerOf } from "./sampling.js";

const sampledParent = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 };
const unsampledParent = { ...sampledParent, traceFlags: 0 };

describe("samplers", () => {
  it("always_on and always_off decide alone; their parent-based forms follow a parent's flag", () => {
    expect(samplerOf("always_on", 1)(unsampledParent, sampledParent.traceId)).toBe(true);
    expect(samplerOf("always_off", 1)(sampledParent, sampledParent.traceId)).toBe(false);
    const on = samplerOf("parentbased_always_on", 1);
    expect([on(undefined, "1".repeat(32)), on(sampledParent, ""), on(unsampledParent, "")]).toEqual([
      true,
      true,
      false,
    ]);
    const off = samplerOf("parentbased_always_off", 1);
    expect([off(undefined, "1".repeat(32)), off(sampledParent, ""), off(unsampledParent, "")]).toEqual([
      false,
      true,
      false,
    ]);
  });

  it("traceidratio samples by the trace id's random 56 bits: the same id always alike, about the ratio of ids", () => {
    const quarter = samplerOf("traceidratio", 0.25);
    expect(quarter(undefined, `${"f".repeat(18)}00000000000000`)).toBe(true);
    expect(quarter(undefined, `${"0".repeat(18)}40000000000001`)).toBe(false);
    const ids = new RandomIds();
    const traces = Array.from({ length: 20_000 }, () => ids.traceId());
    const share = traces.filter((id) => quarter(undefined, id)).length / traces.length;
    expect(share).toBeGreaterThan(0.23);
    expect(share).toBeLessThan(0.27);
    expect(traces.map((id) => quarter(undefined, id))).toEqual(traces.map((id) => quarter(undefined, id)));
    expect(samplerOf("parentbased_traceidratio", 0)(sampledParent, "")).toBe(true);
    expect(samplerOf("traceidratio", 0)(undefined, "f".repeat(32))).toBe(false);
    expect(samplerOf("traceidratio", 1)(undefined, "f".repeat(32))).toBe(true);
  });
});

describe("random ids", () => {
  it("are lower-case hex of 16 and 8 bytes, and differ", () => {
    const ids = new RandomIds();
    const traces = new Set(Array.from({ length: 1_000 }, () => ids.traceId()));
    const spans = new Set(Array.from({ length: 1_000 }, () => ids.spanId()));
    expect(traces.size).toBe(1_000);
    expect(spans.size).toBe(1_000);
    for (const id of traces) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spans) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });

  it("never hands out an id of zeros, which W3C Trace Context calls invalid", () => {
    // Pool bytes: zeros for the first trace id, then other bytes.
    const ids = new RandomIds((pool) => {
      pool.fill(0);
      pool.fill(0xab, 16);
    });
    expect(ids.traceId()).toBe("ab".repeat(16));
    expect(ids.spanId()).toBe("ab".repeat(8));
  });
});
