import { describe, expect, it } from "vitest";
import { docLines } from "./doc-comment.js";

describe("docLines", () => {
  it("trims the common indentation and trailing blank lines", () => {
    expect(docLines(" Says hello.\n\n   Indented example.\n\n", false)).toEqual([
      "Says hello.",
      "",
      "  Indented example.",
    ]);
  });

  it("escapes a comment terminator so the doc comment cannot end early", () => {
    expect(docLines(" Matches a/*/b and */ in text.", false)).toEqual(["Matches a/*\\/b and *\\/ in text."]);
  });

  it("adds @deprecated, after a blank line when there is text", () => {
    expect(docLines(" Old.", true)).toEqual(["Old.", "", "@deprecated"]);
    expect(docLines(undefined, true)).toEqual(["@deprecated"]);
  });

  it("is empty without a comment", () => {
    expect(docLines(undefined, false)).toEqual([]);
    expect(docLines("\n", false)).toEqual([]);
  });
});
