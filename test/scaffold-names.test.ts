import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../runtime/src/database/index.js";
import { bins, readTree, repoTempDir, run } from "./support/cli.js";
import { runCreate } from "./support/project.js";

// Names JavaScript reserves, which protos use all the time (`rpc Delete`, `message Package`), and
// rpc names that differ only in case or underscores. The projects sit inside the repository, so
// their files load on the checkout's packages without an npm install.

const proto = (rpcs: string) => `syntax = "proto3";
package depot.v1;

import "tsmicro/entity.proto";

service DepotService {
  rpc CreatePackage(CreatePackageRequest) returns (Package);
${rpcs}
}

message Package {
  option (tsmicro.entity) = {};
  string id = 1;
  string label = 2;
}

message CreatePackageRequest { Package package = 1; }
message PackageRef { string id = 1; }
`;

let work = "";
let database: Database<unknown> | undefined;

beforeAll(async () => {
  work = await repoTempDir("scaffold-names");
}, 60_000);

afterAll(async () => {
  await database?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Makes project `name` in `work` from `source`, with no install. */
async function create(name: string, source?: string) {
  const dir = join(work, `${name}-proto`);
  if (source === undefined) return runCreate([name, "--no-install"], work);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "depot.proto"), source);
  return runCreate([name, "--proto", join(dir, "depot.proto"), "--no-install"], work);
}

describe("scaffolding names JavaScript reserves", () => {
  it("serves rpcs named Delete, Import and New, and stores an entity named Package", async () => {
    const created = await create(
      "depot",
      proto(["Delete", "Import", "New"].map((rpc) => `  rpc ${rpc}(PackageRef) returns (Package);`).join("\n")),
    );
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "depot");
    const stub = await readFile(join(project, "src/handler/depot-service/delete.ts"), "utf8");
    expect(stub).toContain('export function delete$(deps: Dependencies): DepotServiceHandler["delete"]');

    const load = (path: string) => import(pathToFileURL(join(project, path)).href);
    const { openTestDatabase } = await import("../runtime/src/database/index.js");
    database = await openTestDatabase({ migrationsDir: join(project, "migrations") });
    const [handlers, service, repository] = await Promise.all([
      load("src/handler/depot-service.ts"),
      load("src/domain/service/package-data-service.ts"),
      load("src/domain/repository/sql-package-repository.ts"),
    ]);
    const packages = new service.PackageDataService(new repository.SqlPackageRepository(database.db));
    const handler = handlers.createDepotServiceHandler({ packages });
    expect(Object.keys(handler).sort()).toEqual(["createPackage", "delete", "import", "new"]);
    const stored = await handler.createPackage({ package: { id: "", label: "box" } }, {});
    expect(stored).toMatchObject({ label: "box" });
    await expect(packages.get(stored.id)).resolves.toMatchObject({ id: stored.id, label: "box" });
    await expect(handler.delete({ id: stored.id }, {})).rejects.toThrow(/DepotService\/Delete is not written yet/);
  });

  it("makes projects named package, class and new, whose files load", async () => {
    for (const name of ["package", "class", "new"]) {
      const created = await create(name);
      expect(created.code, `${name}: ${created.stderr}`).toBe(0);
      const loaded = await import(
        pathToFileURL(join(work, name, `src/domain/repository/sql-${name}-repository.ts`)).href
      );
      expect(Object.keys(loaded), name).not.toHaveLength(0);
    }
  });
});

describe("scaffolding rpcs whose names differ only in case or underscores", () => {
  it("refuses them, naming both, and writes nothing", async () => {
    for (const rpc of ["getPackage", "Get_Package"]) {
      const name = `clash-${rpc.toLowerCase().replace("_", "")}`;
      const created = await create(
        name,
        proto(`  rpc GetPackage(PackageRef) returns (Package);\n  rpc ${rpc}(PackageRef) returns (Package);`),
      );
      expect(created.code).toBe(1);
      expect(created.stderr).toContain(
        `rpcs GetPackage and ${rpc} of depot.v1.DepotService in depot/v1/depot.proto both become`,
      );
      expect(created.stderr).toContain(`rename one of them`);
      expect(existsSync(join(work, name)), name).toBe(false);
    }
  });
});

