import { describe, expect, it } from "vitest";
import { movedImports } from "./moved-imports.js";

describe("movedImports", () => {
  const generated = [
    { name: "shop/v1/shop.ts", content: "export const protobufPackage = 1;\nexport interface GetShopRequest {}\n" },
    {
      name: "shop/v1/model.ts",
      content: "export const protobufPackage = 1;\nexport interface Shop {}\nexport const Shop = {};\n",
    },
    { name: "shop/v1/model.entity.ts", content: "export const shopColumns = [];\nexport { shopToRow as toRow };\n" },
  ];

  it("names where a message moved to another proto file went, for each file that imports it from the old module", () => {
    const code = new Map([
      [
        "src/domain/model/shop.ts",
        'import { Shop as ShopMessage, type GetShopRequest } from "../../gen/shop/v1/shop.js";\n' +
          'import { shopColumns, toRow } from "../../gen/shop/v1/shop.entity.js";',
      ],
    ]);
    expect(movedImports(code, generated, "src/gen")).toEqual([
      "src/domain/model/shop.ts imports Shop from src/gen/shop/v1/shop.js, which no longer declares it: " +
        "import it from src/gen/shop/v1/model.js",
      "src/domain/model/shop.ts imports shopColumns, toRow from src/gen/shop/v1/shop.entity.js, which no longer " +
        "declares them: import them from src/gen/shop/v1/model.entity.js",
    ]);
  });

  it("says nothing of a name no generated module or several export, of an import in a comment, or outside the folder", () => {
    const code = new Map([
      ["src/a.ts", 'import { Gone, protobufPackage } from "./gen/shop/v1/shop.js";'],
      ["src/b.ts", '// import { Shop } from "./gen/shop/v1/shop.js";'],
      ["src/c.ts", 'import { Shop } from "./other/shop.js";\nimport { Shop as S } from "@acme/gen";'],
      ["src/d.ts", 'import { Shop } from "./gen/shop/v1/model.js";'],
    ]);
    expect(movedImports(code, generated, "src/gen")).toEqual([]);
  });
});
