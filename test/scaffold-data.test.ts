import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../runtime/src/database/index.js";
import { repoTempDir, run } from "./support/cli.js";
import { type PostgresServer, postgresBinDir, startPostgres } from "./support/postgres.js";
import { createTsmicro } from "./support/project.js";

// The data services create-tsmicro scaffolds for a proto of the user's (a message field, a Struct, a
// oneof, an integer key: what the sample proto has none of), run on PGlite in memory. The project sits
// inside the repository, so it runs on the checkout's packages without an npm install.

const proto = `syntax = "proto3";
package shop.v1;

import "google/api/field_behavior.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "tsmicro/entity.proto";

service ShopService {
  rpc CreateRich(CreateRichRequest) returns (Rich);
  rpc UpdateRich(UpdateRichRequest) returns (Rich);
  rpc CreateTag(CreateTagRequest) returns (Tag);
  rpc CreateMember(CreateMemberRequest) returns (Member);
}

message Address {
  string street = 1;
  string city = 2;
}

message Rich {
  option (tsmicro.entity) = {};
  string id = 1;
  string title = 2;
  Address home = 3;
  google.protobuf.Struct meta = 4;
  oneof choice {
    string text_choice = 5;
    int32 int_choice = 6;
  }
  map<string, string> labels = 7;
  google.protobuf.Timestamp create_time = 8;
  google.protobuf.Timestamp update_time = 9;
  // Set by the service alone.
  string status = 10 [(google.api.field_behavior) = OUTPUT_ONLY];
}

message Tag {
  option (tsmicro.entity) = {};
  int64 id = 1;
  string label = 2;
}

// display_name is stored in the column "name": errors name the field, not the column.
message Member {
  option (tsmicro.entity) = {};
  string id = 1;
  string display_name = 2 [(tsmicro.column) = { name: "name", unique: true }];
  int32 age = 3;
  optional string nickname = 4;
  optional string club_id = 5;
  google.protobuf.Timestamp born_at = 6;
}

message CreateRichRequest { Rich rich = 1; }
message UpdateRichRequest { Rich rich = 1; google.protobuf.FieldMask update_mask = 2; }
message CreateTagRequest { Tag tag = 1; }
message CreateMemberRequest { Member member = 1; }
`;

/** The scaffolded entities, loosely typed: the test reads them through the project's own modules. */
interface Rich {
  id: string;
  title: string;
  home: { street: string; city: string } | undefined;
  meta: Record<string, unknown> | undefined;
  choice: { $case: string; value: unknown } | undefined;
  labels: Record<string, string>;
  createTime: Date | undefined;
  updateTime: Date | undefined;
  status: string;
}
interface Tag {
  id: bigint;
  label: string;
}
interface Member {
  id: string;
  displayName: string;
  age: number;
  nickname?: string;
  clubId?: string;
  bornAt?: Date | undefined;
}
interface DataService<T, K> {
  create(fields: Partial<T>): Promise<T>;
  get(key: K): Promise<T>;
  list(pageSize: number, pageToken: string): Promise<{ items: T[]; nextPageToken: string }>;
  update(entity: T, paths: readonly string[]): Promise<T>;
  delete(key: K): Promise<void>;
}

let work = "";
let project = "";
let database: Database<unknown> | undefined;
let riches: DataService<Rich, string>;
let tags: DataService<Tag, bigint>;
let richOf: (fields: Partial<Rich>) => Rich;
let InvalidRichError: new (field: string, reason: string) => Error;
let InvalidTagError: new (field: string, reason: string) => Error;

beforeAll(async () => {
  work = await repoTempDir("scaffold-data");
  await mkdir(join(work, "proto/shop/v1"), { recursive: true });
  await writeFile(join(work, "proto/shop/v1/shop.proto"), proto);
  const created = await run(
    process.execPath,
    [createTsmicro, "shop", "--proto", "proto/shop/v1/shop.proto", "--no-install"],
    {
      cwd: work,
    },
  );
  expect(created.code, created.stderr).toBe(0);
  project = join(work, "shop");
  const load = (path: string) => import(pathToFileURL(join(project, path)).href);
  const { openTestDatabase } = await import("../runtime/src/database/index.js");
  database = await openTestDatabase({ migrationsDir: join(project, "migrations") });
  const [richService, richRepository, richModel, tagService, tagRepository, tagModel] = await Promise.all([
    load("src/domain/service/rich-data-service.ts"),
    load("src/domain/repository/sql-rich-repository.ts"),
    load("src/domain/model/rich.ts"),
    load("src/domain/service/tag-data-service.ts"),
    load("src/domain/repository/sql-tag-repository.ts"),
    load("src/domain/model/tag.ts"),
  ]);
  riches = new richService.RichDataService(new richRepository.SqlRichRepository(database.db));
  tags = new tagService.TagDataService(new tagRepository.SqlTagRepository(database.db));
  richOf = richModel.richOf;
  InvalidRichError = richModel.InvalidRichError;
  InvalidTagError = tagModel.InvalidTagError;
}, 120_000);

