/**
 * The gateway's merged /openapi.json, from a real gateway routing four services of four proto
 * files, two of which share paths (fixture 12's LibraryService and fixture 16's Library): every
 * operation of every file is there with its file's tags, summaries and descriptions, a route two
 * files claim lists the one the gateway serves, JWT-protected routes say so, and redocly lint's
 * recommended rules find no error.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileRegistry, fromBinary, type DescFile, type FileRegistry, type JsonObject } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, createService, silentLogger, TsmicroError, type MicroService } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOpenApi } from "../generator/openapi.js";
import { mergeOpenApi } from "../runtime/gateway/src/merge-openapi.js";
import { LibraryServiceDefinition } from "./golden/12-http/http.micro.js";
import { CatalogDefinition } from "./golden/15-openapi/catalog.micro.js";
import { LibraryDefinition } from "./golden/16-gateway/gateway.micro.js";
import { ProfilesDefinition } from "./golden/19-gateway-parity/parity.micro.js";
import { googleProtos, repoRoot, run } from "./support/cli.js";
import { redoclyLint } from "./support/redocly.js";
import { suiteEnv } from "./support/suite-env.js";

const secret = "a-shared-secret-of-at-least-32-bytes!!";

/** Registry name and definition of each service; the gateway routes them in name order. */
const services = [
  ["catalog", CatalogDefinition, "15-openapi/catalog"],
  ["http", LibraryServiceDefinition, "12-http/http"],
  ["library", LibraryDefinition, "16-gateway/gateway"],
  ["profiles", ProfilesDefinition, "19-gateway-parity/parity"],
] as const;

interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
  requestBody?: unknown;
  [key: string]: unknown;
}

