import { describe, expect, it } from "vitest";
import { methodLocalName } from "./service-model.js";

describe("methodLocalName", () => {
  it("lower-cases the first letter", () => {
    expect(methodLocalName("SayHello")).toBe("sayHello");
    expect(methodLocalName("GetHTTPStatus")).toBe("getHTTPStatus");
    expect(methodLocalName("Delete")).toBe("delete");
  });

  it("escapes names that break classes, thenables or built-in behaviour", () => {
    for (const name of ["Constructor", "Then", "ToString", "ToJSON", "ValueOf"]) {
      expect(methodLocalName(name)).toBe(`${name.charAt(0).toLowerCase()}${name.slice(1)}$`);
    }
  });
});