describe("tsmicro generate in a project, refusing what would lose or misplace files", () => {
  const generate = (project: string) => run(process.execPath, [bins.tsmicro, "generate"], { cwd: project });

  it("refuses a second version of a service with the same name, naming both, and writes nothing", async () => {
    const created = await create("versions");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "versions");
    await mkdir(join(project, "proto/versions/v2"), { recursive: true });
    await writeFile(
      join(project, "proto/versions/v2/versions.proto"),
      'syntax = "proto3";\npackage versions.v2;\nservice VersionsService { rpc Whoami(Ask) returns (Ask); }\nmessage Ask {}\n',
    );
    const generated = await generate(project);
    expect(generated.code).toBe(1);
    expect(generated.stderr).toBe(
      "tsmicro: service versions.v1.VersionsService and versions.v2.VersionsService would both be scaffolded as " +
        "src/handler/versions-service.ts (a project has one of each name); give one a name of its own in its proto " +
        "(UserServiceV2), or serve it from a project of its own\n",
    );
    expect(existsSync(join(project, "src/gen/versions/v2"))).toBe(false);
  });

  it("says a service is not served when src/main.ts only imports it, mentions it in a comment, or serves one whose name holds it", async () => {
    const created = await create(
      "served",
      `syntax = "proto3";\npackage depot.v1;\nservice OrderItemService { rpc Get(Ask) returns (Ask); }\n` +
        `service ItemService { rpc Get(Ask) returns (Ask); }\nmessage Ask {}\n`,
    );
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "served");
    const main = await readFile(join(project, "src/main.ts"), "utf8");
    const serving = /^.*service\.handle\(ItemServiceDefinition.*$/m.exec(main)?.[0];
    expect(serving, main).toBeDefined();
    await writeFile(join(project, "src/main.ts"), main.replace(serving!, `// ${serving!.trim()}`));
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout).toContain(
      "not served: add service.handle(ItemServiceDefinition, createItemServiceHandler(deps)) to src/main.ts to serve ItemService",
    );
    expect(generated.stdout).not.toContain("to serve OrderItemService");
  });

  it("lists an rpc's file left behind as orphaned, not a helper or a test beside the handlers", async () => {
    const created = await create("helpers");
    expect(created.code, created.stderr).toBe(0);
    const folder = join(work, "helpers/src/handler/helpers-service");
    const former = 'export function oldThing(): HelpersServiceHandler["oldThing"] {\n  throw new Error("gone");\n}\n';
    await writeFile(join(folder, "old-thing.ts"), `import type { HelpersServiceHandler } from "x";\n${former}`);
    await writeFile(join(folder, "shared-validation.ts"), "export const nonEmpty = (text: string) => text !== '';\n");
    await writeFile(join(folder, "get-helper.test.ts"), "export {};\n");
    const generated = await generate(join(work, "helpers"));
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.split("\n").filter((line) => line.startsWith("orphaned:"))).toEqual([
      "orphaned: src/handler/helpers-service/old-thing.ts: no rpc of HelpersService is written here any more; delete it or move its code",
    ]);
  });

  it("says to move an rpc's code into the new stub when its service lost that rpc and gained another (a rename)", async () => {
    const created = await create("renamed");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "renamed");
    const protoPath = join(project, "proto/renamed/v1/renamed.proto");
    const proto = await readFile(protoPath, "utf8");
    await writeFile(
      protoPath,
      proto.replace(
        "  // DeleteRenamed",
        "  rpc CountRenameds(GetRenamedRequest) returns (Renamed);\n  // DeleteRenamed",
      ),
    );
    expect((await generate(project)).code).toBe(0);
    await writeFile(
      protoPath,
      proto.replace(
        "  // DeleteRenamed",
        "  rpc CountAllRenameds(GetRenamedRequest) returns (Renamed);\n  // DeleteRenamed",
      ),
    );
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.split("\n").filter((line) => line.startsWith("orphaned:"))).toEqual([
      "orphaned: src/handler/renamed-service/count-renameds.ts: no rpc of RenamedService is written here any more; " +
        "if its rpc became renamed.v1.RenamedService/CountAllRenameds, move its code into src/handler/renamed-service/count-all-renameds.ts; else delete it",
    ]);
  });

  it("says a service's methods changed paths when its package or name changed, and how to serve it under the new name", async () => {
    const created = await create("moniker");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "moniker");
    const protoPath = join(project, "proto/moniker/v1/moniker.proto");
    const proto = await readFile(protoPath, "utf8");
    const userFiles = async () => {
      const tree = new Map<string, string>();
      for (const top of ["src/handler", "src/domain", "test"])
        for (const [path, content] of await readTree(join(project, top))) tree.set(`${top}/${path}`, content);
      tree.set("src/main.ts", await readFile(join(project, "src/main.ts"), "utf8"));
      return tree;
    };
    const before = await userFiles();
    const lines = (output: string, prefix: RegExp) => output.split("\n").filter((line) => prefix.test(line));

    // The package: every path changes, the handlers and main.ts stay as they are (and still serve it).
    await writeFile(protoPath, proto.replace("package moniker.v1;", "package monikers.v1;"));
    const repackaged = await generate(project);
    expect(repackaged.code, repackaged.stderr).toBe(0);
    expect(lines(repackaged.stdout, /^(renamed|created|orphaned|not served)/)).toEqual([
      "renamed: service moniker.v1.MonikerService is now monikers.v1.MonikerService (its package changed in " +
        "proto/moniker/v1/moniker.proto): every method's path changed with it (/moniker.v1.MonikerService/CreateMoniker " +
        "is now /monikers.v1.MonikerService/CreateMoniker), so a caller built on the old name gets UNIMPLEMENTED until " +
        "it is regenerated from this proto; if callers you cannot regenerate use it, keep the old package",
    ]);
    expect(await userFiles()).toEqual(before);
    expect(lines((await generate(project)).stdout, /^renamed/)).toEqual([]);

    // The service: src/main.ts's line serving the old one is to be replaced, on this run and the next.
    await writeFile(protoPath, proto.replace("service MonikerService {", "service NameService {"));
    const renamed = await generate(project);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(lines(renamed.stdout, /^(renamed|created src\/handler\/name-service\.ts)/)).toEqual([
      "created src/handler/name-service.ts (service NameService); serve it in place of MonikerService: in src/main.ts " +
        "replace service.handle(MonikerServiceDefinition, createMonikerServiceHandler(deps)) with " +
        "service.handle(NameServiceDefinition, createNameServiceHandler(deps)), and import NameServiceDefinition " +
        "(from src/gen) and createNameServiceHandler in place of MonikerServiceDefinition and createMonikerServiceHandler",
      "renamed: service monikers.v1.MonikerService is gone and moniker.v1.NameService is new in " +
        "proto/moniker/v1/moniker.proto, a rename most likely: if so, every method's path changed with it (/monikers.v1.MonikerService/CreateMoniker " +
        "is now /moniker.v1.NameService/CreateMoniker), so a caller built on the old name gets UNIMPLEMENTED until " +
        "it is regenerated from this proto; if callers you cannot regenerate use it, keep the old package and name",
    ]);
    expect(lines((await generate(project)).stdout, /^not served/)).toEqual([
      "not served: replace service.handle(MonikerServiceDefinition, …) in src/main.ts with " +
        "service.handle(NameServiceDefinition, createNameServiceHandler(deps)) (and its import) to serve NameService: " +
        "MonikerServiceDefinition is no longer generated",
    ]);
    const after = await userFiles();
    for (const [path, content] of before) expect(after.get(path), path).toBe(content);
  });

  it("refuses a field made unique later blank, as one unique from the start, and says so of a data service that does not", async () => {
    const created = await create("journal");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "journal");
    const protoPath = join(project, "proto/journal/v1/journal.proto");
    const proto = await readFile(protoPath, "utf8");
    const servicePath = join(project, "src/domain/service/journal-data-service.ts");
    const dataService = await readFile(servicePath, "utf8");
    await writeFile(
      protoPath,
      proto.replace("string description = 3;", "string description = 3 [(tsmicro.column).unique = true];"),
    );
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout).toContain("created migrations/0002_unique_journal_description.sql");
    expect(generated.stdout).not.toContain("not checked:");
    expect(await readFile(servicePath, "utf8")).toBe(dataService);

    const load = (path: string) => import(pathToFileURL(join(project, path)).href);
    const { openTestDatabase } = await import("../runtime/src/database/index.js");
    const db = await openTestDatabase({ migrationsDir: join(project, "migrations") });
    try {
      const [handlers, service, repository] = await Promise.all([
        load("src/handler/journal-service.ts"),
        load("src/domain/service/journal-data-service.ts"),
        load("src/domain/repository/sql-journal-repository.ts"),
      ]);
      const journals = new service.JournalDataService(new repository.SqlJournalRepository(db.db));
      const handler = handlers.createJournalServiceHandler({ journals });
      const blank = (name: string, description: string) =>
        handler.createJournal({ journal: { id: "", name, description } }, {});
      const invalid = (field: string) => ({
        code: 3,
        message: `${field} is required: each journal has its own (a unique field)`,
      });
      await expect(blank("", "first")).rejects.toMatchObject(invalid("name"));
      // The field made unique later: refused blank on the first row already, not ALREADY_EXISTS on the second.
      await expect(blank("a", "")).rejects.toMatchObject(invalid("description"));
      await expect(blank("b", " ")).rejects.toMatchObject(invalid("description"));
      const stored = await blank("c", "kept");
      await expect(
        handler.updateJournal({ journal: { ...stored, description: "" }, updateMask: ["description"] }, {}),
      ).rejects.toMatchObject(invalid("description"));
    } finally {
      await db.close();
    }

    // A data service scaffolded before the generated list existed checks only the fields it knew: every run says so.
    const older = dataService
      .replace(", journalUniqueTexts }", " }")
      .replace(/\/\*\*\n \* Refuses a unique text field[\s\S]*?\n\}\n/, "")
      .replace(/\brequireUniqueTexts\(journal, [^;]*;/, "")
      .replace(/\brequireUniqueTexts\(fields\);/, 'if (!fields.name?.trim()) throw blankName("name");');
    expect(older).not.toContain("journalUniqueTexts");
    await writeFile(servicePath, older);
    const line =
      "not checked: src/domain/service/journal-data-service.ts does not refuse a blank description, which is unique: a " +
      "second journal without one fails as ALREADY_EXISTS instead of INVALID_ARGUMENT naming description; in create " +
      'and update, throw new InvalidJournalError("description", "is required: each journal has its own (a unique field)") ' +
      "when it is blank, or check every field journalUniqueTexts of src/gen/journal/v1/journal.entity.ts as a new " +
      "project's data service does (requireUniqueTexts)";
    for (let run = 0; run < 2; run++)
      expect((await generate(project)).stdout.split("\n").filter((l) => l.startsWith("not checked:"))).toEqual([line]);
    expect(await readFile(servicePath, "utf8")).toBe(older);
  });

  it("keeps a removed rpc's file with code in it, and says the handler object still serves it", async () => {
    const created = await create("pruned");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "pruned");
    const protoPath = join(project, "proto/pruned/v1/pruned.proto");
    const proto = await readFile(protoPath, "utf8");
    const getFile = join(project, "src/handler/pruned-service/get-pruned.ts");
    const code = `${await readFile(getFile, "utf8")}\n// Audited: logs each read.\nexport const audited = true;\n`;
    await writeFile(getFile, code);
    const handler = await readFile(join(project, "src/handler/pruned-service.ts"), "utf8");
    const withoutGet = proto.replace(/ {2}\/\/ GetPruned[\s\S]*?\n {2}\}\n/, "");
    expect(withoutGet).not.toContain("rpc GetPruned");
    await writeFile(protoPath, withoutGet);
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.split("\n").filter((line) => line.startsWith("orphaned:"))).toEqual([
      "orphaned: src/handler/pruned-service/get-pruned.ts: no rpc of PrunedService is written here any more; delete it " +
        "or move its code (src/handler/pruned-service.ts still serves it: take its import and its key out of there)",
    ]);
    expect(await readFile(getFile, "utf8")).toBe(code);
    expect(await readFile(join(project, "src/handler/pruned-service.ts"), "utf8")).toBe(handler);
    // Taken out of the handler object, the file is still listed, without the note.
    await writeFile(
      join(project, "src/handler/pruned-service.ts"),
      handler.replace(/^import \{ getPruned \}.*\n/m, "").replace(/^\s*getPruned: getPruned\(deps\),\n/m, ""),
    );
    expect((await generate(project)).stdout.split("\n").filter((line) => line.startsWith("orphaned:"))).toEqual([
      "orphaned: src/handler/pruned-service/get-pruned.ts: no rpc of PrunedService is written here any more; delete it " +
        "or move its code",
    ]);
  });

  it("says a field whose number now holds a type of another wire encoding breaks callers built on the old proto", async () => {
    const created = await create("retype");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "retype");
    const protoPath = join(project, "proto/retype/v1/retype.proto");
    const proto = await readFile(protoPath, "utf8");
    const edited = proto
      .replace("message GetRetypeRequest {\n  string id = 1;", "message GetRetypeRequest {\n  int64 id = 1;")
      // int32 to int64 reads the same on the wire: nothing to say.
      .replace(/int32 page_size = 1;/, "int64 page_size = 1;")
      // A field renamed reads the same in gRPC, not in JSON.
      .replace("string page_token = 2;", "string cursor = 2;");
    expect(edited).toContain("int64 id = 1;");
    expect(edited).toContain("int64 page_size = 1;");
    expect(edited).toContain("string cursor = 2;");
    await writeFile(protoPath, edited);
    const lines = async () =>
      (await generate(project)).stdout.split("\n").filter((line) => /^(retyped|renamed):/.test(line));
    expect(await lines()).toEqual([
      "retyped: field id = 1 of retype.v1.GetRetypeRequest in proto/retype/v1/retype.proto is int64, where it was " +
        "string: callers built on the old proto still send string there, which this service misreads or drops without " +
        "an error; unless every caller is regenerated with it, give the field a new number and write reserved 1; in " +
        "retype.v1.GetRetypeRequest",
      "renamed: field page_token of retype.v1.ListRetypesRequest in proto/retype/v1/retype.proto is now named cursor: " +
        "gRPC callers are unaffected (the number is the same), but JSON callers (HTTP, through tsmicro api) built on the " +
        'old proto still send "page_token", which the gateway now refuses (400, no such field); keep the old name if ' +
        "they cannot all be updated with it",
    ]);
    expect(await lines()).toEqual([]);
  });

  it("says src/main.ts still serves a service gone from the protos, on every run until it does not", async () => {
    const created = await create("dropped");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "dropped");
    const protoPath = join(project, "proto/dropped/v1/dropped.proto");
    const proto = await readFile(protoPath, "utf8");
    const admin = "\nservice AdminService {\n  rpc Purge(GetDroppedRequest) returns (Dropped);\n}\n";
    await writeFile(protoPath, `${proto}${admin}`);
    expect((await generate(project)).code).toBe(0);
    const mainPath = join(project, "src/main.ts");
    const main = await readFile(mainPath, "utf8");
    const serving = main
      .replace(
        /^service\.handle\(DroppedServiceDefinition.*$/m,
        "$&\nservice.handle(AdminServiceDefinition, createAdminServiceHandler(deps));",
      )
      .replace(
        /^import \{ DroppedServiceDefinition \} from "(.*)";$/m,
        'import { AdminServiceDefinition, DroppedServiceDefinition } from "$1";\nimport { createAdminServiceHandler } from "./handler/admin-service.js";',
      );
    expect(serving).toContain("AdminServiceDefinition, DroppedServiceDefinition");
    await writeFile(mainPath, serving);
    await writeFile(protoPath, proto);
    const gone = async () => (await generate(project)).stdout.split("\n").filter((line) => line.startsWith("gone:"));
    const line =
      "gone: src/main.ts serves AdminServiceDefinition, which no proto declares any more: take out its service.handle(…) and its import";
    expect(await gone()).toEqual([line]);
    expect(await gone()).toEqual([line]);
    expect(await readFile(mainPath, "utf8")).toBe(serving);
    await writeFile(mainPath, main);
    expect(await gone()).toEqual([]);
  });

  it("says a new entity's data service is not wired into the handlers' Dependencies on every run until it is", async () => {
    const created = await create("wired");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "wired");
    const protoPath = join(project, "proto/wired/v1/wired.proto");
    await writeFile(
      protoPath,
      `${await readFile(protoPath, "utf8")}\nmessage Part {\n  option (tsmicro.entity) = {};\n  string id = 1;\n  string label = 2;\n}\n`,
    );
    const lines = async (prefix: string) =>
      (await generate(project)).stdout.split("\n").filter((line) => line.startsWith(prefix));
    expect((await lines("created src/domain/service/"))[0]).toContain("; wire it: add new PartDataService(");
    const unwired =
      "not wired: add parts: PartDataService to Dependencies in src/handler/dependencies.ts, and " +
      "new PartDataService(new SqlPartRepository(database.db)) to the deps in src/main.ts, to use entity Part";
    expect(await lines("not wired:")).toEqual([unwired]);
    expect(await lines("not wired:")).toEqual([unwired]);
    const dependencies = join(project, "src/handler/dependencies.ts");
    const text = await readFile(dependencies, "utf8");
    await writeFile(
      dependencies,
      `import type { PartDataService } from "../domain/service/part-data-service.js";\n${text.replace(
        "export interface Dependencies {",
        "export interface Dependencies {\n  readonly parts: PartDataService;",
      )}`,
    );
    expect(await lines("not wired:")).toEqual([]);
  });

  it("writes a new rpc's stub beside a helper of the user's that has its file name, and says so", async () => {
    const created = await create("tally");
    expect(created.code, created.stderr).toBe(0);
    const folder = join(work, "tally/src/handler/tally-service");
    // A helper of the handlers, written before the proto gained an rpc of the same name.
    const helper = 'export const audit = (what: string) => "audit: " + what;\n';
    await writeFile(join(folder, "audit.ts"), helper);
    const protoPath = join(work, "tally/proto/tally/v1/tally.proto");
    const proto = await readFile(protoPath, "utf8");
    await writeFile(
      protoPath,
      proto.replace(
        "  // DeleteTally",
        "  // Audit records.\n  rpc Audit(GetTallyRequest) returns (Tally);\n  // DeleteTally",
      ),
    );
    const generated = await generate(join(work, "tally"));
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.split("\n").filter((line) => /^(created|orphaned)/.test(line))).toEqual([
      "created src/handler/tally-service/audit-rpc.ts (rpc tally.v1.TallyService/Audit; src/handler/tally-service/audit.ts is a file of yours, not the rpc's); add it to src/handler/tally-service.ts",
    ]);
    expect(await readFile(join(folder, "audit.ts"), "utf8")).toBe(helper);
    expect(await readFile(join(folder, "audit-rpc.ts"), "utf8")).toContain('TallyServiceHandler["audit"]');
    // The stub is the rpc's file from then on: no second stub, and neither file is orphaned.
    const again = await generate(join(work, "tally"));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split("\n").filter((line) => /^(created|orphaned)/.test(line))).toEqual([]);
  });

  it("tells where to add a file made again only when the file that wires it in does not import it already", async () => {
    const created = await create("redo");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "redo");
    const made = async () => (await generate(project)).stdout.split("\n").filter((line) => line.startsWith("created "));
    // Deleted while src/main.ts and the handlers' Dependencies still import them.
    await unlink(join(project, "src/handler/redo-service.ts"));
    await unlink(join(project, "src/domain/service/redo-data-service.ts"));
    expect(await made()).toEqual([
      "created src/handler/redo-service.ts (service RedoService)",
      "created src/domain/service/redo-data-service.ts (entity Redo)",
    ]);
    // A stub deleted while the handler object imports it, beside a new rpc's, which it does not.
    await unlink(join(project, "src/handler/redo-service/get-redo.ts"));
    const protoPath = join(project, "proto/redo/v1/redo.proto");
    await writeFile(
      protoPath,
      (await readFile(protoPath, "utf8")).replace(
        "  // DeleteRedo",
        "  // Audit records.\n  rpc Audit(GetRedoRequest) returns (Redo);\n  // DeleteRedo",
      ),
    );
    expect(await made()).toEqual([
      "created src/handler/redo-service/get-redo.ts (rpc redo.v1.RedoService/GetRedo)",
      "created src/handler/redo-service/audit.ts (rpc redo.v1.RedoService/Audit); add it to src/handler/redo-service.ts",
    ]);
  });

  it("takes an rpc as written when its stub was renamed or its code moved into the handler object", async () => {
    const created = await create("note");
    expect(created.code, created.stderr).toBe(0);
    const handler = join(work, "note/src/handler/note-service.ts");
    const folder = join(work, "note/src/handler/note-service");
    // git mv get-note.ts get.ts, the import updated; delete-note.ts deleted, its rpc written inline.
    await writeFile(join(folder, "get.ts"), await readFile(join(folder, "get-note.ts"), "utf8"));
    await unlink(join(folder, "get-note.ts"));
    await unlink(join(folder, "delete-note.ts"));
    // list-notes.ts deleted while the handler object still imports it: that stub is needed, and in place already.
    await unlink(join(folder, "list-notes.ts"));
    const text = await readFile(handler, "utf8");
    await writeFile(
      handler,
      text
        .replace("./note-service/get-note.js", "./note-service/get.js")
        .replace(/import \{ deleteNote \} from "\.\/note-service\/delete-note\.js";\n/, "")
        .replace("deleteNote: deleteNote(deps),", "deleteNote: async () => ({}),"),
    );
    expect(await readFile(handler, "utf8")).not.toContain("delete-note");
    const generated = await generate(join(work, "note"));
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.split("\n").filter((line) => /^(created|orphaned)/.test(line))).toEqual([
      "created src/handler/note-service/list-notes.ts (rpc note.v1.NoteService/ListNotes)",
    ]);
    expect(existsSync(join(folder, "get-note.ts"))).toBe(false);
    expect(existsSync(join(folder, "delete-note.ts"))).toBe(false);
  });

  it("takes the handler object's file as moved when another file of src/handler/ defines its factory", async () => {
    const created = await create("memo");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "memo");
    const folder = join(project, "src/handler/memo-service");
    // git mv memo-service.ts memo-handler.ts, main.ts and the tests updated; get-memo.ts folded into it.
    const text = await readFile(join(project, "src/handler/memo-service.ts"), "utf8");
    await writeFile(
      join(project, "src/handler/memo-handler.ts"),
      text
        .replace(/import \{ getMemo \} from "\.\/memo-service\/get-memo\.js";\n/, "")
        .replace("getMemo: getMemo(deps),", "getMemo: async () => deps.memos.get(''),"),
    );
    await unlink(join(project, "src/handler/memo-service.ts"));
    await unlink(join(folder, "get-memo.ts"));
    for (const file of ["src/main.ts", "test/grpc.test.ts", "test/handler.test.ts"]) {
      const path = join(project, file);
      await writeFile(
        path,
        (await readFile(path, "utf8")).replace("handler/memo-service.js", "handler/memo-handler.js"),
      );
    }
    const protoPath = join(project, "proto/memo/v1/memo.proto");
    await writeFile(
      protoPath,
      (await readFile(protoPath, "utf8")).replace(
        "  // DeleteMemo",
        "  // Pin pins a memo.\n  rpc Pin(GetMemoRequest) returns (Memo);\n  // DeleteMemo",
      ),
    );
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
    // No second handler object (which would import the stubs folded away) and no stub of getMemo: only the new rpc's.
    expect(generated.stdout.split("\n").filter((line) => /^(created|orphaned|not served)/.test(line))).toEqual([
      "created src/handler/memo-service/pin.ts (rpc memo.v1.MemoService/Pin); add it to src/handler/memo-handler.ts",
    ]);
    expect(existsSync(join(project, "src/handler/memo-service.ts"))).toBe(false);
    expect(existsSync(join(folder, "get-memo.ts"))).toBe(false);
  });

  it("says where the names a user file imports went when their message moved to another proto file", async () => {
    const created = await create("lamp");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "lamp");
    const protoPath = join(project, "proto/lamp/v1/lamp.proto");
    const text = await readFile(protoPath, "utf8");
    const entity = text.slice(text.indexOf("// A lamp, stored"), text.indexOf("message CreateLampRequest"));
    await writeFile(
      protoPath,
      text
        .replace(entity, "")
        .replace('import "tsmicro/errors.proto";', 'import "tsmicro/errors.proto";\nimport "lamp/v1/model.proto";'),
    );
    await writeFile(
      join(project, "proto/lamp/v1/model.proto"),
      `syntax = "proto3";\npackage lamp.v1;\nimport "google/protobuf/timestamp.proto";\nimport "tsmicro/entity.proto";\n\n${entity}`,
    );
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
    const moved = generated.stdout.split("\n").filter((line) => line.startsWith("moved: "));
    expect(moved).toContain(
      "moved: src/domain/model/lamp.ts imports Lamp from src/gen/lamp/v1/lamp.js, which no longer declares it: " +
        "import it from src/gen/lamp/v1/model.js",
    );
    expect(moved).toContain(
      "moved: src/domain/repository/sql-lamp-repository.ts imports lampColumns, lampFromRow, lampToRow from " +
        "src/gen/lamp/v1/lamp.entity.js, which no longer declares them: import them from src/gen/lamp/v1/model.entity.js",
    );
    // Each line's file, and no other, is one the type checker now finds a missing name in.
    const files = new Set(moved.map((line) => line.split(" ")[1]));
    expect([...files].sort()).toEqual([
      "src/domain/model/lamp.ts",
      "src/domain/repository/sql-lamp-repository.ts",
      "src/domain/service/lamp-data-service.ts",
    ]);
  });

  it("makes a single project own its proto folder, so a proto copied in to call is a client; one no longer owned is said so", async () => {
    expect((await create("ledger")).code).toBe(0);
    const project = join(work, "ledger");
    const config = JSON.parse(await readFile(join(project, "tsmicro.json"), "utf8")) as Record<string, unknown>;
    expect(config.owns).toBe("ledger");
    await mkdir(join(project, "proto/stock/v1"), { recursive: true });
    await writeFile(
      join(project, "proto/stock/v1/stock.proto"),
      proto("")
        .replace("package depot.v1;", "package stock.v1;")
        .replace(/DepotService/g, "StockService")
        .replace(/Package\b/g, "Stock"),
    );
    const called = await generate(project);
    expect(called.code, called.stderr).toBe(0);
    expect(called.stdout).not.toMatch(/^created/m);
    expect(existsSync(join(project, "src/gen/stock/v1/stock.micro.ts"))).toBe(true);

    // A project made before owns was written scaffolds the copy; owning its folder then says why its files go.
    const { owns: _, ...unowned } = config;
    await writeFile(join(project, "tsmicro.json"), JSON.stringify(unowned));
    const scaffolded = await generate(project);
    expect(scaffolded.stdout).toContain("created migrations/0002_create_stock.sql");
    await writeFile(join(project, "tsmicro.json"), JSON.stringify(config));
    const disowned = await generate(project);
    expect(disowned.code, disowned.stderr).toBe(0);
    expect(disowned.stdout).toContain(
      `removed stock/v1/stock.entity.ts (proto/stock/v1/stock.proto is no longer this project's own: tsmicro.json's "owns" is "ledger")\n`,
    );
    expect(disowned.stdout).toContain(
      'table "stock" (stock.v1.Stock) is no longer an entity; migrations/0002_create_stock.sql creates it: ' +
        "if that migration was never applied to a database, take the table out of it",
    );
    const tables = async () =>
      (
        JSON.parse(await readFile(join(project, "migrations/schema.json"), "utf8")) as {
          schema: { tables: { name: string }[] };
        }
      ).schema.tables.map((t) => t.name);
    expect(await tables()).toEqual(["ledger", "stock"]);
    // The unapplied migration deleted: the record forgets the table its migrations no longer create.
    await unlink(join(project, "migrations/0002_create_stock.sql"));
    expect((await generate(project)).code).toBe(0);
    expect(await tables()).toEqual(["ledger"]);

    // Several folders its own: "owns" as a list, and the copied proto is the project's again.
    await writeFile(join(project, "tsmicro.json"), JSON.stringify({ ...config, owns: ["ledger", "stock/"] }));
    const both = await generate(project);
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toContain("created migrations/0002_create_stock.sql (the entities changed)");
    expect(existsSync(join(project, "src/gen/stock/v1/stock.entity.ts"))).toBe(true);
    expect(await tables()).toEqual(["ledger", "stock"]);
    // A value that names no folder is refused before anything is written, saying what to write.
    const fix =
      'write the folder of the proto folder whose protos are this project\'s own ("owns": "order"), or a list of ' +
      'them ("owns": ["order", "billing"]), or leave "owns" out to own every proto\n';
    for (const [owns, problem] of [
      [3, "is 3, neither a folder nor a list of them"],
      [[], "is an empty list, which owns no proto"],
      [["ledger", 7], "holds 7, which is not a folder"],
      [["ledger", "../stock"], 'holds "../stock", which is not a folder inside the proto folder'],
    ] as const) {
      await writeFile(join(project, "tsmicro.json"), JSON.stringify({ ...config, owns }));
      const refused = await generate(project);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`tsmicro: tsmicro.json: "owns" ${problem}; ${fix}`);
    }
    // A mistyped folder (the protos then all read as another project's) is refused too, before
    // the entity files are removed and every handler is listed as orphaned.
    const schema = await readFile(join(project, "migrations/schema.json"), "utf8");
    await writeFile(join(project, "tsmicro.json"), JSON.stringify({ ...config, owns: ["ledger", "stok"] }));
    const mistyped = await generate(project);
    expect(mistyped.code).toBe(1);
    expect(mistyped.stderr).toBe(
      'tsmicro: tsmicro.json: "owns" names "stok", but proto/stok/ holds no .proto file (proto/ has them in: ' +
        'ledger/, stock/); correct the name, or take it out of "owns" if its protos are gone\n',
    );
    // Its one folder is no entry to drop: without "owns", every proto would be the project's.
    await writeFile(join(project, "tsmicro.json"), JSON.stringify({ ...config, owns: "ledgr" }));
    expect((await generate(project)).stderr).toBe(
      'tsmicro: tsmicro.json: "owns" names "ledgr", but proto/ledgr/ holds no .proto file (proto/ has them in: ' +
        "ledger/, stock/); correct the name, or move the project's protos back there\n",
    );
    expect(existsSync(join(project, "src/gen/stock/v1/stock.entity.ts"))).toBe(true);
    expect(await readFile(join(project, "migrations/schema.json"), "utf8")).toBe(schema);
    // So is a mistyped key or type, which would otherwise be ignored without a word.
    const { owns: owned, ...rest } = config;
    for (const [mistake, problem] of [
      [
        { ...rest, own: owned },
        'unknown key "own": did you mean "owns"? (tsmicro reads "workspace", "type", "name", "proto", "owns", "out", "templates")',
      ],
      [
        { ...config, type: "srv" },
        '"type" is "srv"; write "service", "api" or "web" (the --type the project was made with)',
      ],
    ] as const) {
      await writeFile(join(project, "tsmicro.json"), JSON.stringify(mistake));
      const refused = await generate(project);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`tsmicro: tsmicro.json: ${problem}\n`);
    }
    // An editor's `$schema` is no setting to refuse.
    await writeFile(join(project, "tsmicro.json"), JSON.stringify({ $schema: "./tsmicro.schema.json", ...config }));
    expect((await generate(project)).code).toBe(0);
  });

  it("generates a project without entities whose migrations are all hand-written (no schema.json)", async () => {
    const created = await create(
      "handmade",
      'syntax = "proto3";\npackage depot.v1;\nservice HandService { rpc Get(Ask) returns (Ask); }\nmessage Ask {}\n',
    );
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "handmade");
    await mkdir(join(project, "migrations"), { recursive: true });
    await writeFile(join(project, "migrations/0001_audit.sql"), "create table audit (id text primary key);\n");
    const generated = await generate(project);
    expect(generated.code, generated.stderr).toBe(0);
  });

  it("refuses to plan a migration without migrations/schema.json while migrations exist", async () => {
    const created = await create("schemaless");
    expect(created.code, created.stderr).toBe(0);
    const project = join(work, "schemaless");
    const before = await readdir(join(project, "migrations"));
    await unlink(join(project, "migrations/schema.json"));
    const generated = await generate(project);
    expect(generated.code).toBe(1);
    expect(generated.stderr).toContain("migrations/schema.json is missing, while migrations/ holds 1 migration(s)");
    expect(generated.stderr).toContain("restore it (git checkout migrations/schema.json)");
    expect(await readdir(join(project, "migrations"))).toEqual(before.filter((f) => f !== "schema.json"));
  });
});

