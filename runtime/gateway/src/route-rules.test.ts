import { describe, expect, it } from "vitest";
import { isSetupError } from "@tsmicro/runtime";
import { createRouteRules, type RouteRule, type RuleRequest } from "./route-rules.js";

const get = (path: string, rpc = ""): RuleRequest => ({ rpc, method: "GET", path });
const call = (rpc: string, method = "POST", path = "/x"): RuleRequest => ({ rpc, method, path });

/** Whether the one rule `match` selects the request. */
function matches(match: string, request: RuleRequest): boolean {
  return createRouteRules([{ match, auth: true }]).resolve(request).auth === true;
}

function setupErrorOf(make: () => unknown): string | undefined {
  try {
    make();
    return undefined;
  } catch (error) {
    return isSetupError(error) ? `${error.code}: ${error.message}` : String(error);
  }
}

describe("createRouteRules", () => {
  it("matches RPC names exactly and by glob, where * spans dots", () => {
    expect(matches("shop.v1.Books.Get", call("shop.v1.Books.Get"))).toBe(true);
    expect(matches("shop.v1.Books.Get", call("shop.v1.Books.GetMany"))).toBe(false);
    expect(matches("shop.v1.Books.*", call("shop.v1.Books.Delete"))).toBe(true);
    expect(matches("shop.v1.Books.*", call("shop.v1.Authors.Delete"))).toBe(false);
    expect(matches("shop.v1.*", call("shop.v1.Authors.Delete"))).toBe(true);
    expect(matches("shop.v1.Books.Get*", call("shop.v1.Books.GetMany"))).toBe(true);
    expect(matches("*", call("anything.At.All"))).toBe(true);
    expect(matches("*", call(""))).toBe(true);
    // A dot is a dot, not a regex wildcard.
    expect(matches("shop.v1.Books.Get", call("shopXv1.Books.Get"))).toBe(false);
    // The gRPC path of the method names it too.
    expect(matches("shop.v1.Books.Get", call("/shop.v1.Books/Get"))).toBe(true);
  });

  it("matches HTTP patterns: method or *, * one segment, ** any number", () => {
    expect(matches("GET /v1/books/*", get("/v1/books/42"))).toBe(true);
    expect(matches("get /v1/books/*", get("/v1/books/42"))).toBe(true);
    expect(matches("GET /v1/books/*", { ...get("/v1/books/42"), method: "DELETE" })).toBe(false);
    expect(matches("GET /v1/books/*", get("/v1/books/42/pages"))).toBe(false);
    expect(matches("GET /v1/books/*", get("/v1/books"))).toBe(false);
    expect(matches("* /v1/admin/**", { ...get("/v1/admin/users/7/roles"), method: "PATCH" })).toBe(true);
    expect(matches("* /v1/admin/**", get("/v1/admin"))).toBe(true);
    expect(matches("* /v1/admin/**", get("/v1/administrators"))).toBe(false);
    expect(matches("* /v1/**/pages/*", get("/v1/books/42/pages/3"))).toBe(true);
    expect(matches("* /v1/**/pages/*", get("/v1/pages/3"))).toBe(true);
    expect(matches("* /v1/**/pages/*", get("/v1/pages/3/4"))).toBe(false);
    expect(matches("* /", get("/"))).toBe(true);
    expect(matches("* /", get("/v1"))).toBe(false);
    expect(matches("GET /v1/books", get("/v1/books?page=2"))).toBe(true);
  });

  it("takes a path variable written as routes are ({id}) for *, and {path=**} for **", () => {
    // As `tsmicro routes` and the OpenAPI document print the route: the rule must guard it.
    expect(matches("DELETE /v1/users/{id}", { rpc: "", method: "DELETE", path: "/v1/users/42" })).toBe(true);
    expect(matches("GET /v1/users/{id}", get("/v1/users/42/orders"))).toBe(false);
    expect(matches("GET /v1/users/{user_id}/orders/{order.id}", get("/v1/users/7/orders/9"))).toBe(true);
    expect(matches("GET /v1/files/{path=**}", get("/v1/files/a/b/c"))).toBe(true);
    expect(matches("GET /v1/books/{id=*}", get("/v1/books/b1"))).toBe(true);
  });

  it("compares decoded segments, as the router does, so an escaped path cannot slip past a rule", () => {
    expect(matches("* /v1/admin/**", get("/v1/%61dmin/users"))).toBe(true);
    expect(matches("* /v1/my%20books", get("/v1/my books"))).toBe(true);
    // %2F stays inside its segment.
    expect(matches("* /v1/a/b", get("/v1/a%2Fb"))).toBe(false);
    expect(matches("* /v1/*", get("/v1/a%2Fb"))).toBe(true);
  });

  it("stays fast on a pattern with many ** and a long path", () => {
    const path = `/${Array.from({ length: 4000 }, () => "a").join("/")}`;
    const started = performance.now();
    expect(matches("* /**/a/**/a/**/a/**/b", get(path))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("resolves a documented operation: a path parameter is matched by wildcards only, never by a literal", () => {
    const rules = createRouteRules([
      { match: "GET /v1/shelves/*", auth: true },
      { match: "GET /v1/shelves/public", auth: false },
      { match: "* /v1/admin/**", auth: true },
      { match: "acme.Library.Purge", auth: true },
    ]);
    const auth = (method: string, path: string, rpc = "acme.Library.Get") =>
      rules.resolveOperation({ rpc, method, path }).auth;
    expect(auth("GET", "/v1/shelves/{shelf}")).toBe(true);
    expect(auth("DELETE", "/v1/shelves/{shelf}")).toBe(false);
    expect(auth("GET", "/v1/shelves/{shelf}/books/{book}")).toBe(false);
    expect(auth("POST", "/v1/admin/{name}:purge")).toBe(true);
    expect(auth("POST", "/v1/books", "acme.Library.Purge")).toBe(true);
    // The literal rule selects one value of {shelf}, not the operation, so it does not lift auth here...
    expect(auth("GET", "/v1/shelves/{shelf}")).toBe(true);
    // ...while a request for that value is resolved by it.
    expect(rules.resolve({ rpc: "acme.Library.Get", method: "GET", path: "/v1/shelves/public" }).auth).toBe(false);
  });

  it('resolves "optional" auth like the other settings: a later rule overrides it', () => {
    const rules = createRouteRules([
      { match: "acme.Library.*", auth: "optional" },
      { match: "acme.Library.Purge", auth: true },
    ]);
    const auth = (rpc: string) => rules.resolve({ rpc, method: "POST", path: "/rpc" }).auth;
    expect(auth("acme.Library.Get")).toBe("optional");
    expect(auth("acme.Library.Purge")).toBe(true);
    expect(auth("acme.Shop.Get")).toBe(false);
  });

  it("merges the rules of a method's other bindings in order with the request's own: the last one decides on every way in", () => {
    const rules = createRouteRules([
      { match: "acme.Library.*", auth: true, rateLimit: { rate: 10 } },
      { match: "GET /v1/books/*", auth: "optional", rateLimit: { rate: Infinity } },
      { match: "DELETE /v1/books/*", auth: true },
      { match: "POST /v1/books/b1:purge", auth: false },
    ]);
    const binding = (method: string, ...segments: string[]) => ({ rpc: "acme.Library.Get", method, segments });
    // POST /rpc sees the binding's rule, which comes after the glob.
    expect(rules.resolve(call("acme.Library.Get", "POST", "/rpc"), [binding("GET", "v1", "books", "b1")])).toEqual({
      auth: "optional",
      rateLimit: undefined,
      matched: [0, 1],
    });
    // A later rule on another binding closes the method again; a still later one opens it.
    expect(rules.resolve(get("/v1/books/b1", "acme.Library.Get"), [binding("DELETE", "v1", "books", "b1")]).auth).toBe(
      true,
    );
    expect(
      rules.resolve(get("/v1/books/b1", "acme.Library.Get"), [
        binding("DELETE", "v1", "books", "b1"),
        binding("POST", "v1", "books", "b1:purge"),
      ]).auth,
    ).toBe(false);
    // HEAD is served by the GET route, so the GET rule holds for it.
    expect(rules.resolve({ ...get("/v1/books/b1", "acme.Library.Get"), method: "HEAD" }).auth).toBe("optional");
  });

  it("merges every matching rule in order, a later rule's setting winning", () => {
    const rules: RouteRule[] = [
      { match: "*", auth: true, rateLimit: { rate: 100 } },
      { match: "shop.v1.Books.*", rateLimit: { rate: 5, burst: 10, per: "route" } },
      { match: "GET /v1/books/*", auth: false },
      { match: "shop.v1.Books.Export", rateLimit: { rate: Infinity } },
    ];
    const resolved = createRouteRules(rules);
    expect(resolved.resolve(call("shop.v1.Authors.Get"))).toEqual({
      auth: true,
      rateLimit: { id: "routes[0]", rate: 100, burst: 100, per: "client" },
      matched: [0],
    });
    expect(resolved.resolve(get("/v1/books/1", "shop.v1.Books.Get"))).toEqual({
      auth: false,
      rateLimit: { id: "routes[1]", rate: 5, burst: 10, per: "route" },
      matched: [0, 1, 2],
    });
    // rate Infinity lifts the earlier limit; auth still comes from rule 0.
    expect(resolved.resolve(call("shop.v1.Books.Export"))).toEqual({
      auth: true,
      rateLimit: undefined,
      matched: [0, 1, 3],
    });
    expect(resolved.rateLimits.map((limit) => limit.id)).toEqual(["routes[0]", "routes[1]"]);
  });

  it("applies the defaults when no rule matches", () => {
    expect(createRouteRules([]).resolve(call("a.B.C"))).toEqual({ auth: false, rateLimit: undefined, matched: [] });
    expect(createRouteRules([{ match: "a.B.Public", auth: false }], { auth: true }).resolve(call("a.B.C")).auth).toBe(
      true,
    );
  });

  it("refuses, when made, a bad pattern, naming the rule index and the pattern", () => {
    const bad = (match: string) => setupErrorOf(() => createRouteRules([{ match: "*" }, { match }]));
    expect(bad("/v1/books")).toBe(
      'TSM_ERR_ROUTE_PATTERN: routes[1]: bad match pattern "/v1/books": an HTTP pattern starts with its method, or * for any: "* /v1/books" or "GET /v1/books"',
    );
    expect(bad("GET v1/books")).toContain('routes[1]: bad match pattern "GET v1/books": the path must start with "/"');
    expect(bad("GET /v1//books")).toContain("empty segment");
    expect(bad("GET /v1/books/")).toContain("empty segment");
    expect(bad("GET /v1/bo*ks")).toContain('segment "bo*ks": a wildcard is * or ** alone');
    expect(bad("GET /v1/{name=shelves/*}")).toContain(
      'segment "{name=shelves": a path variable is one segment, {name} or *, and {name=**} or ** any number; write a template such as {name=shelves/*} as shelves/*',
    );
    expect(bad("POST /v1/books/{id}:publish")).toContain('segment "{id}:publish": a path variable is one segment');
    expect(bad("GET /v1/books?x=1")).toContain("drop the ? query");
    expect(bad("GET /v1/%zz")).toContain("a % must start an escape");
    expect(bad("G-T /v1")).toContain('"G-T" is not an HTTP method');
    expect(bad("GET /v1 extra")).toContain("paths have no spaces");
    expect(bad("shop.v1.Books/Get")).toContain("letters, digits, _, . and the wildcard * only");
    expect(bad("shop.v1.**")).toContain("write * instead of **");
    expect(bad("shop..Books")).toContain("a . must sit between two names");
    expect(bad("GET")).toContain("an RPC name has its service and method");
    expect(bad("")).toContain("the pattern is empty");
  });

  it("refuses, when made, a rate limit or auth it cannot use, naming the setting", () => {
    const bad = (rule: RouteRule) => setupErrorOf(() => createRouteRules([rule], {}, "gateway.json: routes"));
    expect(bad({ match: "*", rateLimit: { rate: -1 } })).toContain(
      "TSM_ERR_GATEWAY_OPTION: gateway.json: routes[0].rateLimit.rate has an invalid value -1",
    );
    expect(bad({ match: "*", rateLimit: { rate: 1, burst: 0 } })).toContain("routes[0].rateLimit.burst");
    expect(bad({ match: "*", rateLimit: { rate: 1, per: "user" as "client" } })).toContain(
      'routes[0].rateLimit.per has an invalid value "user": expected "client"',
    );
    expect(bad({ match: "*", auth: "yes" as unknown as boolean })).toContain(
      'routes[0].auth has an invalid value "yes": expected true (a token is needed), false or "optional"',
    );
    expect(bad({ match: "*", auth: "optional" })).toBeUndefined();
    expect(bad({ match: "GET /v1/*/x" })).toBeUndefined();
    const named = createRouteRules([{ match: "*", rateLimit: { rate: 1 } }], {}, "gateway.json: routes");
    expect(named.rateLimits.map((limit) => limit.id)).toEqual(["routes[0]"]);
  });
});
