import { describe, expect, it } from "vitest";
import { bindingsBeside } from "./binding-paths.js";
import { createRouteRules } from "./route-rules.js";

describe("bindingsBeside", () => {
  const rules = createRouteRules([
    { match: "GET /api/v1/shelves/*/books/*", auth: true },
    { match: "GET /api/v1/authors/secret", auth: true },
  ]);
  const guarded = (own: { method: string; template: string }, others: { method: string; template: string }[]) =>
    bindingsBeside("pkg.Library.Get", own, [own, ...others], "/api").map((b) => rules.resolveBinding(b).auth);

  it("fills another binding's path with what the operation's own template fixes", () => {
    const book = { method: "GET", template: "/v1/{name=shelves/*/books/*}" };
    // The same variable in the same shape: every request of the second operation is one the rule guards.
    expect(guarded({ method: "GET", template: "/v2/{name=shelves/*/books/*}" }, [book])).toEqual([true]);
    expect(
      bindingsBeside("pkg.Library.Get", { method: "GET", template: "/v2/{name=shelves/*/books/*}" }, [book], "/api"),
    ).toEqual([
      { rpc: "pkg.Library.Get", method: "GET", segments: ["api", "v1", "shelves", undefined, "books", undefined] },
    ]);
    // A name under archive/ can never be a shelf's book; one segment may be anything, so only some are.
    expect(guarded({ method: "GET", template: "/v2/{name=archive/**}" }, [book])).toEqual([false]);
    expect(guarded({ method: "GET", template: "/v2/books/{name}" }, [book])).toEqual([false]);
  });

  it("never lets a literal of a rule stand for a value the operation leaves open", () => {
    const author = { method: "GET", template: "/v1/authors/{author}" };
    expect(guarded({ method: "POST", template: "/v2/authors/{author}:lookup" }, [author])).toEqual([false]);
  });
});
