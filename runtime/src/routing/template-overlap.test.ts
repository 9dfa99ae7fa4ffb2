import { describe, expect, it } from "vitest";
import { compileTemplate } from "./compile-template.js";
import { overlappingPath } from "./template-overlap.js";

/** The path both match, checked against both compiled templates. */
function overlap(a: string, b: string): string | undefined {
  const path = overlappingPath(a, b);
  if (path !== undefined) {
    expect(compileTemplate(a).match(path), `${a} matches ${path}`).toBeDefined();
    expect(compileTemplate(b).match(path), `${b} matches ${path}`).toBeDefined();
  }
  return path;
}

describe("overlappingPath", () => {
  it("finds a path two templates of different shapes both match", () => {
    expect(
      overlap(
        "/v1/{name=projects/*/databases/*/documents/*/**}",
        "/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}",
      ),
    ).toBe("/v1/projects/x/databases/x/documents/x/x");
    expect(overlap("/v1/{name=shelves/*}", "/v1/{name=**}")).toBe("/v1/shelves/x");
    expect(overlap("/v1/shelves/{shelf}", "/v1/{name=*/latest}")).toBe("/v1/shelves/latest");
    expect(overlap("/v1/{a=**}/tail", "/v1/head/{b=**}")).toBe("/v1/head/tail");
  });

  it("finds none where a literal, the segment count or the verb tells them apart", () => {
    expect(overlap("/v1/{name=shelves/*}", "/v1/{name=books/*}")).toBeUndefined();
    expect(overlap("/v1/shelves/{shelf}", "/v1/shelves/{shelf}/books")).toBeUndefined();
    expect(overlap("/v1/{name=shelves/*}:publish", "/v1/{name=shelves/*}:archive")).toBeUndefined();
    expect(overlap("/v1/shelves/books:latest", "/v1/shelves/books")).toBeUndefined();
  });

  it("lets a template without a verb take x:verb in its last segment, as the router does", () => {
    expect(overlap("/v1/{name=shelves/*}", "/v1/shelves/{shelf}:publish")).toBe("/v1/shelves/x:publish");
    expect(overlap("/v1/shelves/x:publish", "/v1/shelves/{shelf}:publish")).toBe("/v1/shelves/x:publish");
  });
});
