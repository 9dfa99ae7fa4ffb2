import { describe, expect, it } from "vitest";
import { isSetupError } from "../errors/setup-error.js";
import { parsePathTemplate } from "./path-template.js";

describe("parsePathTemplate", () => {
  it.each([
    ["/", [], undefined],
    [
      "/v1/books",
      [
        { kind: "literal", value: "v1" },
        { kind: "literal", value: "books" },
      ],
      undefined,
    ],
    ["/v1/*", [{ kind: "literal", value: "v1" }, { kind: "wildcard" }], undefined],
    ["/v1/**", [{ kind: "literal", value: "v1" }, { kind: "deep-wildcard" }], undefined],
    ["/{id}", [{ kind: "variable", fieldPath: ["id"], segments: [{ kind: "wildcard" }] }], undefined],
    ["/{id=*}", [{ kind: "variable", fieldPath: ["id"], segments: [{ kind: "wildcard" }] }], undefined],
    [
      "/v1/{book.name=shelves/*/books/**}",
      [
        { kind: "literal", value: "v1" },
        {
          kind: "variable",
          fieldPath: ["book", "name"],
          segments: [
            { kind: "literal", value: "shelves" },
            { kind: "wildcard" },
            { kind: "literal", value: "books" },
            { kind: "deep-wildcard" },
          ],
        },
      ],
      undefined,
    ],
    [
      "/v1/{name=topics/*}:publish",
      [
        { kind: "literal", value: "v1" },
        {
          kind: "variable",
          fieldPath: ["name"],
          segments: [{ kind: "literal", value: "topics" }, { kind: "wildcard" }],
        },
      ],
      "publish",
    ],
    [
      "/v1/books:batchGet",
      [
        { kind: "literal", value: "v1" },
        { kind: "literal", value: "books" },
      ],
      "batchGet",
    ],
    [
      "/v1/a:b:undelete",
      [
        { kind: "literal", value: "v1" },
        { kind: "literal", value: "a:b" },
      ],
      "undelete",
    ],
    [
      "/v1/a:b/c",
      [
        { kind: "literal", value: "v1" },
        { kind: "literal", value: "a:b" },
        { kind: "literal", value: "c" },
      ],
      undefined,
    ],
    ["/v1/**:verb", [{ kind: "literal", value: "v1" }, { kind: "deep-wildcard" }], "verb"],
    [
      "/v1/a%20b%3Ac",
      [
        { kind: "literal", value: "v1" },
        { kind: "literal", value: "a b:c" },
      ],
      undefined,
    ],
    ["/{a_b.c_1}", [{ kind: "variable", fieldPath: ["a_b", "c_1"], segments: [{ kind: "wildcard" }] }], undefined],
    // fixed segments after the one **, as grpc-gateway accepts (Firestore's ListDocuments)
    [
      "/v1/{parent=documents/*/**}/{collection_id}",
      [
        { kind: "literal", value: "v1" },
        {
          kind: "variable",
          fieldPath: ["parent"],
          segments: [{ kind: "literal", value: "documents" }, { kind: "wildcard" }, { kind: "deep-wildcard" }],
        },
        { kind: "variable", fieldPath: ["collection_id"], segments: [{ kind: "wildcard" }] },
      ],
      undefined,
    ],
    ["/v1/**/x:y", [{ kind: "literal", value: "v1" }, { kind: "deep-wildcard" }, { kind: "literal", value: "x" }], "y"],
  ])("parses %s", (template, segments, verb) => {
    expect(parsePathTemplate(template)).toEqual({ template, segments, verb });
  });

  it.each([
    ["", 1, 'must start with "/"'],
    ["v1/books", 1, 'must start with "/"'],
    ["//books", 2, "empty segment"],
    ["/v1/", 5, "empty segment"],
    ["/v1//x", 5, "empty segment"],
    ["/v1/{name", 5, "never closed"],
    ["/v1/{name=*", 5, "never closed"],
    ["/v1/{}", 6, "expected a field name"],
    ["/v1/{1a}", 6, "expected a field name"],
    ["/v1/{a.}", 8, "expected a field name"],
    ["/v1/{a=}", 8, "empty segment"],
    ["/v1/{a={b}}", 8, "cannot contain another variable"],
    ["/v1/{a=x:y}", 9, "cannot be inside a variable"],
    ["/v1/{a b}", 7, 'expected "}"'],
    ["/v1/{a}x", 8, "fills its whole segment"],
    ["/v1/{a}/{a}", 9, "bound twice"],
    ["/v1/{a}/{a.b}", 9, "overlap"],
    ["/v1/**/x/**", 10, "at most one **"],
    ["/v1/{a=**}/{b=**}", 15, "at most one **"],
    ["/v1/***", 5, "* or ** alone"],
    ["/v1/a*", 6, "not allowed in a literal"],
    ["/v1/a b", 6, "not allowed in a literal"],
    ["/v1/a%zz", 6, "escape"],
    ["/v1/%ff", 5, "not valid UTF-8"],
    ["/v1/x:", 6, ":verb after the last segment is empty"],
    ["/v1/:verb", 5, "cannot be only a :verb"],
    ["/v1/{a}:", 8, ":verb after the last segment is empty"],
    ["/v1/{a}:x:y", 10, "not allowed in a :verb"],
    ["/v1/a}", 6, "not allowed in a literal"],
  ])("rejects %j at column %i", (template, column, message) => {
    let error: unknown;
    try {
      parsePathTemplate(template, "library.Library.GetBook");
    } catch (caught) {
      error = caught;
    }
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_HTTP_TEMPLATE");
    expect((error as Error).message).toContain(
      `library.Library.GetBook: bad path template ${JSON.stringify(template)} at column ${column}: `,
    );
    expect((error as Error).message).toContain(message);
  });
});
