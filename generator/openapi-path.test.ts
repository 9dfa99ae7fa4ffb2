import { describe, expect, it } from "vitest";
import { packageVersion } from "./openapi.js";
import { toOpenApiPath } from "./openapi-path.js";

describe("toOpenApiPath", () => {
  it("turns variables into OpenAPI parameters and keeps custom verbs", () => {
    expect(toOpenApiPath("/v1/{name=shelves/*/books/*}:publish")).toEqual({
      path: "/v1/{name}:publish",
      variables: [{ fieldPath: "name", pattern: "shelves/*/books/*" }],
    });
    expect(toOpenApiPath("/v1/shelves/{shelf}/files/{path=**}")).toEqual({
      path: "/v1/shelves/{shelf}/files/{path}",
      variables: [
        { fieldPath: "shelf", pattern: "*" },
        { fieldPath: "path", pattern: "**" },
      ],
    });
    expect(toOpenApiPath("/v1/{book.name=shelves/*}").path).toBe("/v1/{book.name}");
  });
});

describe("packageVersion", () => {
  it("takes the version segment of the package, or 0", () => {
    expect(packageVersion("acme.library.v1")).toBe("v1");
    expect(packageVersion("acme.v2beta1")).toBe("v2beta1");
    expect(packageVersion("acme.library")).toBe("0");
    expect(packageVersion("")).toBe("0");
  });
});
