import { describe, expect, it } from "vitest";
import { isTsmicroError } from "@tsmicro/runtime";
import { maxJsonDepth, parseJsonBody } from "./json-body.js";

function refusal(text: string): string {
  try {
    parseJsonBody(text);
  } catch (error) {
    if (isTsmicroError(error) && error.code === 3) return error.message;
  }
  throw new Error(`${text.slice(0, 40)} was accepted`);
}

describe("parseJsonBody", () => {
  it("parses JSON and reads a blank body as none", () => {
    expect(parseJsonBody('{"a":[1,{"b":"}]"}]}')).toEqual({ a: [1, { b: "}]" }] });
    expect(parseJsonBody("  \n")).toBeUndefined();
  });

  it("keeps integers past 2^53 exact, as the strings proto3 JSON takes for 64-bit fields", () => {
    expect(
      parseJsonBody(
        '{"limit":9007199254740993,"max":18446744073709551615,"low":-9223372036854775808,"safe":9007199254740991,"id":"12345678901234567","ratio":12345678901234567.5,"big":1e300}',
      ),
    ).toEqual({
      limit: "9007199254740993",
      max: "18446744073709551615",
      low: "-9223372036854775808",
      safe: 9007199254740991,
      id: "12345678901234567",
      ratio: 12345678901234568,
      big: 1e300,
    });
    expect(parseJsonBody("[12345678901234567890]")).toEqual(["12345678901234567890"]);
  });

  it("accepts nesting up to the limit and refuses one level more, naming both", () => {
    const nested = (n: number) => "[".repeat(n) + "]".repeat(n);
    expect(parseJsonBody(nested(maxJsonDepth))).toBeDefined();
    expect(refusal(nested(maxJsonDepth + 1))).toBe(
      `the request body nests ${maxJsonDepth + 1} levels deep; at most ${maxJsonDepth} are allowed`,
    );
    expect(refusal(`{"a":${'{"a":'.repeat(5000)}1${"}".repeat(5001)}`)).toMatch(/nests 5001 levels deep/);
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify({ s: `\\"${"[".repeat(500)}` });
    expect(parseJsonBody(text)).toEqual({ s: `\\"${"[".repeat(500)}` });
  });

  it("says where malformed JSON goes wrong and what is wrong there, in its own words", () => {
    expect(refusal('{"name":"a",}')).toBe(
      "the request body is not valid JSON at line 1, column 13: a comma before }; JSON allows no trailing comma",
    );
    expect(refusal('{\n  "name": "a"\n  "size": 2\n}')).toBe(
      'the request body is not valid JSON at line 3, column 3: expected , or } after a property, found "\\""',
    );
    expect(refusal('{"name":"a"')).toBe(
      "the request body is not valid JSON at line 1, column 12: the body ends where , or } after a property should be",
    );
    expect(refusal("{name: 1}")).toBe(
      'the request body is not valid JSON at line 1, column 2: expected a "quoted" property name, found "n"',
    );
    expect(() => parseJsonBody("[1,]", "POST /rpc: request")).toThrow(
      "POST /rpc: request is not valid JSON at line 1, column 4: a comma before ]; JSON allows no trailing comma",
    );
  });
});
