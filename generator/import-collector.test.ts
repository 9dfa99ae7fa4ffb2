import { describe, expect, it } from "vitest";
import { ImportCollector } from "./import-collector.js";

describe("ImportCollector", () => {
  it("aliases a name that collides with a reserved one or another module's import", () => {
    const imports = new ImportCollector(["Promise", "GreeterClient"]);
    expect(imports.use("./a.js", "Money", false)).toBe("Money");
    expect(imports.use("./b.js", "Money", false)).toBe("MoneyMessage");
    expect(imports.use("./c.js", "Money", false)).toBe("MoneyMessage2");
    expect(imports.use("./a.js", "Promise", false)).toBe("PromiseMessage");
    expect(imports.use("./a.js", "GreeterClient", false)).toBe("GreeterClientMessage");
    expect(imports.use("./a.js", "Money", true)).toBe("Money");
  });

  it("lists package imports before relative ones, names sorted, a value use winning over type-only", () => {
    const imports = new ImportCollector([]);
    imports.use("./x.js", "B", true);
    imports.use("@tsmicro/runtime", "createClient", false);
    imports.use("./x.js", "A", true);
    imports.use("./x.js", "B", false);
    expect(imports.statements()).toEqual([
      { from: "@tsmicro/runtime", names: [{ name: "createClient", alias: undefined, typeOnly: false }] },
      {
        from: "./x.js",
        names: [
          { name: "A", alias: undefined, typeOnly: true },
          { name: "B", alias: undefined, typeOnly: false },
        ],
      },
    ]);
  });
});
