import { describe, expect, it } from "vitest";
import { jsonMistake } from "./json-mistake.js";

/** jsonMistake of text JSON.parse refuses, as the gateway, tsmicro call and config files get it. */
function mistake(text: string) {
  try {
    JSON.parse(text);
  } catch (error) {
    return jsonMistake(text, "the body", error);
  }
  throw new Error(`${text} parsed`);
}

describe("jsonMistake", () => {
  it("says where and why in tsmicro's words", () => {
    expect(mistake('{"a": 1,\n}')).toEqual({
      line: 2,
      column: 1,
      reason: "a comma before }; JSON allows no trailing comma",
    });
    expect(mistake('{"a": }')).toEqual({ line: 1, column: 7, reason: 'expected a value, found "}"' });
  });

  it("tells text nested past its depth so, rather than overflow the stack", () => {
    expect(mistake("[".repeat(5_000))).toEqual({
      line: 1,
      column: 1_001,
      reason: "the body nests more than 1000 levels deep",
    });
  });
});