afterAll(async () => {
  await database?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a scaffolded data service, on a key the database numbers", () => {
  it("ignores an id the caller sends on create, so later numbers never collide with it", async () => {
    const explicit = await tags.create({ id: 3n, label: "explicit3" });
    expect(explicit.id).toBe(1n);
    const numbered = await Promise.all([tags.create({ label: "a" }), tags.create({ label: "b" })]);
    expect(numbered.map((tag) => tag.id).sort()).toEqual([2n, 3n]);
    expect((await tags.get(3n)).label).not.toBe("explicit3");
  });
});

describe("a scaffolded repository, given values PostgreSQL cannot hold", () => {
  it("refuses them as invalid values, not internal errors: a NUL in text, a key with one", async () => {
    const refusal = await riches.create({ title: "a\0b" }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(InvalidRichError);
    expect(refusal).toMatchObject({
      field: "title",
      message: "title cannot be stored: PostgreSQL's text holds no NUL character (0x00)",
    });
    const lookup = await riches.get("x\0").catch((error: unknown) => error);
    expect(lookup).toBeInstanceOf(InvalidRichError);
    expect(lookup).toMatchObject({ field: "id", message: expect.stringMatching(/^id cannot be looked up: .*0x00/) });
    // An update looks its row up first: the key is what is refused, as for a get.
    const update = await riches.update(richOf({ id: "x\0", title: "t" }), []).catch((error: unknown) => error);
    expect(update).toMatchObject({ field: "id", message: expect.stringMatching(/^id cannot be looked up: .*0x00/) });
  });
});

describe("a scaffolded data service, given no key", () => {
  it("says the key is required, for a text key and a number the database gives alike", async () => {
    const required = (invalid: new (field: string, reason: string) => Error) => new invalid("id", "is required");
    await expect(riches.get("")).rejects.toThrow(required(InvalidRichError));
    await expect(riches.delete("")).rejects.toThrow(required(InvalidRichError));
    await expect(riches.update(richOf({ title: "t" }), ["title"])).rejects.toThrow(required(InvalidRichError));
    await expect(tags.get(0n)).rejects.toThrow(required(InvalidTagError));
  });
});

describe("a scaffolded data service, on a field the proto marks OUTPUT_ONLY", () => {
  it("ignores what a caller sends for it, on create and on update, by mask or without", async () => {
    const created = await riches.create({ title: "t", status: "PUBLISHED" });
    expect(created.status).toBe("");
    const masked = await riches.update(richOf({ id: created.id, title: "t2", status: "PUBLISHED" }), [
      "title",
      "status",
    ]);
    expect(masked).toMatchObject({ title: "t2", status: "" });
    const whole = await riches.update(richOf({ ...created, title: "t3", status: "PUBLISHED" }), []);
    expect(whole).toMatchObject({ title: "t3", status: "" });
  });
});

describe("a scaffolded data service's page tokens", () => {
  const token = (text: string) => Buffer.from(text).toString("base64url");
  const refused = (invalid: new (field: string, reason: string) => Error) =>
    new invalid("page_token", "is not a token this service gave out");

  it("refuses a token whose text key holds a NUL, which PostgreSQL would refuse in a query", async () => {
    await riches.create({ title: "paged" });
    expect(token("\0")).toBe("AA");
    await expect(riches.list(1, "AA")).rejects.toThrow(refused(InvalidRichError));
    await expect(riches.list(1, token("a\0b"))).rejects.toThrow(refused(InvalidRichError));
  });

  it("refuses a token of an integer key that is no integer, or one outside int8", async () => {
    for (const label of ["p1", "p2"]) await tags.create({ label });
    const first = await tags.list(1, "");
    expect((await tags.list(1, first.nextPageToken)).items).toHaveLength(1);
    for (const text of ["abc", "\0", "1.5", "01", "-", "999999999999999999999", "9223372036854775808"])
      await expect(tags.list(1, token(text)), text).rejects.toThrow(refused(InvalidTagError));
    expect((await tags.list(1, token("9223372036854775807"))).items).toEqual([]);
  });
});

describe("a scaffolded data service's update, with the masks the gateway fills (AIP-134, AIP-161)", () => {
  /** A stored Rich with every kind of field set, and a change naming only its id (what a PATCH body decodes to). */
  async function stored(): Promise<Rich> {
    return riches.create({
      title: "before",
      home: { street: "Main St", city: "Bern" },
      meta: { kept: true, x: 0 },
      choice: { $case: "intChoice", value: 4 },
      labels: { a: "1", b: "2" },
    });
  }
  const change = (rich: Rich, fields: Partial<Rich>) => richOf({ id: rich.id, ...fields });

  it("without a mask changes the fields the change sets, keeping those at their zero value (AIP-134)", async () => {
    const rich = await stored();
    // What a form pre-filled with every field at its zero value sends, with one field filled in.
    const updated = await riches.update(change(rich, { title: "after", labels: {}, meta: undefined }), []);
    expect(updated).toMatchObject({
      title: "after",
      home: { street: "Main St", city: "Bern" },
      meta: { kept: true, x: 0 },
      choice: { $case: "intChoice", value: 4 },
      labels: { a: "1", b: "2" },
    });
    const some = await riches.update(
      change(rich, { labels: { c: "3" }, choice: { $case: "textChoice", value: "" } }),
      [],
    );
    expect(some).toMatchObject({ title: "after", labels: { c: "3" }, choice: { $case: "textChoice", value: "" } });
  });

  it("with the mask * replaces every field, clearing those the change leaves unset", async () => {
    const rich = await stored();
    const replaced = await riches.update(change(rich, { title: "only" }), ["*"]);
    expect(replaced).toMatchObject({ id: rich.id, title: "only", labels: {}, createTime: rich.createTime });
    expect([replaced.home, replaced.meta, replaced.choice]).toEqual([undefined, undefined, undefined]);
    await expect(riches.update(change(rich, {}), ["*", "title"])).rejects.toThrow(
      new InvalidRichError("update_mask", 'names "*", which is not a field callers can change'),
    );
  });

  it("a path into a message field changes that sub-field only", async () => {
    const rich = await stored();
    const updated = await riches.update(change(rich, { home: { street: "", city: "Basel" } }), ["home.city"]);
    expect(updated.home).toEqual({ street: "Main St", city: "Basel" });
    expect(updated.title).toBe("before");
    // Into a message left unset: the others get their defaults.
    const bare = await riches.create({ title: "bare" });
    expect((await riches.update(change(bare, { home: { street: "", city: "Chur" } }), ["home.city"])).home).toEqual({
      street: "",
      city: "Chur",
    });
  });

  it("a path into a Struct or map changes that key only, and clears it when the change lacks it", async () => {
    const rich = await stored();
    const updated = await riches.update(change(rich, { meta: { x: 1 }, labels: { b: "two" } }), ["meta.x", "labels.b"]);
    expect(updated.meta).toEqual({ kept: true, x: 1 });
    expect(updated.labels).toEqual({ a: "1", b: "two" });
    const cleared = await riches.update(change(rich, {}), ["meta.kept", "labels.a"]);
    expect(cleared.meta).toEqual({ x: 1 });
    expect(cleared.labels).toEqual({ b: "two" });
  });

  it("a oneof member's name, in proto or JSON spelling, sets the oneof to it, or clears it when it held that member", async () => {
    const rich = await stored();
    const text = { choice: { $case: "textChoice", value: "t" } };
    expect((await riches.update(change(rich, text), ["text_choice"])).choice).toEqual(text.choice);
    expect((await riches.update(change(rich, {}), ["int_choice"])).choice).toEqual(text.choice);
    expect((await riches.update(change(rich, {}), ["textChoice"])).choice).toBeUndefined();
    // The oneof's own name still works.
    expect((await riches.update(change(rich, text), ["choice"])).choice).toEqual(text.choice);
  });

  it("ignores output-only fields a read-modify-write sends back, and refuses paths naming no field", async () => {
    const rich = await stored();
    const read = await riches.get(rich.id);
    const updated = await riches.update({ ...read, title: "after", createTime: new Date(0) }, [
      "id",
      "title",
      "home",
      "meta",
      "choice",
      "labels",
      "create_time",
      "update_time",
    ]);
    expect(updated).toEqual({ ...read, title: "after", updateTime: updated.updateTime });
    expect(updated.createTime).toEqual(read.createTime);
    for (const path of ["nope", "home.nope", "home.nope.deeper", "title.x", "labels.a.b", "choice.text_choice"])
      await expect(riches.update(change(rich, {}), [path]), path).rejects.toThrow(
        new InvalidRichError("update_mask", `names ${JSON.stringify(path)}, which is not a field callers can change`),
      );
  });
});

/**
 * The Member entity's data service and the handler's error mapping on a database whose migrations the
 * user tightened: a varchar limit, a check, a NOT NULL on an optional field (the proto's unique one too),
 * a foreign key from a field to a table of their own and one from such a table to the member.
 */
function describeRefusals(on: "PGlite" | "PostgreSQL") {
  describe.skipIf(on === "PostgreSQL" && !postgresBinDir)(
    `a scaffolded repository on ${on}, given values the database's own rules refuse`,
    () => {
      let postgres: PostgresServer | undefined;
      let db: Database<unknown> | undefined;
      let members: DataService<Member, string>;
      let transportError: (error: unknown) => unknown;
      let refer: (memberId: string, memberName: string) => Promise<unknown>;

      beforeAll(async () => {
        const { openTestDatabase } = await import("../runtime/src/database/index.js");
        const { sql } = await import("kysely");
        if (on === "PostgreSQL") postgres = await startPostgres();
        db = await openTestDatabase({ url: postgres?.url, migrationsDir: join(project, "migrations") });
        for (const statement of [
          "ALTER TABLE member ALTER COLUMN name TYPE varchar(8)",
          "ALTER TABLE member ADD CONSTRAINT member_adult CHECK (age >= 18)",
          "ALTER TABLE member ALTER COLUMN nickname SET NOT NULL",
          "CREATE INDEX member_nickname_idx ON member (nickname)",
          "CREATE TABLE club (id text PRIMARY KEY)",
          "ALTER TABLE member ADD CONSTRAINT member_club FOREIGN KEY (club_id) REFERENCES club (id)",
          "CREATE TABLE badge (member_id text REFERENCES member (id), member_name varchar(8) REFERENCES member (name))",
        ])
          await sql.raw(statement).execute(db.db);
        const load = (path: string) => import(pathToFileURL(join(project, path)).href);
        const [service, repository, errors] = await Promise.all([
          load("src/domain/service/member-data-service.ts"),
          load("src/domain/repository/sql-member-repository.ts"),
          load("src/handler/member-errors.ts"),
        ]);
        members = new service.MemberDataService(new repository.SqlMemberRepository(db.db));
        transportError = errors.memberTransportError;
        const into = db.db;
        refer = (memberId, memberName) => sql`INSERT INTO badge VALUES (${memberId}, ${memberName})`.execute(into);
      }, 60_000);

      afterAll(async () => {
        await db?.close();
        await postgres?.stop();
      });

      /** What creating a member with `fields` over valid ones fails with, and the gRPC error the handler sends for it. */
      async function refusal(fields: Partial<Member>) {
        const valid = { displayName: `m${Math.random().toString(36).slice(2, 8)}`, age: 30, nickname: "secret-nick" };
        const error = await members.create({ ...valid, ...fields }).then(
          () => undefined,
          (e: unknown) => e,
        );
        return { error, sent: transportError(error) };
      }

      it("names the field by its proto name, as INVALID_ARGUMENT, for a NOT NULL, a check and a value too long", async () => {
        const cases = [
          [{ nickname: undefined }, "nickname", "nickname is required"],
          [{ age: 17 }, "age", "age breaks the check member_adult"],
          [
            { displayName: "secret-too-long" },
            "display_name",
            "display_name is longer than the 8 characters its column holds",
          ],
        ] as const;
        for (const [fields, field, message] of cases) {
          const { error, sent } = await refusal(fields);
          expect(error, message).toMatchObject({ name: "InvalidMemberError", field, message });
          expect(sent, message).toMatchObject({ code: 3, message });
        }
      });

      it("names an indexed field whose value is too large for its index, with the limit, as INVALID_ARGUMENT", async () => {
        const message = "nickname is too large for its index (an index entry holds about 2,700 bytes): shorten it";
        // Random text does not compress below the limit: one the btree refuses naming its index, one too large for a page.
        for (const bytes of [3_000, 9_000]) {
          const nickname = randomBytes(bytes).toString("base64");
          const { error, sent } = await refusal({ nickname });
          expect(error, `${bytes}`).toMatchObject({ name: "InvalidMemberError", field: "nickname", message });
          expect(sent, `${bytes}`).toMatchObject({ code: 3, message });
          expect(JSON.stringify(sent)).not.toContain(nickname.slice(0, 40));
        }
      });

      it("names the unique field, not its value, as ALREADY_EXISTS", async () => {
        await members.create({ displayName: "secret", age: 30, nickname: "n" });
        const { error, sent } = await refusal({ displayName: "secret" });
        expect(error).toMatchObject({ name: "MemberAlreadyExistsError" });
        expect(sent).toMatchObject({ code: 6, message: "a member with the same display_name exists" });
      });

      it("says a field names no row of the table it refers to, as FAILED_PRECONDITION, on create and update", async () => {
        const message = "club_id names no row of club";
        const { error, sent } = await refusal({ clubId: "secret-club" });
        expect(error).toMatchObject({ name: "MemberReferenceError", field: "club_id", message });
        expect(sent).toMatchObject({ code: 9, message });
        expect(JSON.stringify(sent)).not.toContain("secret-club");
        const member = await members.create({ displayName: "clubless", age: 30, nickname: "n" });
        const changed = await members
          .update({ ...member, clubId: "secret-club" }, ["club_id"])
          .catch((e: unknown) => e);
        expect(changed).toMatchObject({ name: "MemberReferenceError", field: "club_id", message });
      });

      it("says rows still refer to a member deleted, or to a field changed, and by which table, as FAILED_PRECONDITION", async () => {
        const member = await members.create({ displayName: "held", age: 30, nickname: "n" });
        await refer(member.id, "held");
        const deleted = await members.delete(member.id).catch((e: unknown) => e);
        const message = "the member is still referred to by rows of badge: delete or change those first";
        expect(deleted).toMatchObject({ name: "MemberReferenceError", field: "id", message });
        expect(transportError(deleted)).toMatchObject({ code: 9, message });
        const renamed = await members
          .update({ ...member, displayName: "renamed" }, ["display_name"])
          .catch((e: unknown) => e);
        expect(renamed).toMatchObject({
          name: "MemberReferenceError",
          field: "display_name",
          message: "display_name is still referred to by rows of badge: delete or change those first",
        });
        expect(await members.get(member.id)).toMatchObject({ displayName: "held" });
      });

      it("refuses a Timestamp past year 9999 or before year 1 alike, naming the field, as INVALID_ARGUMENT", async () => {
        // Year 10000 and 1 BC: PGlite refused them naming no field, node-postgres stored them.
        const past = new Date("+010000-01-01T00:00:00.000Z");
        const before = new Date("0000-12-31T23:59:59.999Z");
        for (const [bornAt, message] of [
          [past, "born_at is past year 9999, the last a google.protobuf.Timestamp holds"],
          [before, "born_at is before year 1, the first a google.protobuf.Timestamp holds"],
        ] as const) {
          const { error, sent } = await refusal({ bornAt });
          expect(error, message).toMatchObject({ name: "InvalidMemberError", field: "born_at", message });
          expect(sent, message).toMatchObject({ code: 3, message });
        }
        const member = await members.create({ displayName: "dated", age: 30, nickname: "n" });
        const changed = await members.update({ ...member, bornAt: past }, ["born_at"]).catch((e: unknown) => e);
        expect(changed).toMatchObject({ name: "InvalidMemberError", field: "born_at" });
        const first = new Date("0001-01-01T00:00:00.000Z");
        const last = new Date("9999-12-31T23:59:59.999Z");
        expect(await members.update({ ...member, bornAt: first }, ["born_at"])).toMatchObject({ bornAt: first });
        expect(await members.update({ ...member, bornAt: last }, ["born_at"])).toMatchObject({ bornAt: last });
        expect(await members.get(member.id)).toMatchObject({ bornAt: last });
      });

      it("names the field on update too", async () => {
        const member = await members.create({ displayName: "upd", age: 30, nickname: "n" });
        const error = await members
          .update({ ...member, displayName: "far-too-long" }, ["display_name"])
          .catch((e: unknown) => e);
        expect(error).toMatchObject({
          field: "display_name",
          message: "display_name is longer than the 8 characters its column holds",
        });
      });
    },
  );
}

describeRefusals("PGlite");
describeRefusals("PostgreSQL");
