import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { readTree, repoRoot } from "./support/cli.js";
import { redoclyLint } from "./support/redocly.js";

const goldenDir = join(repoRoot, "test/golden");
const openApiFiles = [...(await readTree(goldenDir)).keys()].filter((name) => name.endsWith(".openapi.json")).sort();

/** Every `$ref` value in a document. */
function refs(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refs);
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, v]) => (key === "$ref" && typeof v === "string" ? [v] : refs(v)));
}

async function readDocument(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(goldenDir, name), "utf8")) as Record<string, unknown>;
}

describe("generated OpenAPI documents", () => {
  it("exist for every fixture file with services", () => {
    expect(openApiFiles).toContain("12-http/http.openapi.json");
    expect(openApiFiles).toContain("09-imports/billing/v1/billing_service.openapi.json");
  });

  it.each(openApiFiles)("%s is valid OpenAPI 3.1 and every $ref resolves", async (name) => {
    const document = await readDocument(name);
    const result = await new Validator().validate(document);
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe("3.1.0");
    expect(document["x-generated-by"]).toMatch(/^protoc-gen-tsmicro v\S+ from \S+\.proto; DO NOT EDIT$/);
    const schemas = (document.components as { schemas: Record<string, unknown> }).schemas;
    for (const ref of refs(document)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(schemas, ref).toHaveProperty([ref.slice("#/components/schemas/".length)]);
    }
  });

  it("pass redocly lint with its recommended rules, without an error", async () => {
    const result = await redoclyLint(openApiFiles.map((name) => join(goldenDir, name)));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toContain("Your API descriptions are valid");
  });

  it("12-http has one operation per google.api.http binding and none for unannotated methods", async () => {
    const document = await readDocument("12-http/http.openapi.json");
    const paths = document.paths as Record<string, Record<string, { operationId: string; deprecated?: boolean }>>;
    const operations = Object.entries(paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
    );
    expect(operations.sort()).toEqual([
      "DELETE /v1/shelves/{shelf}/books/{book} LibraryService_DeleteBook",
      "GET /v1/files/{path} LibraryService_GetFile",
      "GET /v1/shelves/{shelf} LibraryService_GetShelf",
      "GET /v1/shelves/{shelf}/books LibraryService_ListBooks",
      "GET /v1/shelves/{shelf}/books/{book} LibraryService_GetBook",
      "GET /v1beta/books/{name} LibraryService_LegacyGetBook",
      "GET /v2/shelves/{shelf}/books LibraryService_ListBooks_1",
      "HEAD /v1/ping LibraryService_Ping",
      "PATCH /v1/shelves/{shelf}/books/{book} LibraryService_UpdateBook",
      "POST /v1/shelves/{shelf}/books LibraryService_CreateBook",
      "POST /v1/shelves/{shelf}/books/{book}:publish LibraryService_PublishBook",
      "POST /v2/shelves/{shelf}/books:search LibraryService_ListBooks_2",
      "PUT /v1/shelves/{shelf} LibraryService_ReplaceShelf",
    ]);
    expect(paths["/v1beta/books/{name}"]?.get?.deprecated).toBe(true);
  });

  it("12-http documents the parameters of an expanded variable and the request field they fill", async () => {
    const document = await readDocument("12-http/http.openapi.json");
    type Parameter = { name: string; in: string; required?: boolean; description?: string };
    const paths = document.paths as Record<string, Record<string, { parameters: Parameter[] }>>;
    const update = paths["/v1/shelves/{shelf}/books/{book}"]?.patch?.parameters ?? [];
    expect(update.filter((p) => p.in === "path")).toEqual([
      expect.objectContaining({ name: "shelf", required: true, description: expect.stringContaining("`book.name`") }),
      expect.objectContaining({ name: "book", required: true }),
    ]);
    expect(update[0]?.description).toContain("shelves/{shelf}/books/{book}");
    // The field the path fills is not a query parameter as well.
    const get = paths["/v1/shelves/{shelf}/books/{book}"]?.get?.parameters ?? [];
    expect(get.map((p) => p.name)).toEqual(["shelf", "book"]);
  });

  it("12-http leaves the fields the path sets out of the request body", async () => {
    const document = await readDocument("12-http/http.openapi.json");
    type Body = { requestBody: { content: { "application/json": { schema: { properties?: object } } } } };
    const paths = document.paths as Record<string, Record<string, Body>>;
    const bodyFields = (path: string, method: string) =>
      Object.keys(paths[path]?.[method]?.requestBody.content["application/json"].schema.properties ?? {});
    // body "*": the message without `name`; body "book" with book.name in the path: the book without it.
    expect(bodyFields("/v1/shelves/{shelf}/books/{book}:publish", "post")).toEqual(["edition", "copies"]);
    expect(bodyFields("/v1/shelves/{shelf}/books/{book}", "patch")).toEqual(["author", "title", "read"]);
    expect(bodyFields("/v1/shelves/{shelf}", "put")).toEqual(["theme", "books"]);
  });

  it("15-openapi maps proto3 JSON types and lists apart the routes OpenAPI or the gateway cannot serve", async () => {
    const document = await readDocument("15-openapi/catalog.openapi.json");
    const schemas = (document.components as { schemas: Record<string, { properties: Record<string, unknown> }> })
      .schemas;
    const item = schemas["fixtures.openapi.v2beta1.Item"]?.properties ?? {};
    expect(item.id).toMatchObject({ type: "string", format: "int64", readOnly: true });
    expect(schemas["fixtures.openapi.v2beta1.Item"]).toMatchObject({ required: ["displayName"] });
    expect(item.count).toEqual({ type: "integer", format: "int32" });
    expect(item.displayName).toEqual({ type: "string" });
    expect(item.renamed).toEqual({ type: "string" });
    expect(item.created).toEqual({ type: "string", format: "date-time" });
    expect(item.bigWrapper).toEqual({ type: ["string", "null"], format: "int64" });
    expect(item.totals).toEqual({ type: "object", additionalProperties: { type: "string", format: "int64" } });
    expect(schemas["fixtures.openapi.v2beta1.Color"]).toMatchObject({
      type: "string",
      enum: ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_BLUE"],
    });
    expect(Object.keys(schemas).some((name) => name.startsWith("google.protobuf."))).toBe(false);
    expect(document.info).toEqual({ title: "catalog.proto", version: "v2beta1" });
    expect(document["x-unlisted-routes"]).toEqual([
      expect.objectContaining({ method: "LOCK", operationId: "Catalog_GetItem_2" }),
      {
        method: "POST",
        path: "/v2/items:upload",
        operationId: "Catalog_UploadItems",
        reason: "the method streams requests, which HTTP/JSON cannot carry (the gateway answers 501)",
      },
    ]);
    expect(Object.keys(document.paths as object)).toContain("/v2/archive/{archive}");
    // google.api.field_behavior: REQUIRED makes a required query parameter (not inside an optional
    // message), OUTPUT_ONLY leaves the field out of the query. A Struct and a Value take JSON,
    // which the gateway reads from no query parameter: not listed; a Timestamp is, repeated too,
    // and a map of strings, its entries as attributes[key]=value (deepObject).
    type Parameter = { name: string; in: string; required?: boolean };
    const paths = document.paths as Record<string, Record<string, { parameters: Parameter[] }>>;
    const query = (paths["/v2/catalogs/{catalog}/items"]?.get?.parameters ?? []).filter((p) => p.in === "query");
    expect(query.map((p) => [p.name, p.required ?? false])).toEqual([
      ["filter.author", false],
      ["filter.since", false],
      ["ids", true],
      ["attributes", false],
      ["since", false],
      ["days", false],
    ]);
    expect(query.find((p) => p.name === "attributes")).toMatchObject({ style: "deepObject", explode: true });
  });
});
