import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import { servedCall, servedCallScope, unansweredServedCall, withoutCancel } from "./served-call.js";
import { testCallContext } from "./test-call-context.js";

describe("withoutCancel", () => {
  it("runs its work for the call served, without the call's deadline and cancel, with its metadata", () => {
    const cancel = new AbortController();
    const call: CallContext = {
      ...testCallContext({ metadata: { tenant: "acme" }, deadline: new Date(Date.now() - 1) }),
      signal: cancel.signal,
    };
    cancel.abort();
    servedCallScope.run(call, () => {
      const seen = withoutCancel(() => unansweredServedCall());
      expect(seen?.deadline).toBeUndefined();
      expect(seen?.signal.aborted).toBe(false);
      expect(seen?.metadata).toEqual({ tenant: "acme" });
      expect(seen?.method).toBe(call.method);
      // Back in the call's own scope after it.
      expect(servedCall()).toBe(call);
    });
  });

  it("reads and changes the call's own state, kept in private fields as a server's context keeps it", () => {
    class Context {
      #header: Record<string, string> = {};
      readonly deadline = new Date();
      readonly signal = AbortSignal.abort();
      get responseHeader() {
        return this.#header;
      }
      setHeader(metadata: Record<string, string>) {
        this.#header = { ...this.#header, ...metadata };
      }
    }
    const call = new Context() as unknown as CallContext;
    servedCallScope.run(call, () =>
      withoutCancel(() => {
        servedCall()?.setHeader({ cleaned: "yes" });
        expect(servedCall()?.responseHeader).toEqual({ cleaned: "yes" });
      }),
    );
    expect(call.responseHeader).toEqual({ cleaned: "yes" });
  });

  it("runs its work as it is outside any call", () => {
    expect(withoutCancel(() => servedCall())).toBeUndefined();
    expect(withoutCancel(() => 42)).toBe(42);
  });
});
