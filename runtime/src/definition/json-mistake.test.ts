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

  it("names a character that cannot be seen by its code point, and a byte order mark as one", () => {
    expect(mistake('\uFEFF{"a": 1}')).toEqual({
      line: 1,
      column: 1,
      reason:
        "expected a value, found a byte order mark (U+FEFF), which JSON text must not have; save it as UTF-8 without one",
    });
    expect(mistake('{"a":\u00A01}').reason).toBe("expected a value, found U+00A0, which cannot be seen");
    expect(mistake('{"a":1}\u200B').reason).toBe(
      "expected the end of the body after the value, found U+200B, which cannot be seen",
    );
    expect(mistake('{"a":\t\u0001}').reason).toBe("expected a value, found U+0001, which cannot be seen");
    // What shows is quoted, as ever.
    expect(mistake('{"a":1}\u{1F600}').reason).toBe('expected the end of the body after the value, found "\u{1F600}"');
    expect(mistake('{"a":é}').reason).toBe('expected a value, found "é"');
  });
});
