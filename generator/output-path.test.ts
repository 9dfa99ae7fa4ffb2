import { describe, expect, it } from "vitest";
import { checkOutputPath } from "./output-path.js";

describe("checkOutputPath", () => {
  it("accepts relative paths below the output folder", () => {
    expect(checkOutputPath("a/b/c.micro.ts", "a/b/c.proto")).toBe("a/b/c.micro.ts");
  });

  it.each(["../x.ts", "a/../../x.ts", "/etc/x.ts", "C:/x.ts", "a\\..\\x.ts", "a//x.ts", "./x.ts", "", "a/\0.ts"])(
    "refuses %j",
    (path) => {
      expect(() => checkOutputPath(path, "evil.proto")).toThrow(
        "generated paths must stay inside the output directory",
      );
    },
  );
});
