import { describe, expect, it } from "vitest";
import { httpStatusByCode, httpStatusOf } from "./http-status.js";
import { Code } from "./tsmicro-error.js";

describe("httpStatusOf", () => {
  it("maps every gRPC code", () => {
    expect(Object.keys(httpStatusByCode)).toHaveLength(Object.keys(Code).length);
    expect(httpStatusOf(Code.NOT_FOUND)).toBe(404);
    expect(httpStatusOf(Code.UNAVAILABLE)).toBe(503);
    expect(httpStatusOf(Code.RESOURCE_EXHAUSTED)).toBe(429);
    expect(httpStatusOf(Code.UNAUTHENTICATED)).toBe(401);
    expect(httpStatusOf(Code.DEADLINE_EXCEEDED)).toBe(504);
  });

  it("answers 500 for a code it does not know", () => {
    expect(httpStatusOf(99)).toBe(500);
  });
});
