import { describe, expect, it } from "vitest";
import { compileTemplate } from "./compile-template.js";

describe("compileTemplate().match", () => {
  it.each([
    // literals
    ["/", "/", {}],
    ["/", "/v1", undefined],
    ["/v1/books", "/v1/books", {}],
    ["/v1/books", "/v1/book", undefined],
    ["/v1/books", "/v1/books/extra", undefined],
    ["/v1/books", "/v1", undefined],
    ["/v1/books", "v1/books", undefined],
    ["/v1/a%20b", "/v1/a%20b", {}],
    ["/v1/a%20b", "/v1/a b", {}],
    // {field} and {field=*}
    ["/v1/books/{id}", "/v1/books/42", { id: "42" }],
    ["/v1/books/{id=*}", "/v1/books/42", { id: "42" }],
    ["/v1/books/{id}", "/v1/books/42/x", undefined],
    ["/v1/books/*", "/v1/books/42", {}],
    // trailing and doubled slashes: * needs a non-empty segment
    ["/v1/books/{id}", "/v1/books/", undefined],
    ["/v1/books", "/v1/books/", undefined],
    ["/v1/{id}/x", "/v1//x", undefined],
    // percent-encoding: one segment fully decoded, %2F included
    ["/v1/books/{id}", "/v1/books/a%2Fb%20c", { id: "a/b c" }],
    ["/v1/books/{id}", "/v1/books/%E2%82%AC", { id: "€" }],
    ["/v1/books/{id}", "/v1/books/%zz", undefined],
    // nested field paths
    ["/v1/{book.name}", "/v1/moby", { "book.name": "moby" }],
    ["/v1/{shelf}/{book.id}", "/v1/s1/b2", { shelf: "s1", "book.id": "b2" }],
    // {field=a/*/b/**}
    ["/v1/{name=shelves/*/books/**}", "/v1/shelves/s1/books/b2/p/3", { name: "shelves/s1/books/b2/p/3" }],
    ["/v1/{name=shelves/*/books/**}", "/v1/shelves/s1/books", { name: "shelves/s1/books" }],
    ["/v1/{name=shelves/*/books/**}", "/v1/shelves/s1/notes/n", undefined],
    ["/v1/{name=shelves/*}", "/v1/shelves/s1", { name: "shelves/s1" }],
    ["/v1/{name=shelves/*}", "/v1/shelves/s1/x", undefined],
    // ** captures keep slashes, keep %2F encoded, decode the rest
    ["/files/{path=**}", "/files/a/b/c.txt", { path: "a/b/c.txt" }],
    ["/files/{path=**}", "/files/a%2Fb/c%20d", { path: "a%2Fb/c d" }],
    ["/files/{path=**}", "/files/a%2fb", { path: "a%2fb" }],
    ["/files/{path=**}", "/files", { path: "" }],
    ["/files/{path=**}", "/files/a/", { path: "a/" }],
    ["/files/**", "/files/a/b", {}],
    ["/files/{path=**}", "/files/a/%zz", undefined],
    // fixed segments after **: they match from the end, ** takes what is left (zero or more)
    [
      "/v1/{parent=projects/*/documents/*/**}/{collection_id}",
      "/v1/projects/p/documents/rooms/r1/messages",
      { parent: "projects/p/documents/rooms/r1", collection_id: "messages" },
    ],
    [
      "/v1/{parent=projects/*/documents/*/**}/{collection_id}",
      "/v1/projects/p/documents/rooms/r1/messages/m1/likes",
      { parent: "projects/p/documents/rooms/r1/messages/m1", collection_id: "likes" },
    ],
    [
      "/v1/{parent=projects/*/documents/*/**}/{collection_id}",
      "/v1/projects/p/documents/rooms/messages",
      { parent: "projects/p/documents/rooms", collection_id: "messages" },
    ],
    ["/v1/{parent=projects/*/documents/*/**}/{collection_id}", "/v1/projects/p/documents/rooms", undefined],
    ["/v1/{parent=projects/*/documents/*/**}/{collection_id}", "/v1/projects/p/documents/rooms/", undefined],
    ["/v1/{name=keys/**}/summary", "/v1/keys/a/b/summary", { name: "keys/a/b" }],
    ["/v1/{name=keys/**}/summary", "/v1/keys/summary", { name: "keys" }],
    ["/v1/{name=keys/**}/summary", "/v1/keys/a/b/other", undefined],
    ["/v1/{name=keys/**}/summary:purge", "/v1/keys/a/summary:purge", { name: "keys/a" }],
    ["/v1/{name=**/sessions/*}", "/v1/a/b/sessions/s1", { name: "a/b/sessions/s1" }],
    ["/v1/{name=**/sessions/*}", "/v1/sessions/s1", { name: "sessions/s1" }],
    ["/v1/{name=**/sessions/*}", "/v1/a/sessions", undefined],
    // custom verbs
    ["/v1/{name=topics/*}:publish", "/v1/topics/t1:publish", { name: "topics/t1" }],
    ["/v1/{name=topics/*}:publish", "/v1/topics/t1", undefined],
    ["/v1/{name=topics/*}:publish", "/v1/topics/t1:delete", undefined],
    ["/v1/{name}:publish", "/v1/a:b:publish", { name: "a:b" }],
    ["/v1/{name}:publish", "/v1/:publish", undefined],
    ["/v1/books:batchGet", "/v1/books:batchGet", {}],
    ["/v1/books:batchGet", "/v1/books", undefined],
    ["/v1/{path=**}:verb", "/v1/a/b:verb", { path: "a/b" }],
    // an encoded colon is part of the name, never a verb
    ["/v1/{name}:publish", "/v1/t1%3Apublish", undefined],
    // without a verb in the template, a colon is just part of the last segment
    ["/v1/{name}", "/v1/t1:publish", { name: "t1:publish" }],
    ["/v1/books", "/v1/books:batchGet", undefined],
  ])("%s against %s", (template, path, expected) => {
    expect(compileTemplate(template).match(path)).toEqual(expected);
  });

  it("erases variable names from the shape, so equivalent templates compare equal", () => {
    expect(compileTemplate("/v1/{name=shelves/*}/x:do").shape).toBe("/v1/shelves/*/x:do");
    expect(compileTemplate("/v1/{a}").shape).toBe(compileTemplate("/v1/{b=*}").shape);
    expect(compileTemplate("/v1/{a}").shape).not.toBe(compileTemplate("/v1/{a=**}").shape);
    expect(compileTemplate("/v1/a%20b").shape).toBe(compileTemplate("/v1/a%20b").shape);
  });

  it("lists the bound field paths in order", () => {
    expect(compileTemplate("/v1/{shelf}/{book.name=books/*}").fieldPaths).toEqual(["shelf", "book.name"]);
  });
});
