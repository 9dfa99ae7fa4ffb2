import { describe, expect, it } from "vitest";
import { packageVersion } from "./openapi.js";

describe("packageVersion", () => {
  it("takes the version segment of the package, or 0", () => {
    expect(packageVersion("acme.library.v1")).toBe("v1");
    expect(packageVersion("acme.v2beta1")).toBe("v2beta1");
    expect(packageVersion("acme.library")).toBe("0");
    expect(packageVersion("")).toBe("0");
  });
});
