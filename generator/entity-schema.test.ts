import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema, type CodeGeneratorRequest } from "@bufbuild/protobuf/wkt";
import { isSetupError } from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { buildImage } from "../bin/cli/buf-image.js";
import { snakeCase } from "./entity-definition.js";
import { entitySchema, type ColumnSchema } from "./entity-schema.js";

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Compiles protos (name -> source) with buf, as `tsmicro generate` does, into a request for all of them. */
async function compile(files: Record<string, string>): Promise<CodeGeneratorRequest> {
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-entity-"));
  temps.push(dir);
  for (const [name, source] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), source);
  }
  const image = fromBinary(FileDescriptorSetSchema, await buildImage(dir, dir));
  return create(CodeGeneratorRequestSchema, { fileToGenerate: Object.keys(files), protoFile: image.file });
}

/** One proto file `e.proto` with the entity option imported. */
function proto(body: string): Record<string, string> {
  return {
    "e.proto": `syntax = "proto3";\npackage e;\nimport "google/protobuf/timestamp.proto";\nimport "tsmicro/entity.proto";\n${body}`,
  };
}

async function setupError(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isSetupError(error)) return error;
    throw error;
  }
  throw new Error("expected a SetupError");
}

describe("snakeCase", () => {
  it("turns message and field names into table and column names", () => {
    expect(snakeCase("User")).toBe("user");
    expect(snakeCase("OrderItem")).toBe("order_item");
    expect(snakeCase("HTTPRequest")).toBe("http_request");
    expect(snakeCase("userID")).toBe("user_id");
    expect(snakeCase("display_name")).toBe("display_name");
    expect(snakeCase("Item2Value")).toBe("item2_value");
  });
});

