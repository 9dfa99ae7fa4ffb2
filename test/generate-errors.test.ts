import { existsSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CodeGeneratorRequestSchema,
  CodeGeneratorResponseSchema,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, readTree, repoTempDir, run, runBinary } from "./support/cli.js";
import { findProgram } from "./support/programs.js";

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A project folder with the given protos under proto/. */
async function project(files: Record<string, string>): Promise<string> {
  const dir = await repoTempDir("errors");
  temps.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, "proto", name, ".."), { recursive: true });
    await writeFile(join(dir, "proto", name), content);
  }
  return dir;
}

const generate = (cwd: string, ...args: string[]) => run("node", [bins.tsmicro, "generate", ...args], { cwd });

const goodProto =
  'syntax = "proto3";\npackage good.v1;\nmessage PingRequest { string id = 1; }\nmessage PingReply { string id = 1; }\nservice Pinger { rpc Ping(PingRequest) returns (PingReply); }\n';

describe("tsmicro generate reports bad input and writes nothing", () => {
  it("a syntax error is file:line:col: message, exit 1, and earlier output is untouched", async () => {
    const dir = await project({ "good/v1/good.proto": goodProto });
    expect((await generate(dir)).code).toBe(0);
    const before = await readTree(join(dir, "src/gen"));
    expect(before.size).toBeGreaterThan(0);

    await writeFile(
      join(dir, "proto/good/v1/good.proto"),
      goodProto.replace("message PingReply { string id = 1; }", "message PingReply { string id = 1 }"),
    );
    const result = await generate(dir);
    expect(result.code).toBe(1);
    // buf's "unexpected `}` after definition", with what to do: the `;` it does not name.
    expect(result.stderr).toMatch(
      /^tsmicro: the protos do not compile:\nproto\/good\/v1\/good\.proto:4:\d+: unexpected `}` after definition: is a `;` missing before it\?\n$/,
    );
    expect(result.stdout).toBe("");
    expect(await readTree(join(dir, "src/gen"))).toEqual(before);
  });

  it("copies of the protos tsmicro ships (google/api, as grpc-gateway's guide copies them) are each named, with what to do", async () => {
    const shipped = join(import.meta.dirname, "..", "node_modules", "google-proto-files", "google");
    const dir = await project({
      "good/v1/good.proto": goodProto.replace(
        "package good.v1;",
        'package good.v1;\nimport "google/api/annotations.proto";',
      ),
      "google/api/annotations.proto": await readFile(join(shipped, "api/annotations.proto"), "utf8"),
      "google/api/http.proto": await readFile(join(shipped, "api/http.proto"), "utf8"),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    const clash = (file: string) =>
      `tsmicro ships ${file} and puts it on the import path, so this copy clashes with it: delete the copy (import "${file}" as before)`;
    expect(result.stderr).toBe(
      "tsmicro: the protos do not compile:\n" +
        `proto/google/api/annotations.proto: ${clash("google/api/annotations.proto")}\n` +
        `proto/google/api/http.proto: ${clash("google/api/http.proto")}\n`,
    );
    // Copies under a folder of their own (googleapis in third_party/) clash by their declarations.
    await rename(join(dir, "proto/google"), join(dir, "proto/third_party"));
    await mkdir(join(dir, "proto/third_party/google"));
    await rename(join(dir, "proto/third_party/api"), join(dir, "proto/third_party/google/api"));
    const below = await generate(dir);
    expect(below.code).toBe(1);
    expect(below.stderr).toBe(
      "tsmicro: the protos do not compile:\n" +
        `proto/third_party/google/api/annotations.proto: ${clash("google/api/annotations.proto")}\n` +
        `proto/third_party/google/api/http.proto: ${clash("google/api/http.proto")}\n`,
    );
    await rm(join(dir, "proto/third_party"), { recursive: true });
    expect((await generate(dir)).code).toBe(0);
  });

  it("a message named as the rpc that takes it says that the rpc's name wins, and what to write", async () => {
    const dir = await project({
      "good/v1/good.proto": goodProto.replace(
        "rpc Ping(PingRequest) returns (PingReply)",
        "rpc PingReply(PingRequest) returns (PingReply)",
      ),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "expected message type, found service method `good.v1.Pinger.PingReply`: inside service Pinger, PingReply names the rpc, " +
        "not the message; rename one of them (the message PingReplyRequest or PingReplyResponse, say), or write the " +
        "message's full name, .good.v1.PingReply\n",
    );
  });

  it("a well-known type used without its import names the import to add", async () => {
    const dir = await project({
      "good/v1/good.proto": goodProto.replace(
        "string id = 1; }\nmessage PingReply",
        "google.protobuf.FieldMask mask = 1; }\nmessage PingReply",
      ),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('in this scope: add import "google/protobuf/field_mask.proto";');
  });

  it("a tsmicro option used without its import names the shipped proto to import", async () => {
    const dir = await project({
      "good/v1/good.proto": goodProto.replace(
        "message PingReply { string id = 1; }",
        [
          "message PingReply {",
          "  option (tsmicro.entity) = {};",
          "  string id = 1 [(tsmicro.column) = { primary_key: true }];",
          "}",
          "message Pinged { option (tsmicro.event) = {}; }",
          "enum PingError { option (tsmicro.default_code) = NOT_FOUND; PING_ERROR_UNSPECIFIED = 0; }",
        ].join("\n"),
      ),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    const lines = result.stderr.split("\n").filter((line) => line.includes("in this scope"));
    expect(lines.map((line) => line.replace(/^.*cannot find /, ""))).toEqual([
      '`tsmicro.entity` in this scope: add import "tsmicro/entity.proto";',
      '`tsmicro.column` in this scope: add import "tsmicro/entity.proto";',
      '`tsmicro.event` in this scope: add import "tsmicro/event.proto";',
      '`tsmicro.default_code` in this scope: add import "tsmicro/errors.proto";',
    ]);
  });

  it("a type it cannot find says what to write: the import, the full name, or the scalar or type meant", async () => {
    const dir = await project({
      "common/v1/money.proto": 'syntax = "proto3";\npackage common.v1;\nmessage Money { int64 units = 1; }\n',
      "good/v1/other.proto": 'syntax = "proto3";\npackage good.v1;\nmessage Other { PingReply reply = 1; }\n',
      "good/v1/good.proto": [
        'syntax = "proto3";',
        "package good.v1;",
        'import "google/protobuf/timestamp.proto";',
        "message PingRequest {",
        "  strin id = 1;",
        "  common.v1.Money price = 2;",
        "  Money cost = 3;",
        "  Timestamp at = 4;",
        "  int count = 5;",
        "  Widget widget = 6;",
        "  string note = 7 [(acme.note) = true];",
        "}",
        "message PingReply { string id = 1; }",
        "service Pinger { rpc Ping(PingReqest) returns (PingReply); }",
        "",
      ].join("\n"),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    const lines = result.stderr.split("\n").filter((line) => line.includes("in this scope"));
    expect(lines).toEqual([
      "proto/good/v1/good.proto:5:3: cannot find `strin` in this scope: did you mean `string`?",
      'proto/good/v1/good.proto:6:3: cannot find `common.v1.Money` in this scope: it is declared in common/v1/money.proto: add import "common/v1/money.proto";',
      'proto/good/v1/good.proto:7:3: cannot find `Money` in this scope: common.v1.Money is declared in common/v1/money.proto: write common.v1.Money and add import "common/v1/money.proto";',
      // Imported already: only the name is wrong.
      "proto/good/v1/good.proto:8:3: cannot find `Timestamp` in this scope: write google.protobuf.Timestamp",
      "proto/good/v1/good.proto:9:3: cannot find `int` in this scope: proto calls it `int32` or `int64`",
      "proto/good/v1/good.proto:10:3: cannot find `Widget` in this scope: declare it (message Widget { … } or enum Widget { … }), or import the .proto that declares it",
      // An option of no imported extension is no type to declare.
      "proto/good/v1/good.proto:11:21: cannot find `acme.note` in this scope",
      "proto/good/v1/good.proto:14:27: cannot find `PingReqest` in this scope: did you mean `PingRequest`?",
      // Of the same package, in a file not imported.
      'proto/good/v1/other.proto:3:17: cannot find `PingReply` in this scope: it is declared in good/v1/good.proto: add import "good/v1/good.proto";',
    ]);
  });

  it("a misspelt option name, field of its value or value says the one meant, and the import it needs", async () => {
    const dir = await project({
      "good/v1/good.proto": [
        'syntax = "proto3";',
        "package good.v1;",
        'import "google/api/annotations.proto";',
        'import "tsmicro/entity.proto";',
        "message PingRequest {",
        "  option (tsmicro.entitty) = {};",
        "  string id = 1 [(tsmicro.column).uniqe = true];",
        "  string name = 2 [(tsmicro.column) = { indx: true }, deprecatd = true];",
        "  string note = 3 [(google.api.field_behaviour) = REQUIRED];",
        "  string tag = 4 [(tsmicro.column).unique = tru];",
        "  string kind = 5 [(tsmicro.column).xyzzy = true];",
        "}",
        "message PingReply { string id = 1; }",
        "service Pinger {",
        "  rpc Ping(PingRequest) returns (PingReply) {",
        '    option (google.api.htp) = {get: "/ping"};',
        '    option (google.api.http) = {gte: "/ping"};',
        "    option idempotency_levl = NO_SIDE_EFFECTS;",
        "    option idempotency_level = NO_SIDE_EFECTS;",
        "  }",
        "}",
        "",
      ].join("\n"),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    const lines = result.stderr.split("\n").filter((line) => line.startsWith("proto/"));
    expect(lines.sort()).toEqual(
      [
        "proto/good/v1/good.proto:6:11: cannot find `tsmicro.entitty` in this scope: did you mean `tsmicro.entity`?",
        "proto/good/v1/good.proto:7:34: cannot find message field `uniqe` in `tsmicro.ColumnOptions`: did you mean `unique`?",
        "proto/good/v1/good.proto:8:41: cannot resolve message field name for `tsmicro.ColumnOptions`: did you mean `index`?",
        "proto/good/v1/good.proto:8:55: cannot find message field `deprecatd` in `google.protobuf.FieldOptions`: did you mean `deprecated`?",
        // A known option in a file not imported: the import it needs, not "google/api/field_behaviour.proto".
        'proto/good/v1/good.proto:9:21: cannot find `google.api.field_behaviour` in this scope: did you mean `google.api.field_behavior` (add import "google/api/field_behavior.proto";)?',
        "proto/good/v1/good.proto:10:45: cannot find `tru` in this scope: did you mean `true`?",
        "proto/good/v1/good.proto:11:36: cannot find message field `xyzzy` in `tsmicro.ColumnOptions`: tsmicro.ColumnOptions has primary_key, unique, index, name",
        "proto/good/v1/good.proto:16:13: cannot find `google.api.htp` in this scope: did you mean `google.api.http`?",
        "proto/good/v1/good.proto:17:33: cannot resolve message field name for `google.api.HttpRule`: did you mean `get`?",
        "proto/good/v1/good.proto:18:12: cannot find message field `idempotency_levl` in `google.protobuf.MethodOptions`: did you mean `idempotency_level`?",
        "proto/good/v1/good.proto:19:32: cannot find `NO_SIDE_EFECTS` in this scope: did you mean `NO_SIDE_EFFECTS`?",
      ].sort(),
    );
  });

  it("a misspelt option value is matched against the option's own type only", async () => {
    const dir = await project({
      "good/v1/good.proto": [
        'syntax = "proto3";',
        "package good.v1;",
        'import "google/api/field_behavior.proto";',
        'import "tsmicro/entity.proto";',
        "enum Status { STATUS_UNSPECIFIED = 0; ACTIVE = 1; }",
        "message PingRequest {",
        "  string id = 1 [(google.api.field_behavior) = ACTIVEE];",
        "  string name = 2 [(google.api.field_behavior) = REQURED];",
        "  string tag = 3 [(tsmicro.column).name = tru];",
        "}",
        "message PingReply { string id = 1; }",
        "service Pinger { rpc Ping(PingRequest) returns (PingReply); }",
        "",
      ].join("\n"),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    const lines = result.stderr.split("\n").filter((line) => line.startsWith("proto/"));
    expect(lines).toEqual([
      // ACTIVE is a value of good.v1.Status, not of the option's google.api.FieldBehavior.
      "proto/good/v1/good.proto:7:48: cannot find `ACTIVEE` in this scope: google.api.FieldBehavior has " +
        "FIELD_BEHAVIOR_UNSPECIFIED, OPTIONAL, REQUIRED, OUTPUT_ONLY, INPUT_ONLY, IMMUTABLE, UNORDERED_LIST, " +
        "NON_EMPTY_DEFAULT, IDENTIFIER",
      "proto/good/v1/good.proto:8:50: cannot find `REQURED` in this scope: did you mean `REQUIRED`?",
      // A string option: `true` would be no string either.
      'proto/good/v1/good.proto:9:43: cannot find `tru` in this scope: it takes a string; write "tru"',
    ]);
  });

  it("an option used without the import that declares it names that import", async () => {
    const dir = await project({
      "good/v1/good.proto": goodProto.replace(
        "rpc Ping(PingRequest) returns (PingReply);",
        'rpc Ping(PingRequest) returns (PingReply) { option (google.api.http) = {get: "/ping"}; }',
      ),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    // Not google/api/http.proto, which declares HttpRule but not the option.
    expect(result.stderr).toContain(
      'cannot find `google.api.http` in this scope: add import "google/api/annotations.proto";',
    );
  });

  it("a `//` or `/*` inside a proto's strings is no comment to the hints: declarations after it count", async () => {
    const dir = await project({
      "good/v1/good.proto": [
        'syntax = "proto3";',
        "package good.v1;",
        'import "google/api/annotations.proto";',
        'message Link { string href = 1 [json_name = "http://x"]; }',
        'message Money { int64 units = 1; string sign = 2 [json_name = "{"]; }',
        "service Shops {",
        '  rpc GetShop(Link) returns (Link) { option (google.api.http) = {get: "/v1/{href=shops/*}"}; }',
        "}",
        "message Shop { string name = 1; }",
        "service Books {",
        '  rpc GetBook(Link) returns (Link) { option (google.api.http) = {get: "/v1/{href=shops/*/books/*}"}; }',
        "}",
        "",
      ].join("\n"),
      "good/v1/other.proto": 'syntax = "proto3";\npackage good.v1;\nmessage Other { Money cost = 1; Shop shop = 2; }\n',
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    const lines = result.stderr.split("\n").filter((line) => line.includes("in this scope"));
    expect(lines).toEqual([
      'proto/good/v1/other.proto:3:17: cannot find `Money` in this scope: it is declared in good/v1/good.proto: add import "good/v1/good.proto";',
      'proto/good/v1/other.proto:3:33: cannot find `Shop` in this scope: it is declared in good/v1/good.proto: add import "good/v1/good.proto";',
    ]);
  });

  it("a proto mistake reported in a folder below the proto folder's names it relative to that folder, as compilers do", async () => {
    const dir = await project({ "good/v1/good.proto": goodProto.replace("string id = 1; }", "strin id = 1; }") });
    const service = join(dir, "services/good");
    await mkdir(service, { recursive: true });
    await writeFile(join(service, "tsmicro.json"), JSON.stringify({ type: "service", proto: "../../proto" }));
    const where = "../../proto/good/v1/good.proto:3:23: cannot find `strin` in this scope: did you mean `string`?";
    const generated = await generate(service);
    expect(generated.code).toBe(1);
    expect(generated.stderr).toContain(`\n${where}\n`);
    const routes = await run("node", [bins.tsmicro, "routes"], { cwd: service });
    expect(routes.code).toBe(1);
    expect(routes.stderr).toContain(`\n${where}\n`);
  });

  it("a route naming no field, from a folder below the proto folder's, names where its option is written from there", async () => {
    const routed = goodProto
      .replace("package good.v1;\n", 'package good.v1;\nimport "google/api/annotations.proto";\n')
      .replace("returns (PingReply);", 'returns (PingReply) { option (google.api.http) = { get: "/v1/ping/{idd}" }; }');
    const dir = await project({ "good/v1/good.proto": routed });
    const service = join(dir, "services/good");
    await mkdir(service, { recursive: true });
    await writeFile(join(service, "tsmicro.json"), JSON.stringify({ type: "service", proto: "../../proto" }));
    const generated = await generate(service);
    expect(generated.code).toBe(1);
    expect(generated.stderr).toContain(
      "tsmicro: ../../proto/good/v1/good.proto:6:69: rpc Pinger.Ping (GET /v1/ping/{idd}): the path variable {idd} " +
        "names idd, which is not a field of good.v1.PingRequest; did you mean id?",
    );
  });

  it("a field number used twice names the field that has it already", async () => {
    const dir = await project({
      "good/v1/good.proto": goodProto.replace(
        "message PingRequest { string id = 1; }",
        "message PingRequest {\n  string id = 1;\n  string name = 1;\n}",
      ),
    });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "good.proto:5:17: field number `1` used more than once: id (line 4) has it too; give one of them a number not used yet",
    );
  });

  it("a syntax error in a fresh project creates no output folder", async () => {
    const dir = await project({ "a.proto": 'syntax = "proto3";\nmessage A { int32 x = 1 }\n' });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("proto/a.proto:2:");
    expect((await readTree(join(dir, "src/gen"))).size).toBe(0);
  });

  it("a missing import names the file and the search path", async () => {
    const dir = await project({ "svc/a.proto": 'syntax = "proto3";\nimport "missing/dep.proto";\nmessage A {}\n' });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'proto/svc/a.proto:2:1: import "missing/dep.proto" not found; searched proto/, google/api/ (shipped)',
    );
  });

  it("an unknown plugin option fails, naming the key and the valid ones", async () => {
    const dir = await project({ "a.proto": goodProto });
    const result = await generate(dir, "--opt", "frobnicate=1");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unknown plugin option "frobnicate"');
    expect(result.stderr).toContain("valid options: runtime_import, strict_routes, templates");
  });

  it("two methods on one route warn, naming both and the one that serves it; --strict_routes fails and writes nothing", async () => {
    const proto = [
      'syntax = "proto3";',
      "package maint.v1;",
      'import "google/api/annotations.proto";',
      "message HashRequest { string x = 1; }",
      "message HashResponse { uint32 hash = 1; }",
      "service Maintenance {",
      '  rpc Hash(HashRequest) returns (HashResponse) { option (google.api.http) = { post: "/v3/maintenance/hash" body: "*" }; }',
      '  rpc HashKV(HashRequest) returns (HashResponse) { option (google.api.http) = { post: "/v3/maintenance/{x=hash}" body: "*" }; }',
      "}",
      "",
    ].join("\n");
    const dir = await project({ "maint.proto": proto });
    const warned = await generate(dir);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toBe(
      "tsmicro: warning: maint.proto: POST /v3/maintenance/hash is claimed by maint.v1.Maintenance.Hash (/v3/maintenance/hash), " +
        "maint.v1.Maintenance.HashKV (/v3/maintenance/{x=hash}); maint.v1.Maintenance.HashKV serves it, the others are unreachable\n",
    );

    const strictDir = await project({ "maint.proto": proto });
    const strict = await generate(strictDir, "--strict_routes");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain("maint.v1.Maintenance.HashKV serves it");
    expect(strict.stderr).toContain("; strict_routes makes this an error");
    expect((await readTree(join(strictDir, "src/gen"))).size).toBe(0);

    // Written as tsmicro's other switches are (yargs would read `on` as false, and warn only).
    const on = await generate(strictDir, "--strict_routes=on");
    expect(on.code).toBe(1);
    expect(on.stderr).toContain("; strict_routes makes this an error");
    const bad = await generate(strictDir, "--strict_routes=maybe");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'tsmicro: --strict_routes has an invalid value "maybe": use on or off, or --strict_routes alone\n',
    );
    expect((await readTree(join(strictDir, "src/gen"))).size).toBe(0);
  });

  it("--strict_routes names every conflict in one error, not the first alone", async () => {
    const proto = [
      'syntax = "proto3";',
      "package maint.v1;",
      'import "google/api/annotations.proto";',
      "message R { string x = 1; }",
      "service Maintenance {",
      '  rpc Hash(R) returns (R) { option (google.api.http) = { post: "/v3/hash" body: "*" }; }',
      '  rpc HashKV(R) returns (R) { option (google.api.http) = { post: "/v3/hash" body: "*" }; }',
      '  rpc Status(R) returns (R) { option (google.api.http) = { get: "/v3/status/{x}" }; }',
      '  rpc Health(R) returns (R) { option (google.api.http) = { get: "/v3/status/{x}" }; }',
      "}",
      "",
    ].join("\n");
    const strictDir = await project({ "maint.proto": proto });
    const strict = await generate(strictDir, "--strict_routes");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(
      "2 route conflicts: (1) maint.proto: POST /v3/hash is claimed by maint.v1.Maintenance.Hash (/v3/hash), " +
        "maint.v1.Maintenance.HashKV (/v3/hash); maint.v1.Maintenance.HashKV serves it, the others are unreachable; " +
        "(2) maint.proto: GET /v3/status/* is claimed by maint.v1.Maintenance.Status (/v3/status/{x}), " +
        "maint.v1.Maintenance.Health (/v3/status/{x}); maint.v1.Maintenance.Health serves it, the others are unreachable; " +
        "strict_routes makes this an error",
    );
  });

  it("a route two protos claim warns once, naming both files; --strict_routes fails on it", async () => {
    const bound = (pkg: string, rpc: string) =>
      `syntax = "proto3";\npackage ${pkg}.v1;\nimport "google/api/annotations.proto";\n` +
      `message R { string id = 1; }\nservice ${rpc}s { rpc ${rpc}(R) returns (R) { option (google.api.http) = { get: "/v1/things/{id}" }; } }\n`;
    const protos = { "a/v1/a.proto": bound("a", "GetA"), "b/v1/b.proto": bound("b", "GetB") };
    const warned = await generate(await project(protos));
    expect(warned.code).toBe(0);
    expect(warned.stderr).toBe(
      "tsmicro: warning: a/v1/a.proto, b/v1/b.proto: GET /v1/things/* is claimed by a.v1.GetAs.GetA (/v1/things/{id}), " +
        "b.v1.GetBs.GetB (/v1/things/{id}); b.v1.GetBs.GetB serves it, the others are unreachable\n",
    );
    const strictDir = await project(protos);
    const strict = await generate(strictDir, "--strict_routes");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(
      "b.v1.GetBs.GetB serves it, the others are unreachable; strict_routes makes this an error",
    );
    expect(existsSync(join(strictDir, "src/gen"))).toBe(false);
  });

  it.each([
    [
      "a path variable",
      'get: "/v1/users/{idd}"',
      "the path variable {idd} names idd, which is not a field of users.v1.GetUserRequest; did you mean id?",
    ],
    [
      "a path variable written as the field's JSON name",
      'get: "/v1/users/{userName}"',
      "the path variable {userName} names userName, which is not a field of users.v1.GetUserRequest; did you mean user_name?",
    ],
    [
      "a nested path variable",
      'get: "/v1/users/{view.mode}"',
      "the path variable {view.mode} names mode, which is not a field of users.v1.View; use one of name",
    ],
    [
      "a path through a field that is no message",
      'get: "/v1/users/{id.x}"',
      "the path variable {id.x} names x, which is not a field of users.v1.GetUserRequest.id (a scalar, not a message); end the path at id",
    ],
    [
      "a body",
      'post: "/v1/users" body: "usr"',
      'body "usr" names usr, which is not a field of users.v1.GetUserRequest; use one of id, view, user_name',
    ],
    [
      "a response body",
      'get: "/v1/users" response_body: "nope"',
      'response_body "nope" names nope, which is not a field of users.v1.User; use one of id',
    ],
    [
      "a path template off the grammar",
      'get: "v1/users/{id}"',
      'bad path template "v1/users/{id}" at column 1: a template must start with "/"',
    ],
  ])("%s fails, naming the rpc, the route and what is wrong there", async (_, rule, message) => {
    const proto = [
      'syntax = "proto3";',
      "package users.v1;",
      'import "google/api/annotations.proto";',
      "message View { string name = 1; }",
      "message GetUserRequest { string id = 1; View view = 2; string user_name = 3; }",
      "message User { string id = 1; }",
      `service Users { rpc GetUser(GetUserRequest) returns (User) { option (google.api.http) = { ${rule} }; } }`,
      "",
    ].join("\n");
    const dir = await project({ "users.proto": proto });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    // Where the option is written, from where generate ran, as buf's own errors say it.
    expect(result.stderr).toContain("tsmicro: proto/users.proto:7:69: rpc Users.GetUser (");
    expect(result.stderr).toContain(message);
    expect((await readTree(join(dir, "src/gen"))).size).toBe(0);
  });

  /** Generates `files` and expects it refused: exit 1, each of `messages` on stderr, nothing written. */
  async function expectRefused(files: Record<string, string>, ...messages: string[]): Promise<void> {
    const dir = await project(files);
    const result = await generate(dir);
    expect(result.code).toBe(1);
    for (const message of messages) expect(result.stderr).toContain(message);
    expect((await readTree(join(dir, "src/gen"))).size).toBe(0);
  }

  it("a message that would shadow what ts-proto's code uses is refused by name", async () => {
    await expectRefused(
      { "x/bytes.proto": 'syntax = "proto3";\npackage x;\nmessage Uint8Array { bytes b = 1; }\n' },
      "message x.Uint8Array in x/bytes.proto takes the name Uint8Array",
      "rename it (for example to Uint8ArrayMessage)",
    );
  });

  it("a field whose property every JavaScript object has is refused by name", async () => {
    await expectRefused(
      {
        "x/thing.proto":
          'syntax = "proto3";\npackage x;\nmessage Thing { message Part { string to_string = 2; } string name = 1; }\n',
      },
      "field to_string of x.Thing.Part in x/thing.proto becomes the property toString, which every JavaScript object has",
      "rename the field (for example to to_string_value)",
    );
  });

  it("the name suggested for __proto__ is snake_case without the underscores around it", async () => {
    await expectRefused(
      { "x/thing.proto": 'syntax = "proto3";\npackage x;\nmessage Thing { string __proto__ = 1; }\n' },
      "field __proto__ of x.Thing in x/thing.proto becomes the property __proto__",
      "rename the field (for example to proto_value)",
    );
  });

  it("a missing proto folder named by --proto says it does not exist", async () => {
    const dir = await project({});
    const result = await generate(dir, "--proto", "proto");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `tsmicro: --proto has an invalid value "proto": the folder ${join(dir, "proto")} does not exist; pass --proto DIR naming the folder that holds the .proto files\n`,
    );
  });

  it("no project and no proto folder, with no --proto given, says so rather than blaming --proto", async () => {
    const dir = await project({});
    const said = `tsmicro: no tsmicro project here (no tsmicro.json in ${dir} or above) and no proto/ folder: run it in a project, or pass --proto DIR\n`;
    const generated = await generate(dir);
    expect(generated.code).toBe(1);
    expect(generated.stderr).toBe(said);
    const routes = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(routes.code).toBe(1);
    expect(routes.stderr).toBe(said);
  });

  it("a folder inside a project, with no --proto given, names the project to run it in", async () => {
    const dir = await project({ "good/v1/good.proto": goodProto });
    await writeFile(join(dir, "tsmicro.json"), "{}\n");
    await mkdir(join(dir, "src"));
    const result = await generate(join(dir, "src"));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `tsmicro: no proto/ folder in ${join(dir, "src")}, which is inside the tsmicro project ${dir}: run it there, or pass --proto DIR\n`,
    );
  });

  it("a proto folder without .proto files says where to put protos", async () => {
    const dir = await project({ "README.md": "no protos here\n" });
    const result = await generate(dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no .proto files under proto");
  });

  it("files generated from a proto that was deleted are removed; other files stay", async () => {
    const dir = await project({ "a/v1/a.proto": goodProto, "b/v1/b.proto": goodProto.replace("good.v1", "other.v1") });
    expect((await generate(dir)).code).toBe(0);
    await writeFile(join(dir, "src/gen/notes.ts"), "// mine\nexport const mine = 1;\n");
    await writeFile(join(dir, "src/gen/mine.openapi.json"), '{\n  "openapi": "3.1.0"\n}\n');
    await rm(join(dir, "proto/b"), { recursive: true });
    const result = await generate(dir);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("removed b/v1/b.micro.ts");
    expect(result.stdout).toContain("removed b/v1/b.openapi.json");
    const tree = await readTree(join(dir, "src/gen"));
    expect([...tree.keys()].sort()).toEqual([
      "a/v1/a.micro.ts",
      "a/v1/a.openapi.json",
      "a/v1/a.ts",
      "mine.openapi.json",
      "notes.ts",
    ]);
    // Nor are the folders that held them left behind, empty.
    expect(existsSync(join(dir, "src/gen/b"))).toBe(false);
  });
});

describe("protoc-gen-tsmicro as a plugin", () => {
  it("prints its version", async () => {
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    const result = await run("node", [bins.plugin, "--version"]);
    expect(result).toEqual({ code: 0, stdout: `protoc-gen-tsmicro v${pkg.version}\n`, stderr: "" });
  });

  it("refuses output paths that escape the output folder", async () => {
    for (const name of ["../../escape.proto", "/etc/escape.proto", "a/../../b.proto"]) {
      const file = create(FileDescriptorProtoSchema, {
        name,
        package: "evil",
        syntax: "proto3",
        messageType: [{ name: "Evil" }],
      });
      const request = create(CodeGeneratorRequestSchema, { fileToGenerate: [name], protoFile: [file] });
      const result = await runBinary("node", [bins.plugin], toBinary(CodeGeneratorRequestSchema, request));
      expect(result.code).toBe(0);
      const response = fromBinary(CodeGeneratorResponseSchema, result.stdout);
      expect(response.error).toContain("refusing to write");
      expect(response.error).toContain("generated paths must stay inside the output directory");
      expect(response.file).toEqual([]);
    }
  });

  const protoc = findProgram("protoc", "protobuf-compiler");
  it.skipIf(!protoc)("under protoc, an unknown option fails with the key and the valid ones", async () => {
    const dir = await project({ "a.proto": goodProto });
    const out = join(dir, "out");
    await mkdir(out);
    const result = await run(
      protoc!,
      [
        `--plugin=protoc-gen-tsmicro=${bins.plugin}`,
        `--tsmicro_out=${out}`,
        "--tsmicro_opt=nope=1",
        "-I",
        "proto",
        "proto/a.proto",
      ],
      { cwd: dir },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--tsmicro_out: unknown plugin option "nope"');
    expect((await readTree(out)).size).toBe(0);
  });
});
