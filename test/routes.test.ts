import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bins, repoRoot, repoTempDir, run } from "./support/cli.js";

const temps: string[] = [];

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function project(fixture: string | undefined): Promise<string> {
  const dir = await repoTempDir("routes");
  temps.push(dir);
  await mkdir(join(dir, "proto/library/v1"), { recursive: true });
  if (fixture) await copyFile(join(repoRoot, fixture), join(dir, "proto/library/v1/http.proto"));
  return dir;
}

/** A project whose one proto, proto/library/v1/http.proto, is `source` after its syntax, package and google.api import. */
async function projectWith(source: string): Promise<string> {
  const dir = await project(undefined);
  await writeFile(
    join(dir, "proto/library/v1/http.proto"),
    `syntax = "proto3";\npackage library.v1;\nimport "google/api/annotations.proto";\n${source}`,
  );
  return dir;
}

/** `tsmicro routes` in a project whose one proto binds rpc Counts.CountUsers with `rule`. */
async function routesWithRule(rule: string) {
  const dir =
    await projectWith(`service Counts { rpc CountUsers(Request) returns (Request) { option (google.api.http) = { ${rule} }; } }
message Request { string id = 1; }
`);
  return run("node", [bins.tsmicro, "routes"], { cwd: dir });
}

describe("tsmicro routes", () => {
  it("warns on stderr when two methods claim one route, naming the one that serves it", async () => {
    const dir = await project("test/protos/16-gateway/gateway.proto");
    const result = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/POST\s+\/v3\/maintenance\/hash\s+fixtures\.gateway\.v1\.Library\.HashKV/);
    expect(result.stderr).toBe(
      "tsmicro: warning: library/v1/http.proto: POST /v3/maintenance/hash is claimed by " +
        "fixtures.gateway.v1.Library.Hash (/v3/maintenance/hash), fixtures.gateway.v1.Library.HashKV " +
        "(/v3/maintenance/hash); fixtures.gateway.v1.Library.HashKV serves it, the others are unreachable\n",
    );
  });

  it("warns when two routes' templates overlap, naming a path both match and the one that serves it", async () => {
    const dir = await projectWith(`service Documents {
  rpc GetDocument(Request) returns (Request) {
    option (google.api.http) = { get: "/v1/{name=projects/*/databases/*/documents/*/**}" };
  }
  rpc ListDocuments(Request) returns (Request) {
    option (google.api.http) = { get: "/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}" };
  }
  rpc GetDatabase(Request) returns (Request) { option (google.api.http) = { get: "/v1/{name=projects/*/databases/*}" }; }
}
message Request { string name = 1; string parent = 2; string collection_id = 3; }
`);
    const result = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(3);
    expect(result.stderr).toBe(
      "tsmicro: warning: library/v1/http.proto: GET /v1/{name=projects/*/databases/*/documents/*/**} " +
        "(library.v1.Documents.GetDocument) and GET /v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id} " +
        "(library.v1.Documents.ListDocuments) both match paths such as /v1/projects/x/databases/x/documents/x/x; " +
        "library.v1.Documents.ListDocuments, declared last, serves those\n",
    );
  });

  it("warns of routes two protos of the project claim, as the gateway serves them together", async () => {
    const dir = await projectWith(`service Shelves {
  rpc GetShelf(Request) returns (Request) { option (google.api.http) = { get: "/v1/shelves/{id}" }; }
}
message Request { string id = 1; }
`);
    await writeFile(
      join(dir, "proto/library/v1/more.proto"),
      `syntax = "proto3";\npackage library.v1;\nimport "google/api/annotations.proto";\nimport "library/v1/http.proto";
service Racks {
  rpc GetRack(Request) returns (Request) { option (google.api.http) = { get: "/v1/shelves/{id}" }; }
  rpc FindRack(Request) returns (Request) { option (google.api.http) = { get: "/v1/{id=shelves/**}" }; }
}
`,
    );
    const result = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(result.code).toBe(0);
    // The gateway takes a service's proto services in name order: Racks, then Shelves, whose route serves.
    expect(result.stderr).toBe(
      "tsmicro: warning: library/v1/http.proto, library/v1/more.proto: GET /v1/shelves/* is claimed by " +
        "library.v1.Racks.GetRack (/v1/shelves/{id}), library.v1.Shelves.GetShelf (/v1/shelves/{id}); " +
        "library.v1.Shelves.GetShelf serves it, the others are unreachable\n" +
        "tsmicro: warning: library/v1/more.proto: GET /v1/shelves/{id} (library.v1.Racks.GetRack) and " +
        "GET /v1/{id=shelves/**} (library.v1.Racks.FindRack) both match paths such as /v1/shelves/x; " +
        "library.v1.Racks.FindRack, declared last, serves those\n" +
        "tsmicro: warning: library/v1/http.proto, library/v1/more.proto: GET /v1/{id=shelves/**} (library.v1.Racks.FindRack) " +
        "and GET /v1/shelves/{id} (library.v1.Shelves.GetShelf) both match paths such as /v1/shelves/x; " +
        "library.v1.Shelves.GetShelf serves those\n",
    );
  });

  it("warns of a route on a method that streams requests, which the gateway answers 501", async () => {
    const dir = await projectWith(`service Uploads {
  rpc Upload(stream Request) returns (Request) { option (google.api.http) = { post: "/v1/uploads" body: "*" }; }
}
message Request { string id = 1; }
`);
    const warning =
      "tsmicro: warning: library/v1/http.proto: POST /v1/uploads (library.v1.Uploads.Upload) streams requests, " +
      "which HTTP/JSON cannot carry: the gateway answers it 501; call the method over gRPC, or drop its google.api.http option\n";
    const routes = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(routes.code).toBe(0);
    expect(routes.stderr).toBe(warning);
  });

  it("warns of a route variable that names no field of the request, as generate refuses it", async () => {
    const result = await routesWithRule('get: "/v1/counts/{idd}"');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/GET\s+\/v1\/counts\/\{idd\}\s+library\.v1\.Counts\.CountUsers/);
    expect(result.stderr).toBe(
      "tsmicro: warning: proto/library/v1/http.proto:4:69: rpc Counts.CountUsers (GET /v1/counts/{idd}): the path variable {idd} " +
        "names idd, which is not a field of library.v1.Request; did you mean id?\n",
    );
  });

  it("fails once, naming the rpc, on a path template off the grammar", async () => {
    const result = await routesWithRule('get: "v1/counts"');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      'tsmicro: proto/library/v1/http.proto:4:69: rpc Counts.CountUsers (GET v1/counts): bad path template "v1/counts" ' +
        'at column 1: a template must start with "/"\n',
    );
  });

  it("prints the google.api.http routes of proto/, sorted, one per binding", async () => {
    const dir = await project("test/protos/12-http/http.proto");
    const result = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.map((line) => line.split(/\s+/))).toEqual([
      ["GET", "/v1/files/{path=**}", "fixtures.http.v1.LibraryService.GetFile"],
      ["HEAD", "/v1/ping", "fixtures.http.v1.LibraryService.Ping"],
      ["GET", "/v1/shelves/{shelf}", "fixtures.http.v1.LibraryService.GetShelf"],
      ["PUT", "/v1/shelves/{shelf}", "fixtures.http.v1.LibraryService.ReplaceShelf"],
      ["GET", "/v1/shelves/{shelf}/books", "fixtures.http.v1.LibraryService.ListBooks"],
      ["POST", "/v1/shelves/{shelf}/books", "fixtures.http.v1.LibraryService.CreateBook"],
      ["PATCH", "/v1/{book.name=shelves/*/books/*}", "fixtures.http.v1.LibraryService.UpdateBook"],
      ["DELETE", "/v1/{name=shelves/*/books/*}", "fixtures.http.v1.LibraryService.DeleteBook"],
      ["GET", "/v1/{name=shelves/*/books/*}", "fixtures.http.v1.LibraryService.GetBook"],
      ["POST", "/v1/{name=shelves/*/books/*}:publish", "fixtures.http.v1.LibraryService.PublishBook"],
      ["GET", "/v1beta/books/{name}", "fixtures.http.v1.LibraryService.LegacyGetBook"],
      ["GET", "/v2/shelves/{shelf}/books", "fixtures.http.v1.LibraryService.ListBooks"],
      ["POST", "/v2/shelves/{shelf}/books:search", "fixtures.http.v1.LibraryService.ListBooks"],
    ]);
    // Columns line up: every path starts at the same offset.
    expect(new Set(lines.map((line) => line.indexOf("/")))).toEqual(new Set([8]));
  });

  it("fails with a setup error when proto/ has no .proto files", async () => {
    const dir = await project(undefined);
    const result = await run("node", [bins.tsmicro, "routes"], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tsmicro: /);
    expect(result.stdout).toBe("");
  });
});