describe("entitySchema", () => {
  it("maps every field kind to its PostgreSQL type, nullability and proto3 zero default", async () => {
    const schema = entitySchema(
      await compile(
        proto(`
enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; }
message Inner { string a = 1; }
message Everything {
  option (tsmicro.entity) = {};
  string id = 1;
  bool b = 2;
  int32 i32 = 3;
  sint32 s32 = 4;
  sfixed32 sf32 = 5;
  uint32 u32 = 6;
  fixed32 f32 = 7;
  int64 i64 = 8;
  sint64 s64 = 9;
  sfixed64 sf64 = 10;
  uint64 u64 = 11;
  fixed64 f64 = 12;
  float fl = 13;
  double db = 14;
  bytes by = 15;
  Kind kind = 16;
  google.protobuf.Timestamp at = 17;
  Inner inner = 18;
  repeated string list = 19;
  map<string, int64> dict = 20;
  optional string maybe = 21;
  optional int64 maybe_count = 22;
  oneof choice { string text = 23; Inner boxed = 24; }
}`),
      ),
    );
    const columns = Object.fromEntries(
      schema.tables[0]!.columns.map((c) => [c.name, `${c.type}${c.nullable ? "" : " NOT NULL"} ${c.default}`]),
    );
    expect(columns).toEqual({
      id: "text NOT NULL null",
      b: "boolean NOT NULL false",
      i32: "integer NOT NULL 0",
      s32: "integer NOT NULL 0",
      sf32: "integer NOT NULL 0",
      u32: "bigint NOT NULL 0",
      f32: "bigint NOT NULL 0",
      i64: "bigint NOT NULL 0",
      s64: "bigint NOT NULL 0",
      sf64: "bigint NOT NULL 0",
      u64: "numeric(20,0) NOT NULL 0",
      f64: "numeric(20,0) NOT NULL 0",
      fl: "real NOT NULL 0",
      db: "double precision NOT NULL 0",
      by: "bytea NOT NULL ''::bytea",
      kind: "integer NOT NULL 0",
      at: "timestamptz null",
      inner: "jsonb null",
      list: "jsonb NOT NULL '[]'::jsonb",
      dict: "jsonb NOT NULL '{}'::jsonb",
      maybe: "text null",
      maybe_count: "bigint null",
      text: "text null",
      boxed: "jsonb null",
    });
    expect(schema.tables[0]).toMatchObject({ name: "everything", message: "e.Everything", file: "e.proto" });
    // jsonb columns record their proto type, which their SQL type does not show.
    const json = Object.fromEntries(schema.tables[0]!.columns.flatMap((c) => (c.json ? [[c.name, c.json]] : [])));
    expect(json).toEqual({
      inner: "e.Inner",
      list: "repeated string",
      dict: "map<string, int64>",
      boxed: "e.Inner",
    });
  });

  it("takes table and column names, primary key, unique and index from the options", async () => {
    const schema = entitySchema(
      await compile(
        proto(`
message OrderItem {
  option (tsmicro.entity) = { table: "order_items" };
  string sku = 1 [(tsmicro.column) = { primary_key: true }];
  string id = 2;
  string displayName = 3 [(tsmicro.column) = { unique: true, index: true }];
  int32 qty = 4 [(tsmicro.column) = { name: "quantity" }];
}
message User {
  option (tsmicro.entity) = {};
  int64 id = 1;
}
message NotStored { string id = 1; }`),
      ),
    );
    expect(schema.tables.map((t) => [t.name, t.primaryKey])).toEqual([
      ["order_items", "sku"],
      ["user", "id"],
    ]);
    const pick = (c: ColumnSchema) => [c.name, c.field, c.primaryKey, c.identity, c.unique, c.indexed];
    expect(schema.tables[0]!.columns.map(pick)).toEqual([
      ["sku", 1, true, false, false, false],
      ["id", 2, false, false, false, false],
      ["display_name", 3, false, false, true, true],
      ["quantity", 4, false, false, false, false],
    ]);
    // An integer key is numbered by the database.
    expect(schema.tables[1]!.columns.map(pick)).toEqual([["id", 1, true, true, false, false]]);
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });

  it("has no tables for protos that do not use the entity option", async () => {
    const request = await compile({
      "plain.proto": 'syntax = "proto3";\npackage p;\nmessage User { string id = 1; }\n',
    });
    expect(entitySchema(request)).toEqual({ version: 1, tables: [] });
  });

  it("refuses an entity without a primary key, naming the message, the file and what to add", async () => {
    const error = await setupError(
      compile(proto(`message Note { option (tsmicro.entity) = {}; string text = 1; }`)).then(entitySchema),
    );
    expect(error.code).toBe("TSM_ERR_ENTITY_PRIMARY_KEY");
    // Where: the file, and the line and column of the message.
    expect(error.message).toContain("entity e.Note in e.proto:5:1 has no primary key");
    expect(error.message).toContain(
      "add a field named id, or mark one with [(tsmicro.column) = { primary_key: true }]",
    );
  });

  it.each([
    [
      "two primary keys",
      `string a = 1 [(tsmicro.column) = { primary_key: true }]; string b = 2 [(tsmicro.column) = { primary_key: true }];`,
      "fields a and b are both marked primary_key",
    ],
    ["an optional primary key", `optional string id = 1;`, "primary key id must be a scalar or enum field"],
    ["a message primary key", `google.protobuf.Timestamp id = 1;`, "primary key id must be a scalar or enum field"],
    [
      "two fields on one column",
      `string id = 1; string a = 2 [(tsmicro.column) = { name: "b" }]; string b = 3;`,
      'fields a and b both map to column "b"',
    ],
    ["a column name needing quotes", `string id = 1 [(tsmicro.column) = { name: "my id" }];`, "not a plain identifier"],
  ])("refuses %s", async (_, fields, problem) => {
    const error = await setupError(
      compile(proto(`message Bad { option (tsmicro.entity) = {}; ${fields} }`)).then(entitySchema),
    );
    expect(error.code).toBe("TSM_ERR_ENTITY");
    expect(error.message).toContain("entity e.Bad in e.proto:5:1: ");
    expect(error.message).toContain(problem);
  });

  it("refuses two entities on one table, across files too", async () => {
    const error = await setupError(
      compile({
        ...proto(`message User { option (tsmicro.entity) = {}; string id = 1; }`),
        "f.proto": `syntax = "proto3";\npackage f;\nimport "tsmicro/entity.proto";\nmessage Person { option (tsmicro.entity) = { table: "user" }; string id = 1; }\n`,
      }).then(entitySchema),
    );
    expect(error.code).toBe("TSM_ERR_ENTITY");
    expect(error.message).toContain('its table "user" is also the table of e.User (e.proto)');
  });
});
