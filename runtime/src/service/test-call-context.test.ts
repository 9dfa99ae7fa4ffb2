import { describe, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { Code } from "../errors/tsmicro-error.js";
import { testCallContext } from "./test-call-context.js";

describe("testCallContext", () => {
  it("takes what a handler sets in the response's header and trailer, as a served call does", () => {
    const context = testCallContext({ metadata: { "x-user": "ann" } });
    expect(context.metadata).toEqual({ "x-user": "ann" });
    expect(context.method.path).toBe("/test.Test/Call");
    expect(context.peer).toBe("test");
    expect(context.signal.aborted).toBe(false);
    context.setHeader({ "x-walk": "kept" });
    context.setTrailer({ "x-count": "2" });
    context.sendHeader({ "x-more": "yes" });
    expect(context.responseHeader).toEqual({ "x-walk": "kept", "x-more": "yes" });
    expect(context.responseTrailer).toEqual({ "x-count": "2" });
    // As on a server: the header went out, so it is fixed.
    expect(() => context.setHeader({ late: "1" })).toThrow(/after the response header was sent/);
  });

  it("names the method given, and aborts its signal with DEADLINE_EXCEEDED when the deadline passes", async () => {
    const context = testCallContext({ method: AlphaDefinition.methods.unary, deadline: new Date(Date.now() + 20) });
    expect(context.method.path).toBe("/fixtures.services.v1.Alpha/Unary");
    await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
    expect(context.signal.reason).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
  });
});