describe("tsmicro new in a workspace, from a proto already in its proto/", () => {
  it("makes the service of a proto written there first, and refuses a second service of it", async () => {
    const made = await runCreate(["first", "--workspace", "--no-install"], work);
    expect(made.code, made.stderr).toBe(0);
    const root = join(work, "first");
    const tsmicro = (...args: string[]) => run(process.execPath, [bins.tsmicro, ...args], { cwd: root });
    await mkdir(join(root, "proto/payment/v1"), { recursive: true });
    const proto =
      'syntax = "proto3";\npackage payment.v1;\nservice PaymentService { rpc Pay(PayRequest) returns (PayRequest); }\n' +
      "message PayRequest { string order_id = 1; }\n";
    await writeFile(join(root, "proto/payment/v1/payment.proto"), proto);
    // Generate says nothing serves it, and how to make what does.
    const unowned = await tsmicro("generate");
    expect(unowned.code, unowned.stderr).toBe(0);
    expect(unowned.stdout).toBe(
      "unowned: proto/payment/v1/payment.proto declares PaymentService, which no service of the workspace serves " +
        "(none owns proto/payment/); make one that does: tsmicro new payment --proto proto/payment/v1/payment.proto\n",
    );
    // At the top of proto/, a file is in no folder a service could own: generate says where to move it.
    await writeFile(join(root, "proto/health.proto"), 'syntax = "proto3";\npackage health;\nservice Health {}\n');
    expect((await tsmicro("generate")).stdout).toContain(
      "unowned: proto/health.proto declares Health, which no service of the workspace serves (a service owns a " +
        "folder of proto/, and this file is in none); move it to proto/health/health.proto, then: " +
        "tsmicro new health --proto proto/health/health.proto\n",
    );
    await rm(join(root, "proto/health.proto"));
    const plain = await tsmicro("new", "payment", "--no-install");
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("to start from that proto, pass --proto proto/payment/v1/payment.proto");
    const added = await tsmicro("new", "payment", "--proto", "proto/payment/v1/payment.proto", "--no-install");
    expect(added.code, added.stderr).toBe(0);
    expect(existsSync(join(root, "services/payment/src/handler/payment-service/pay.ts"))).toBe(true);
    expect(await readFile(join(root, "proto/payment/v1/payment.proto"), "utf8")).toBe(proto);
    expect((await tsmicro("generate")).stdout).not.toContain("unowned:");
    const again = await tsmicro("new", "billing", "--proto", "proto/payment/v1/payment.proto", "--no-install");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("proto/payment/v1/payment.proto is the proto of services/payment already");
  });
});

