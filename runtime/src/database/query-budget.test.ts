import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import { servedCallAnswered, servedCallScope } from "../service/served-call.js";
import { queryBudget } from "./query-budget.js";

/** A served call whose deadline is `leftMs` after `now`. */
function callWith(now: number, leftMs: number): CallContext {
  return { deadline: new Date(now + leftMs), method: { path: "/t.Svc/Do" } } as unknown as CallContext;
}

describe("a query's budget under a served call", () => {
  const now = 1_000_000;
  const budgetWith = (call: CallContext) => servedCallScope.run(call, () => queryBudget(now));

  it("leaves a fifth of what is left, at most 250 ms, for the failure's way back to the caller", () => {
    // The caller's deadline comes a little before the server's: without the reserve it would read its own.
    expect(budgetWith(callWith(now, 1_000))).toEqual({ ms: 800, path: "/t.Svc/Do" });
    expect(budgetWith(callWith(now, 3_000))).toEqual({ ms: 2_750, path: "/t.Svc/Do" });
    expect(budgetWith(callWith(now, 2))).toEqual({ ms: 1, path: "/t.Svc/Do" });
  });

  it("is 0 once the deadline has passed, and none outside a call, without a deadline or once answered", () => {
    expect(budgetWith(callWith(now, -5))?.ms).toBe(0);
    expect(queryBudget(now)).toBeUndefined();
    expect(budgetWith({ method: { path: "/t.Svc/Do" } } as unknown as CallContext)).toBeUndefined();
    const answered = callWith(now, 1_000);
    servedCallAnswered(answered);
    expect(budgetWith(answered)).toBeUndefined();
  });
});