interface Document {
  servers: { url: string }[];
  security: unknown[];
  tags: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  "x-unlisted-routes"?: { method: string; path: string; operationId: string; reason: string }[];
  components: { schemas: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
}

/** Builds a file's document as tsmicro api does. */
function openApiOf(file: DescFile, registry: FileRegistry, options: { useProtoNames: boolean }): JsonObject {
  return JSON.parse(buildOpenApi(file, file.proto, registry, "0.0.0-test", options)) as JsonObject;
}

describe("the gateway's merged /openapi.json", () => {
  let dir = "";
  let gateway: Gateway;
  const nodes: MicroService[] = [];
  let document: Document;
  const files = new Map<string, Document>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-openapi-"));
    const flags = ["--registry=local", `--registry_address=${join(dir, "registry")}`];
    for (const [, , golden] of services) {
      const document = JSON.parse(
        await readFile(join(repoRoot, `test/golden/${golden}.openapi.json`), "utf8"),
      ) as Document;
      files.set(golden, document);
    }
    for (const [name, definition] of services) {
      const node = createService({
        name,
        args: [...flags, "--server_address=127.0.0.1:0"],
        env: suiteEnv(),
        logger: silentLogger(),
      });
      // Every method answers UNIMPLEMENTED naming itself, so a test sees which RPC a route reached.
      const handlers = Object.fromEntries(
        Object.entries(definition.methods).map(([key, method]) => [
          key,
          () => {
            throw new TsmicroError(Code.UNIMPLEMENTED, `${definition.typeName}.${method.name}`);
          },
        ]),
      );
      node.handle(definition, handlers as never);
      await node.start();
      nodes.push(node);
    }
    gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: silentLogger(),
      // Built as tsmicro api builds them, from the descriptors the gateway learns by reflection:
      // the comments the generated documents print travel in them.
      openApi: openApiOf,
      jwt: { secret },
      routes: [
        { match: "fixtures.parity.v1.Profiles.*", auth: true },
        { match: "GET /v2/catalogs/*/items", auth: true },
        { match: "GET /v2/catalogs/*/items/*", rateLimit: { rate: 1_000 } },
        { match: "GET /v1/ping", auth: "optional" },
      ],
    });
    await gateway.start();
    const answer = await fetch(`${gateway.url}/openapi.json`);
    expect(answer.status).toBe(200);
    document = (await answer.json()) as Document;
  });

  afterAll(async () => {
    await gateway?.stop();
    for (const node of nodes.reverse()) await node.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("merges per path and method: a path two files share keeps each file's methods", () => {
    expect(document.paths["/v1/ping"]?.get?.operationId).toBe("Library_Ping");
    expect(document.paths["/v1/ping"]?.head?.operationId).toBe("LibraryService_Ping");
    expect(Object.keys(document.paths["/v1/shelves/{shelf}"] ?? {})).toEqual(["get", "put"]);
    expect(document.paths["/v1/shelves/{shelf}"]?.put?.operationId).toBe("LibraryService_ReplaceShelf");
  });

  it("lists, where two files claim a route, the operation the gateway serves; the other is unlisted with the reason", async () => {
    // library sorts after http, so fixture 16's Library serves the routes both declare.
    expect(document.paths["/v1/shelves/{shelf}"]?.get?.operationId).toBe("Library_GetShelf");
    expect(document["x-unlisted-routes"]).toContainEqual({
      method: "GET",
      path: "/v1/shelves/{shelf}",
      operationId: "LibraryService_GetShelf",
      reason:
        "fixtures.gateway.v1.Library.GetShelf (/v1/shelves/{shelf}) claims the same route; the gateway serves the last one registered",
    });
    // Every listed operation is the RPC the gateway calls for it.
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("ada")
      .sign(new TextEncoder().encode(secret));
    const reached: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const [path, item] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(item)) {
        let n = 0;
        const url = path.replace(/\{[^}]+\}/g, () => `p${n++}`);
        const answer = await fetch(`${gateway.url}${url}`, {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          ...(operation.requestBody === undefined ? {} : { body: "{}" }),
        });
        // A HEAD answer has no body to name the RPC; its status still says it was routed.
        const rpc = `${operation.tags[0]}.${operation.operationId.replace(/^[^_]*_|_\d+$/g, "")}`;
        const message = method === "head" ? rpc : ((await answer.json()) as { message: string }).message;
        reached[operation.operationId] = `${answer.status} ${message}`;
        expected[operation.operationId] = `501 ${rpc}`;
      }
    expect(Object.keys(reached).length).toBeGreaterThan(30);
    expect(reached).toEqual(expected);
  });

  it("keeps each file's operations, tags, summaries and descriptions", () => {
    const merged = new Map<string, Operation>();
    for (const item of Object.values(document.paths))
      for (const operation of Object.values(item)) merged.set(operation.operationId, operation);
    const unlisted = new Set((document["x-unlisted-routes"] ?? []).map((route) => route.operationId));
    for (const [golden, file] of files) {
      for (const tag of file.tags) expect(document.tags, golden).toContainEqual(tag);
      for (const item of Object.values(file.paths))
        for (const operation of Object.values(item)) {
          if (unlisted.has(operation.operationId)) continue;
          const listed = merged.get(operation.operationId);
          expect(listed, operation.operationId).toBeDefined();
          const { security: _, responses, ...rest } = listed as Operation;
          const { "401": __, "429": ___, ...ownResponses } = responses;
          expect({ ...rest, responses: ownResponses }, operation.operationId).toEqual(operation);
        }
    }
    const operationIds = [...merged.keys()];
    expect(new Set(operationIds).size).toBe(operationIds.length);
    // The comments did reach it: fixture 16's operations are summarised by their comments, not their names.
    expect(merged.get("Library_StreamBooks")?.summary).toBe("StreamBooks streams the shelf's books.");
    expect(document.tags).toContainEqual({
      name: "fixtures.gateway.v1.Library",
      description: "Library serves shelves and books over HTTP/JSON and gRPC.",
    });
  });

  it("keeps each file's schemas, described by the comments of their messages and fields", () => {
    for (const [golden, file] of files)
      for (const [name, schema] of Object.entries(file.components.schemas))
        expect(document.components.schemas[name], `${golden}: ${name}`).toEqual(schema);
    expect(document.components.schemas["fixtures.gateway.v1.Book"]).toMatchObject({
      description: 'Book is a resource named "shelves/{shelf}/books/{book}".',
    });
  });

  it("names fields as the gateway's JSON does: by their proto names with --json_use_proto_names", async () => {
    const named = createGateway({
      args: [
        "--registry=local",
        `--registry_address=${join(dir, "registry")}`,
        "--address=127.0.0.1:0",
        "--json_use_proto_names=on",
      ],
      env: suiteEnv(),
      logger: silentLogger(),
      openApi: openApiOf,
    });
    await named.start();
    try {
      const protoNamed = (await (await fetch(`${named.url}/openapi.json`)).json()) as Document;
      const response = (doc: Document) =>
        Object.keys(
          (doc.components.schemas["fixtures.http.v1.ListBooksResponse"] as { properties: object }).properties,
        );
      expect(response(document)).toEqual(["books", "nextPageToken"]);
      expect(response(protoNamed)).toEqual(["books", "next_page_token"]);
      const query = (doc: Document) =>
        ((doc.paths["/v1/shelves/{shelf}/books"]?.post?.parameters ?? []) as { name: string }[]).map((p) => p.name);
      expect(query(document)).toEqual(["shelf", "requestId"]);
      expect(query(protoNamed)).toEqual(["shelf", "request_id"]);
    } finally {
      await named.stop();
    }
  });

  it("lists apart a route whose method streams requests, which the gateway answers 501", async () => {
    expect(document["x-unlisted-routes"]).toContainEqual({
      method: "POST",
      path: "/v2/items:upload",
      operationId: "Catalog_UploadItems",
      reason: "the method streams requests, which HTTP/JSON cannot carry (the gateway answers 501)",
    });
    expect(document.paths).not.toHaveProperty(["/v2/items:upload"]);
    const answer = await fetch(`${gateway.url}/v2/items:upload`, { method: "POST", body: "{}" });
    expect(answer.status).toBe(501);
    expect(((await answer.json()) as { message: string }).message).toContain("streams requests");
  });

  it("names its server and the bearer JWT of the routes the gateway protects", () => {
    expect(document.servers).toEqual([{ url: "/", description: "this gateway" }]);
    expect(document.components.securitySchemes).toEqual({
      bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
    });
    const secured = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, operation]) => operation.security !== undefined)
        .map(([method, operation]) => `${method} ${path} ${JSON.stringify(operation.security)}`),
    );
    expect(secured.sort()).toEqual(
      [
        "get /v1/profiles",
        "post /v1/profiles",
        "get /v1/profiles/{profile}",
        "patch /v1/profiles/{profile}",
        "delete /v1/profiles/{profile}",
        "post /v1/annotate",
        "post /v1/annotate:stream",
        "get /v2/catalogs/{catalog}/items",
      ]
        .map((route) => `${route} [{"bearerAuth":[]}]`)
        // A token is checked when sent: OpenAPI's empty requirement is "or none".
        // A GET rule holds for HEAD (the gateway applies it to every HEAD request), so for a HEAD binding too.
        .concat('get /v1/ping [{"bearerAuth":[]},{}]', 'head /v1/ping [{"bearerAuth":[]},{}]')
        .sort(),
    );
    expect(document.paths["/v1/ping"]?.get?.responses).toHaveProperty("401");
    expect(document.paths["/v2/catalogs/{catalog}/items"]?.get?.responses).toHaveProperty("401");
    expect(document.paths["/v2/catalogs/{catalog}/items/{item}"]?.get?.security).toBeUndefined();
  });

  it("lists 429, with Retry-After, on the routes the gateway rate-limits, and only there", () => {
    const limited = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, operation]) => "429" in operation.responses)
        .map(([method]) => `${method} ${path}`),
    );
    expect(limited).toEqual(["get /v2/catalogs/{catalog}/items/{item}"]);
    const responses = document.paths["/v2/catalogs/{catalog}/items/{item}"]?.get?.responses ?? {};
    expect(Object.keys(responses).at(-1)).toBe("default");
    expect(responses["429"]).toMatchObject({ headers: { "Retry-After": { schema: { type: "integer" } } } });
  });

  it("passes redocly lint's recommended rules without an error", async () => {
    const file = join(dir, "gateway.openapi.json");
    await writeFile(file, JSON.stringify(document, null, 2));
    const result = await redoclyLint([file]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});

/** Two files whose paths OpenAPI holds to be the same, and a service name both use. */
const protos = {
  "acme/a.proto": `syntax = "proto3";
package acme.a.v1;
import "google/api/annotations.proto";
// Shelves, as service A keeps them.
service Library {
  // Deletes a shelf.
  rpc DeleteShelf(Request) returns (Request) { option (google.api.http) = { delete: "/v1/shelves/{name}" }; }
  // Gets a shelf, version 2.
  rpc GetShelf(Request) returns (Request) { option (google.api.http) = { get: "/v2/{name=shelves/*}" }; }
  // Reads a file, any depth.
  rpc ReadFile(Request) returns (Request) { option (google.api.http) = { get: "/v1/files/{name=**}" }; }
}
message Request { string name = 1; }
`,
  "acme/b.proto": `syntax = "proto3";
package acme.b.v1;
import "google/api/annotations.proto";
// Shelves, as service B keeps them.
service Library {
  // Gets a shelf.
  rpc GetShelf(Request) returns (Request) { option (google.api.http) = { get: "/v1/{name=shelves/*}" }; }
  // Reads a file of one segment.
  rpc ReadFile(Request) returns (Request) { option (google.api.http) = { get: "/v1/files/{name}" }; }
}
message Request { string name = 1; }
`,
};

describe("mergeOpenApi over files that share paths", () => {
  let merged: Document;
  let dir = "";
  const asked: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-merge-openapi-"));
    await mkdir(join(dir, "google/api"), { recursive: true });
    await mkdir(join(dir, "acme"), { recursive: true });
    for (const name of ["annotations.proto", "http.proto"])
      await copyFile(join(googleProtos, "google/api", name), join(dir, "google/api", name));
    for (const [name, text] of Object.entries(protos)) await writeFile(join(dir, name), text);
    const built = await run(join(repoRoot, "node_modules/.bin/buf"), ["build", ".", "-o", "set.binpb"], { cwd: dir });
    expect(built.stderr).toBe("");
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, await readFile(join(dir, "set.binpb"))));
    const backend = (name: string, typeName: string) => ({
      name,
      typeNames: [typeName],
      methods: [],
      descriptors: new Map([[typeName, registry]]),
    });
    merged = mergeOpenApi(
      [backend("b", "acme.b.v1.Library"), backend("a", "acme.a.v1.Library")],
      (file, files) => JSON.parse(buildOpenApi(file, file.proto, files, "0.0.0-test")) as JsonObject,
      {
        prefix: "/api",
        tokenUse: ({ rpc, method, path }) => {
          asked.push(`${rpc} ${method} ${path}`);
          return rpc === "acme.a.v1.Library.DeleteShelf" ? "required" : "none";
        },
      },
    ) as unknown as Document;
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("spells a path OpenAPI holds to be the same one way, renaming the later file's parameters", () => {
    // B's GET /v1/{name=shelves/*} is /v1/shelves/{shelf} in its own document.
    const shelf = merged.paths["/api/v1/shelves/{name}"];
    expect(Object.keys(shelf ?? {})).toEqual(["delete", "get"]);
    expect(shelf?.get?.parameters).toEqual([
      {
        name: "name",
        in: "path",
        required: true,
        description: "Part of `name`, which the gateway sets to `shelves/{name}`.",
        schema: { type: "string" },
      },
    ]);
    expect(Object.keys(merged.paths).sort()).toEqual([
      "/api/v1/files/{name}",
      "/api/v1/shelves/{name}",
      "/api/v2/shelves/{shelf}",
    ]);
    expect(asked).toContain("acme.b.v1.Library.GetShelf get /api/v1/shelves/{name}");
  });

  it("qualifies an operationId two services share by package, and keeps each service's tag", () => {
    expect(merged.paths["/api/v1/shelves/{name}"]?.get?.operationId).toBe("acme_b_v1_Library_GetShelf");
    expect(merged.paths["/api/v2/shelves/{shelf}"]?.get?.operationId).toBe("acme_a_v1_Library_GetShelf");
    expect(merged.paths["/api/v1/shelves/{name}"]?.delete?.operationId).toBe("Library_DeleteShelf");
    expect(merged.tags).toEqual([
      { name: "acme.a.v1.Library", description: "Shelves, as service A keeps them." },
      { name: "acme.b.v1.Library", description: "Shelves, as service B keeps them." },
    ]);
  });

  it("lists the first of two routes OpenAPI cannot tell apart ({name=**} and {name}), the other unlisted", () => {
    expect(merged.paths["/api/v1/files/{name}"]?.get?.operationId).toBe("acme_a_v1_Library_ReadFile");
    expect(merged["x-unlisted-routes"]).toEqual([
      {
        method: "GET",
        path: "/api/v1/files/{name}",
        operationId: "acme_b_v1_Library_ReadFile",
        reason: "OpenAPI cannot tell its path from that of acme_a_v1_Library_ReadFile (/v1/files/{name=**})",
      },
    ]);
  });

  it("secures the operations whose route needs a JWT, and passes redocly lint", async () => {
    const shelf = merged.paths["/api/v1/shelves/{name}"];
    expect(shelf?.delete?.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(shelf?.delete?.responses ?? {})).toEqual(["200", "401", "default"]);
    expect(shelf?.get?.security).toBeUndefined();
    const file = join(dir, "merged.openapi.json");
    await writeFile(file, JSON.stringify(merged, null, 2));
    const result = await redoclyLint([file]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});