describe("tsmicro generate at a workspace's root", () => {
  /** A workspace `name` with a service `user` and an API service `edge`, and tsmicro run at its root. */
  async function userAndEdge(name: string) {
    const made = await runCreate([name, "--workspace", "--no-install"], work);
    expect(made.code, made.stderr).toBe(0);
    const root = join(work, name);
    const tsmicro = (...args: string[]) => run(process.execPath, [bins.tsmicro, ...args], { cwd: root });
    for (const args of [
      ["new", "user", "--no-install"],
      ["new", "edge", "--type", "api", "--no-install"],
    ]) {
      const added = await tsmicro(...args);
      expect(added.code, added.stderr).toBe(0);
    }
    return { root, tsmicro };
  }

  it("gives an API service the other services' clients, not their entities' Kysely types", async () => {
    const { root } = await userAndEdge("mall");
    expect(existsSync(join(root, "services/user/src/gen/user/v1/user.entity.ts"))).toBe(true);
    expect(existsSync(join(root, "services/edge/src/gen/user/v1/user.micro.ts"))).toBe(true);
    // It would import kysely, which edge does not depend on: its image would not build.
    expect(existsSync(join(root, "services/edge/src/gen/user/v1/user.entity.ts"))).toBe(false);
    const edge = JSON.parse(await readFile(join(root, "services/edge/package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(edge.dependencies).not.toHaveProperty("kysely");
  });

  it("plans every service before writing any: one that fails leaves all as they were, and is named", async () => {
    const { root, tsmicro } = await userAndEdge("shop");
    // A second UserService, in user's own protos: user refuses it, while edge would only get its client.
    await mkdir(join(root, "proto/user/v2"), { recursive: true });
    await writeFile(
      join(root, "proto/user/v2/user.proto"),
      'syntax = "proto3";\npackage user.v2;\nservice UserService { rpc Whoami(Ask) returns (Ask); }\nmessage Ask {}\n',
    );
    const generated = await tsmicro("generate");
    expect(generated.code).toBe(1);
    expect(generated.stderr).toMatch(
      /^tsmicro: services\/user: service user\.v1\.UserService and user\.v2\.UserService /,
    );
    expect(existsSync(join(root, "services/edge/src/gen/user/v2"))).toBe(false);
    expect(existsSync(join(root, "services/user/src/gen/user/v2"))).toBe(false);
  });
});
