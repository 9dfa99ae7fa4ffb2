import { describe, expect, it } from "vitest";
import { isTsmicroError } from "../errors/tsmicro-error.js";
import { buildRequestFields, lowerCamel, type RequestFieldsInput } from "./request-fields.js";

describe("buildRequestFields", () => {
  it.each<[string, RequestFieldsInput, Record<string, unknown>]>([
    ["path variables only", { variables: { name: "shelves/1" } }, { name: "shelves/1" }],
    [
      "nested path variables",
      { variables: { "book.name": "b1", shelf_id: "s" } },
      { book: { name: "b1" }, shelfId: "s" },
    ],
    ["query parameters", { variables: {}, query: "?page_size=10&filter=x" }, { pageSize: "10", filter: "x" }],
    ["JSON names in the query", { variables: {}, query: "pageSize=10" }, { pageSize: "10" }],
    ["nested query parameters", { variables: {}, query: "a.b_c=1&a.d=2" }, { a: { bC: "1", d: "2" } }],
    ["repeated query parameters", { variables: {}, query: "tags=a&tags=b" }, { tags: ["a", "b"] }],
    [
      "a repeated field given once, when the caller says it is repeated",
      { variables: {}, query: "tags=a&x=1", isRepeated: (path) => path === "tags" },
      { tags: ["a"], x: "1" },
    ],
    ["URLSearchParams", { variables: {}, query: new URLSearchParams([["q", "a b"]]) }, { q: "a b" }],
    ["%-escapes and +", { variables: {}, query: "q=caf%C3%A9+au+lait&r=100%25" }, { q: "café au lait", r: "100%" }],
    [
      "bytes that are not UTF-8 in a parameter that sets no field, ignored as grpc-gateway ignores it",
      {
        variables: {},
        query: "utm=caf%E9&q=x",
        field: (name) => (name === "q" ? { jsonPath: ["q"], repeated: false, convert: (v) => v } : undefined),
      },
      { q: "x" },
    ],
    ["a U+FFFD the query spells", { variables: {}, query: "q=%EF%BF%BD" }, { q: "\uFFFD" }],
    [
      "a query parameter for a path-bound field (or inside it) is ignored",
      { variables: { "book.name": "b1" }, query: "book.name=evil&book=x&book.name.x=y&other=1" },
      { book: { name: "b1" }, other: "1" },
    ],
    [
      'body "*": the body is the message, path variables win, the query is ignored',
      { variables: { name: "n1" }, query: "extra=1", bodyField: "*", body: { name: "n0", title: "T" } },
      { name: "n1", title: "T" },
    ],
    [
      'body "field": the body goes into the field, the rest from the query',
      { variables: { shelf: "s1" }, query: "request_id=r&book.title=evil", bodyField: "book", body: { title: "T" } },
      { shelf: "s1", requestId: "r", book: { title: "T" } },
    ],
    [
      'body "field" with a path variable inside the field',
      { variables: { "book.name": "b1" }, bodyField: "book", body: { name: "n0", title: "T" } },
      { book: { name: "b1", title: "T" } },
    ],
    [
      "no body: everything from path and query",
      { variables: { name: "n1" }, query: "view=FULL", body: { ignored: true } },
      { name: "n1", view: "FULL" },
    ],
    [
      "a caller-supplied name mapping",
      { variables: { Book_ID: "1" }, query: "Page=2", jsonName: (n) => n.toLowerCase() },
      { book_id: "1", page: "2" },
    ],
  ])("%s", (_, input, expected) => {
    expect(buildRequestFields(input)).toEqual(expected);
  });

  it("does not change the caller's body", () => {
    const body = { name: "n0" };
    buildRequestFields({ variables: { name: "n1" }, bodyField: "*", body });
    buildRequestFields({ variables: { "book.name": "n1" }, bodyField: "book", body });
    expect(body).toEqual({ name: "n0" });
  });

  it.each<[string, RequestFieldsInput, string]>([
    ["a body that is not an object", { variables: {}, bodyField: "*", body: [1] }, "must be a JSON object"],
    ["a parameter setting inside a string", { variables: {}, query: "a=1&a.b=2" }, "a.b sets a field inside a"],
    ["__proto__ in a parameter", { variables: {}, query: "__proto__.polluted=1" }, "is not a field name"],
    ["an empty name part", { variables: {}, query: "a..b=1" }, "is not a field name"],
    ["a %-escape of no hex digits", { variables: {}, query: "q=%zz" }, 'the query "q=%zz" has a malformed %-escape'],
    [
      "a %-escape of bytes that are not UTF-8",
      { variables: {}, query: "q=caf%E9" },
      "query parameter q has %-escapes of bytes that are not UTF-8",
    ],
    ["a malformed %-escape in a name", { variables: {}, query: "q%zz=1" }, "has a malformed %-escape"],
  ])("rejects %s as INVALID_ARGUMENT", (_, input, message) => {
    let error: unknown;
    try {
      buildRequestFields(input);
    } catch (caught) {
      error = caught;
    }
    expect(isTsmicroError(error) && error.code).toBe(3);
    expect((error as Error).message).toContain(message);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});

describe("lowerCamel", () => {
  it.each([
    ["page_size", "pageSize"],
    ["pageSize", "pageSize"],
    ["a_b_c", "aBC"],
    ["field_1", "field1"],
    ["name", "name"],
  ])("%s -> %s", (name, json) => {
    expect(lowerCamel(name)).toBe(json);
  });
});
