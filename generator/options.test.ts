import { describe, expect, it } from "vitest";
import { defaultGeneratorOptions, parseGeneratorOptions } from "./options.js";

describe("parseGeneratorOptions", () => {
  it("returns the defaults for an empty parameter", () => {
    expect(parseGeneratorOptions("")).toEqual(defaultGeneratorOptions);
  });

  it("reads key=value pairs separated by commas", () => {
    expect(parseGeneratorOptions("runtime_import=@acme/runtime, templates=/tmp/t, strict_routes")).toEqual({
      runtimeImport: "@acme/runtime",
      templates: "/tmp/t",
      strictRoutes: true,
    });
  });

  it("reads strict_routes as true or false, and refuses anything else", () => {
    expect(parseGeneratorOptions("strict_routes=false").strictRoutes).toBe(false);
    expect(parseGeneratorOptions("strict_routes=true").strictRoutes).toBe(true);
    expect(() => parseGeneratorOptions("strict_routes=yes")).toThrow(/strict_routes.*"yes".*use true or false/);
  });

  it("rejects an unknown key, naming it and the valid keys", () => {
    expect(() => parseGeneratorOptions("runtime_import=x,outputServices=grpc-js")).toThrow(
      'unknown plugin option "outputServices" in "runtime_import=x,outputServices=grpc-js"; valid options: runtime_import, strict_routes, templates',
    );
  });

  it("rejects an inherited property name as a key", () => {
    expect(() => parseGeneratorOptions("toString=1")).toThrow('unknown plugin option "toString"');
  });

  it("rejects an empty value", () => {
    expect(() => parseGeneratorOptions("templates=")).toThrow('plugin option templates has an invalid value ""');
  });
});
