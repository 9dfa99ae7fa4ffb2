import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { duplicateKey, jsonKeyOffset } from "./json-key-offset.js";
import { yamlKeyOffset } from "./yaml-key-offset.js";

/** Every path into a parsed JSON value: each object's keys and each list's indexes, at every depth. */
function pathsOf(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => [[...prefix, key], ...pathsOf(inner, [...prefix, key])]);
}

describe("jsonKeyOffset", () => {
  it("finds every key and item where the yaml package, reading the same JSON, places it", () => {
    const text = `{
  "note": "a \\"quoted\\" {brace} [bracket] \\\\", "empty": {}, "none": [],
  "matrix": [[1, [2.5e3, {"prot": -3}]], {"x": [true, false, null]}, "]", "}"],
  "service": {"http":{"port":8080,"tls":{"cert":"a\\u0022.pem"}},
    "a.b": {"c d": 1, "": 2, "\\u00e9t\\u00e9": "summer"}},
  "servers": [ {"host": "a"} ,{"host": "b", "hots": "c"} ]
}`;
    const document = parseDocument(text);
    expect(document.errors).toEqual([]);
    const paths = pathsOf(JSON.parse(text));
    expect(paths.length).toBeGreaterThan(25);
    for (const path of paths) {
      const offset = jsonKeyOffset(text, path);
      expect({ path, offset }).toEqual({ path, offset: yamlKeyOffset(document, path) });
      expect(offset).toBeDefined();
    }
  });

  it("reads a key's escapes, takes a key written twice where JSON.parse does, and stops where the path leaves the text", () => {
    const text = '{"po\\u0072t": 1, "page": {"size": 1, "size": 2}, "list": [1]}';
    expect(jsonKeyOffset(text, ["port"])).toBe(1);
    expect(jsonKeyOffset(text, ["page", "size"])).toBe(text.lastIndexOf('"size"'));
    // The deepest part written: where to look for, or add, the rest.
    expect(jsonKeyOffset(text, ["page", "sort"])).toBe(text.indexOf('"page"'));
    expect(jsonKeyOffset(text, ["list", "3"])).toBe(text.indexOf('"list"'));
    expect(jsonKeyOffset(text, ["list", "0", "x"])).toBe(text.indexOf("1]"));
    expect(jsonKeyOffset(text, ["missing"])).toBeUndefined();
  });
});

describe("duplicateKey", () => {
  it("finds the first key written twice in one object, in the order written, read as JSON.parse reads it", () => {
    const text = '{"a":{"b":1,"c":[{"d":1},{"d":2}]},"e":{"f":1,"\\u0066":2},"a":3}';
    expect(duplicateKey(text)).toEqual({ key: "f", offset: text.indexOf('"\\u0066"'), first: text.indexOf('"f"') });
    expect(duplicateKey('{"a":{}, "b":[{}, "a"], "c":{"a":"\\"a\\":"}}')).toBeUndefined();
    expect(duplicateKey('[1,"a",{"x":{"y":1},"x":2}]')).toMatchObject({ key: "x" });
  });

  it("reads text nested deeper than the call stack goes, as JSON.parse does (a config file it took)", () => {
    const lists = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const objects = `${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`;
    JSON.parse(lists);
    JSON.parse(objects);
    expect(duplicateKey(lists)).toBeUndefined();
    expect(duplicateKey(objects)).toBeUndefined();
    expect(duplicateKey(`${'{"a":'.repeat(50_000)}{"b":1,"b":2}${"}".repeat(50_000)}`)).toMatchObject({ key: "b" });
  });
});
