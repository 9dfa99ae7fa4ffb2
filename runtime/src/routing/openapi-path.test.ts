import { describe, expect, it } from "vitest";
import { createPathSpellings, singular, toOpenApiPath } from "./openapi-path.js";

/** The path and, per parameter, `name fieldPath=fieldValue`, with `**` marked. */
function summary(template: string, names?: readonly string[]): [string, string[]] {
  const { path, parameters } = toOpenApiPath(template, names);
  return [path, parameters.map((p) => `${p.name} ${p.fieldPath ?? "-"}=${p.fieldValue}${p.multiSegment ? " **" : ""}`)];
}

describe("toOpenApiPath", () => {
  it("spells out a variable's segments, one parameter per wildcard named after its collection", () => {
    expect(summary("/v1/{name=shelves/*/books/*}:publish")).toEqual([
      "/v1/shelves/{shelf}/books/{book}:publish",
      ["shelf name=shelves/{shelf}/books/{book}", "book name=shelves/{shelf}/books/{book}"],
    ]);
    expect(summary("/v1/{book.name=shelves/*}")).toEqual(["/v1/shelves/{shelf}", ["shelf book.name=shelves/{shelf}"]]);
  });

  it("keeps a variable of one segment as one parameter named by its field path", () => {
    expect(summary("/v1/shelves/{shelf}/files/{path=**}")).toEqual([
      "/v1/shelves/{shelf}/files/{path}",
      ["shelf shelf={shelf}", "path path={path} **"],
    ]);
    expect(summary("/v1/{book.id=*}")).toEqual(["/v1/{book.id}", ["book.id book.id={book.id}"]]);
  });

  it("expands Firestore's fixed tail after **, naming a wildcard without a collection after its field", () => {
    expect(summary("/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}")).toEqual([
      "/v1/projects/{project}/databases/{database}/documents/{document}/{parent}/{collection_id}",
      [
        ...["project", "database", "document"].map(
          (n) => `${n} parent=projects/{project}/databases/{database}/documents/{document}/{parent}`,
        ),
        "parent parent=projects/{project}/databases/{database}/documents/{document}/{parent} **",
        "collection_id collection_id={collection_id}",
      ],
    ]);
    expect(summary("/v1test2/{name=**/botSessions/*}")).toEqual([
      "/v1test2/{name}/botSessions/{botSession}",
      ["name name={name}/botSessions/{botSession} **", "botSession name={name}/botSessions/{botSession}"],
    ]);
  });

  it("gives a derived name that a field already has the next free number", () => {
    expect(summary("/v1/{name=books/*/books/*}/{book}")).toEqual([
      "/v1/books/{book2}/books/{book3}/{book}",
      ["book2 name=books/{book2}/books/{book3}", "book3 name=books/{book2}/books/{book3}", "book book={book}"],
    ]);
  });

  it("names wildcards outside variables, which set no field", () => {
    expect(summary("/v1/*/items/**")).toEqual(["/v1/{v1}/items/{item}", ["v1 -={v1}", "item -={item} **"]]);
    expect(summary("/*")).toEqual(["/{segment}", ["segment -={segment}"]]);
  });

  it("binds a variable without wildcards to its literal value, with no parameter", () => {
    const path = toOpenApiPath("/v1/{name=operations}");
    expect(path.path).toBe("/v1/operations");
    expect(path.parameters).toEqual([]);
    expect(path.boundFields).toEqual(["name"]);
  });

  it("writes literals as a URL carries them", () => {
    expect(toOpenApiPath("/v1/a%20b/x:y/{id}:do").path).toBe("/v1/a%20b/x:y/{id}:do");
  });

  it("renames parameters in order when given names", () => {
    expect(summary("/v1/{name=shelves/*}", ["shelf_id"])).toEqual([
      "/v1/shelves/{shelf_id}",
      ["shelf_id name=shelves/{shelf_id}"],
    ]);
  });
});

describe("singular", () => {
  it.each([
    ["shelves", "shelf"],
    ["books", "book"],
    ["policies", "policy"],
    ["keyRings", "keyRing"],
    ["indexes", "index"],
    ["addresses", "address"],
    ["branches", "branch"],
    ["databases", "database"],
    ["keys", "key"],
    ["data", "data"],
    ["status", "status"],
    ["-", "-"],
  ])("%s -> %s", (plural, expected) => {
    expect(singular(plural)).toBe(expected);
  });
});

describe("createPathSpellings", () => {
  it("spells later paths of a shape with the first one's parameter names, in order", () => {
    const spellings = createPathSpellings();
    expect(spellings.spell("/v1/shelves/{shelf}/books/{book}")).toEqual({
      path: "/v1/shelves/{shelf}/books/{book}",
      shape: "/v1/shelves/{}/books/{}",
      names: ["shelf", "book"],
      renamed: new Map(),
    });
    // Swapped names are renamed at once, not one after the other.
    expect(spellings.spell("/v1/shelves/{book}/books/{shelf}")).toEqual({
      path: "/v1/shelves/{shelf}/books/{book}",
      shape: "/v1/shelves/{}/books/{}",
      names: ["shelf", "book"],
      renamed: new Map([
        ["book", "shelf"],
        ["shelf", "book"],
      ]),
    });
    expect(spellings.spell("/v1/shelves/{name}").path).toBe("/v1/shelves/{name}");
    expect(spellings.spell("/v1/shelves/{id}:archive").path).toBe("/v1/shelves/{id}:archive");
  });
});
