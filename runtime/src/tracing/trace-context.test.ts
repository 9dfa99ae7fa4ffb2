import { describe, expect, it } from "vitest";
import { formatTraceparent, headerOf, isPropagatable, parseTraceparent } from "./trace-context.js";

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const spanId = "00f067aa0ba902b7";

describe("traceparent", () => {
  it("reads a version 00 header, sampled or not, as a remote span context", () => {
    expect(parseTraceparent(`00-${traceId}-${spanId}-01`)).toEqual({
      traceId,
      spanId,
      traceFlags: 1,
      isRemote: true,
    });
    expect(parseTraceparent(` 00-${traceId}-${spanId}-00 `)?.traceFlags).toBe(0);
  });

  it("reads a later version's first four fields and ignores what it appends", () => {
    expect(parseTraceparent(`01-${traceId}-${spanId}-01-what-comes-next`)?.spanId).toBe(spanId);
  });

  it.each([
    ["too short", `00-${traceId}-${spanId}-0`],
    ["version 00 with more fields", `00-${traceId}-${spanId}-01-extra`],
    ["version ff", `ff-${traceId}-${spanId}-01`],
    ["upper-case hex", `00-${traceId.toUpperCase()}-${spanId}-01`],
    ["an all-zero trace id", `00-${"0".repeat(32)}-${spanId}-01`],
    ["an all-zero span id", `00-${traceId}-${"0".repeat(16)}-01`],
    ["a missing dash", `00-${traceId}x${spanId}-01`],
    ["non-hex flags", `00-${traceId}-${spanId}-0g`],
    ["a later version with no dash after the flags", `01-${traceId}-${spanId}-01x`],
    ["a character past ASCII in the trace id", `00-${traceId.slice(0, 31)}é-${spanId}-01`],
  ])("refuses %s", (_, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it("writes what it reads", () => {
    for (const flags of ["00", "01"]) {
      const header = `00-${traceId}-${spanId}-${flags}`;
      expect(formatTraceparent(parseTraceparent(header)!)).toBe(header);
    }
  });

  it("propagates only ids of the right length that are not all zeros", () => {
    expect(isPropagatable({ traceId, spanId, traceFlags: 1 })).toBe(true);
    expect(isPropagatable({ traceId: "0".repeat(32), spanId, traceFlags: 1 })).toBe(false);
    expect(isPropagatable({ traceId, spanId: "abc", traceFlags: 1 })).toBe(false);
  });

  it("reads a header given once or repeated: tracestate joined, the first traceparent", () => {
    expect(headerOf({ tracestate: ["a=1", "b=2"] }, "tracestate")).toBe("a=1,b=2");
    expect(headerOf({ traceparent: ["x", "y"] }, "traceparent")).toBe("x");
    expect(headerOf({ traceparent: new Uint8Array() }, "traceparent")).toBeUndefined();
  });
});
