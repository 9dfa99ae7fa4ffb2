import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema, type CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { isSetupError } from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { buildImage } from "../bin/cli/buf-image.js";
import { loadTemplates } from "../bin/cli/load-templates.js";
import { databaseName, entityNames } from "./entity-model.js";
import { generate } from "./generate.js";

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function compile(files: Record<string, string>, toGenerate = Object.keys(files)): Promise<CodeGeneratorRequest> {
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-entity-model-"));
  temps.push(dir);
  for (const [name, source] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), source);
  }
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(dir, dir));
  return create(CodeGeneratorRequestSchema, { fileToGenerate: toGenerate, protoFile: image.file });
}

async function generated(files: Record<string, string>, toGenerate?: string[]): Promise<Map<string, string>> {
  const request = await compile(files, toGenerate);
  const output = generate({ request, templates: await loadTemplates(), version: "0.0.0" });
  return new Map(output.map((f) => [f.name, f.content]));
}

const header = 'syntax = "proto3";\nimport "tsmicro/entity.proto";\n';

describe("entity names", () => {
  it("derives every generated name from the message's TypeScript name", () => {
    expect(entityNames("OrderItem")).toEqual({
      table: "OrderItemTable",
      row: "OrderItemRow",
      toRow: "orderItemToRow",
      fromRow: "orderItemFromRow",
      columns: "orderItemColumns",
      primaryKey: "orderItemPrimaryKey",
      tableName: "orderItemTableName",
      outputOnly: "orderItemOutputOnly",
      uniqueTexts: "orderItemUniqueTexts",
    });
    expect(databaseName("user/v1/user_store.proto")).toBe("UserStoreDatabase");
    expect(databaseName("v1/2fa.proto")).toBe("_2faDatabase");
  });
});

describe("x.entity.ts", () => {
  it("is generated only for requested files with entity messages, importing types from other files relatively", async () => {
    const files = await generated(
      {
        "common/v1/status.proto":
          'syntax = "proto3";\npackage common.v1;\nenum Status { STATUS_UNSPECIFIED = 0; STATUS_ON = 1; }\n',
        "shop/v1/item.proto": `${header}package shop.v1;\nimport "common/v1/status.proto";\nmessage Item { option (tsmicro.entity) = {}; string id = 1; common.v1.Status status = 2; }\n`,
        "shop/v1/plain.proto": 'syntax = "proto3";\npackage shop.v1;\nmessage Plain { string id = 1; }\n',
      },
      ["common/v1/status.proto", "shop/v1/item.proto", "shop/v1/plain.proto"],
    );
    expect([...files.keys()].filter((name) => name.endsWith(".entity.ts"))).toEqual(["shop/v1/item.entity.ts"]);
    const entity = files.get("shop/v1/item.entity.ts")!;
    expect(entity).toContain('import type { Status } from "../../common/v1/status.js";');
    // No jsonb column: the message is only a type, and nothing from kysely is needed at run time.
    expect(entity).toContain('import type { Item } from "./item.js";');
    expect(entity).toContain('import type { Insertable, Selectable } from "kysely";');
    expect(entity).toContain("status: Status;");
    expect(entity).toContain("export interface ItemDatabase {\n  item: ItemTable;\n}");
  });

  it("refuses two entities whose generated names collide", async () => {
    const request = await compile({
      "a.proto": `${header}package a;\nmessage User { option (tsmicro.entity) = {}; string id = 1; }\nmessage user { option (tsmicro.entity) = { table: "user2" }; string id = 1; }\n`,
    });
    let error: unknown;
    try {
      generate({ request, templates: await loadTemplates(), version: "0.0.0" });
    } catch (e) {
      error = e;
    }
    expect(isSetupError(error) && error.code).toBe("TSM_ERR_ENTITY");
    expect((error as Error).message).toContain(
      "entity a.user in a.proto: its generated userToRow is also the name of a.User",
    );
  });
});
