import { describe, expect, it } from "vitest";
import { isSetupError } from "../errors/setup-error.js";
import { createRouter } from "./router.js";

const maintenance = [
  { method: "POST", path: "/v3/maintenance/hash", name: "etcdserverpb.Maintenance.Hash" },
  { method: "POST", path: "/v3/maintenance/hash", name: "etcdserverpb.Maintenance.HashKV" },
  { method: "POST", path: "/v3/maintenance/status", name: "etcdserverpb.Maintenance.Status" },
];

const library = [
  { method: "GET", path: "/v1/{shelf}/{rest=**}", name: "Library.Browse" },
  { method: "GET", path: "/v1/{name=shelves/*/books/*}", name: "Library.GetBook" },
  { method: "GET", path: "/v1/shelves/{shelf}/books/special", name: "Library.GetSpecial" },
  { method: "DELETE", path: "/v1/{name=shelves/*/books/*}", name: "Library.DeleteBook" },
  { method: "POST", path: "/v1/{name=shelves/*/books/*}:publish", name: "Library.PublishBook" },
];

describe("createRouter", () => {
  it.each([
    ["GET", "/v1/shelves/s1/books/b1", "Library.GetBook", { name: "shelves/s1/books/b1" }],
    ["get", "/v1/shelves/s1/books/b1", "Library.GetBook", { name: "shelves/s1/books/b1" }],
    ["DELETE", "/v1/shelves/s1/books/b1", "Library.DeleteBook", { name: "shelves/s1/books/b1" }],
    ["POST", "/v1/shelves/s1/books/b1:publish", "Library.PublishBook", { name: "shelves/s1/books/b1" }],
    // the last registered match wins: GetSpecial is tried before GetBook, which also matches it
    ["GET", "/v1/shelves/s1/books/special", "Library.GetSpecial", { shelf: "s1" }],
    ["GET", "/v1/shelves/s1/notes", "Library.Browse", { shelf: "shelves", rest: "s1/notes" }],
  ])("%s %s goes to %s", (method, path, name, variables) => {
    const match = createRouter(library).find(method, path);
    expect(match?.route.name).toBe(name);
    expect(match?.variables).toEqual(variables);
  });

  it.each([
    ["PUT", "/v1/shelves/s1/books/b1"],
    ["POST", "/v1/shelves/s1/books/b1"],
    ["PATCH", "/v1/shelves/s1/books/b1:publish"],
    ["GET", "/v2/x"],
  ])("finds nothing for %s %s", (method, path) => {
    expect(createRouter(library).find(method, path)).toBeUndefined();
  });

  it.each([
    ["/v1/shelves/s1/books/b1", ["DELETE", "GET"]],
    // DeleteBook has no verb, so its last variable takes "b1:publish" whole.
    ["/v1/shelves/s1/books/b1:publish", ["DELETE", "GET", "POST"]],
    ["/v2/x", []],
  ])("knows which methods a path has routes for: %s", (path, methods) => {
    expect(createRouter(library).methodsFor(path)).toEqual(methods);
  });

  it("knows every method some route takes", () => {
    expect(
      createRouter([...library, { method: "search", path: "/v1/search", name: "Library.Search" }]).methods,
    ).toEqual(["DELETE", "GET", "POST", "SEARCH"]);
  });

  it("serves an identical pattern from the last route registered, as grpc-gateway v2, and reports the conflict", () => {
    const router = createRouter(maintenance);
    expect(router.find("POST", "/v3/maintenance/hash")?.route.name).toBe("etcdserverpb.Maintenance.HashKV");
    expect(router.conflicts).toHaveLength(1);
    const [conflict] = router.conflicts;
    expect(conflict?.method).toBe("POST");
    expect(conflict?.shape).toBe("/v3/maintenance/hash");
    expect(conflict?.serving.name).toBe("etcdserverpb.Maintenance.HashKV");
    expect(conflict?.shadowed.map((r) => r.name)).toEqual(["etcdserverpb.Maintenance.Hash"]);
    expect(conflict?.message).toContain("etcdserverpb.Maintenance.Hash (");
    expect(conflict?.message).toContain("etcdserverpb.Maintenance.HashKV serves it");
  });

  it("treats templates differing only in variable names as a conflict, and other methods or verbs not", () => {
    const router = createRouter([
      { method: "GET", path: "/v1/{name=books/*}", name: "A" },
      { method: "get", path: "/v1/books/{id}", name: "B" },
      { method: "DELETE", path: "/v1/books/{id}", name: "C" },
      { method: "GET", path: "/v1/books/{id}:read", name: "D" },
      { method: "GET", path: "/v1/books/{id=**}", name: "E" },
    ]);
    expect(router.conflicts.map((c) => [c.serving.name, c.shadowed.map((r) => r.name)])).toEqual([["B", ["A"]]]);
    expect(router.find("GET", "/v1/books/1")?.route.name).toBe("E");
    // E has no verb, so it takes "1:read" whole, and being registered after D it is tried first
    expect(router.find("GET", "/v1/books/1:read")?.variables).toEqual({ id: "1:read" });
  });

  it("has no conflicts when every route is distinct", () => {
    expect(createRouter(library).conflicts).toEqual([]);
  });

  it("rejects a bad template naming the route", () => {
    let error: unknown;
    try {
      createRouter([{ method: "GET", path: "/v1/{name", name: "Library.GetBook" }]);
    } catch (caught) {
      error = caught;
    }
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_HTTP_TEMPLATE");
    expect((error as Error).message).toMatch(/^Library\.GetBook: bad path template/);
  });
});
