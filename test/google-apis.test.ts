/**
 * Published Google APIs from the google-proto-files package, taken as a user would take them:
 * they generate and type-check, every google.api.http binding (additional ones included) is a
 * line of `tsmicro routes` and an operation of the OpenAPI documents, and each operation's path,
 * filled in as an OpenAPI client fills it, is matched by the binding it documents.
 */
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { compileTemplate } from "@tsmicro/runtime/routing";
import { afterAll, describe, expect, it } from "vitest";
import { bins, googleProtos, protoFiles, readTree, repoRoot, repoTempDir, run } from "./support/cli.js";
import { redoclyLint } from "./support/redocly.js";

/** Folders of google-proto-files, Firestore's deep wildcards with a fixed tail among them. */
const apis = [
  "example/library/v1",
  "firestore/v1",
  "pubsub/v1",
  "datastore/v1",
  "logging/v2",
  "logging/type",
  "iam/v1",
  "cloud/secretmanager/v1",
  "cloud/kms/v1",
  "cloud/tasks/v2",
  "cloud/run/v2",
  "cloud/resourcemanager/v3",
  "spanner/admin/database/v1",
  "bigtable/admin/v2",
  "container/v1",
  "devtools/remoteworkers/v1test2",
];

interface Operation {
  readonly operationId: string;
  readonly tags: readonly string[];
  readonly parameters?: readonly { readonly name: string; readonly in: string }[];
}

interface Document {
  readonly paths: Record<string, Record<string, Operation>>;
  readonly "x-unlisted-routes"?: unknown[];
}

/** A line of `tsmicro routes`. */
interface Route {
  readonly method: string;
  readonly path: string;
  readonly rpc: string;
}

const temps: string[] = [];

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("published Google APIs from google-proto-files", () => {
  let project = "";
  let routes: Route[] = [];
  const documents = new Map<string, Document>();

  it("generate with tsmicro generate, without a warning", async () => {
    project = await repoTempDir("google-apis");
    temps.push(project);
    for (const api of apis)
      await cp(join(googleProtos, "google", api), join(project, "proto/google", api), { recursive: true });
    const result = await run("node", [bins.tsmicro, "generate"], { cwd: project });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    for (const [name, content] of await readTree(join(project, "src/gen")))
      if (name.endsWith(".openapi.json")) documents.set(name, JSON.parse(content) as Document);
    expect(documents.has("google/firestore/v1/firestore.openapi.json")).toBe(true);
  });

  it("type-check under strict tsc", async () => {
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        extends: join(repoRoot, "tsconfig.base.json"),
        compilerOptions: { noEmit: true, noUnusedLocals: true, exactOptionalPropertyTypes: true },
        include: ["src/**/*.ts"],
      }),
    );
    const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
    const result = await run("node", [tsc, "-p", join(project, "tsconfig.json")]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("list every binding in tsmicro routes", async () => {
    const result = await run("node", [bins.tsmicro, "routes"], { cwd: project });
    // Its only warnings name routes whose templates overlap, Firestore's GetDocument and ListDocuments among them,
    // and routes of methods that stream requests (Firestore's Write and Listen), which the gateway answers 501.
    const warnings = result.stderr.trimEnd().split("\n");
    for (const warning of warnings)
      expect(warning).toMatch(
        /^tsmicro: warning: .*( both match paths such as |streams requests, which HTTP\/JSON cannot carry)/,
      );
    expect(warnings.filter((warning) => warning.includes("streams requests"))).toHaveLength(3);
    expect(warnings).toContain(
      "tsmicro: warning: google/firestore/v1/firestore.proto: GET /v1/{name=projects/*/databases/*/documents/*/**} " +
        "(google.firestore.v1.Firestore.GetDocument) and GET /v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id} " +
        "(google.firestore.v1.Firestore.ListDocuments) both match paths such as /v1/projects/x/databases/x/documents/x/x; " +
        "google.firestore.v1.Firestore.ListDocuments, declared last, serves those",
    );
    expect(result.code).toBe(0);
    routes = result.stdout
      .trimEnd()
      .split("\n")
      .map((line) => {
        const [method = "", path = "", rpc = ""] = line.split(/\s+/);
        return { method, path, rpc };
      });
    // The bindings as written in the protos: each get/put/post/delete/patch or custom pattern
    // outside comments, additional bindings included.
    let written = 0;
    for (const file of await protoFiles(join(project, "proto"))) {
      const code = (await readFile(join(project, "proto", file), "utf8")).replace(/\/\/.*$/gm, "");
      written += code.match(/\b(?:get|put|post|delete|patch)\s*:\s*"|\bcustom\s*\{/g)?.length ?? 0;
    }
    expect(routes.length).toBe(written);
    expect(routes.length).toBeGreaterThan(600);
    expect(routes).toContainEqual({
      method: "GET",
      path: "/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}",
      rpc: "google.firestore.v1.Firestore.ListDocuments",
    });
  });

  it("describe every binding as an OpenAPI operation, in documents valid and clean under redocly lint", async () => {
    const operations: string[] = [];
    const unlisted: string[] = [];
    for (const [name, document] of documents) {
      const result = await new Validator().validate(structuredClone(document) as unknown as Record<string, unknown>);
      expect(result.errors, `${name}: ${JSON.stringify(result.errors)}`).toBeUndefined();
      for (const item of Object.values(document.paths))
        for (const [method, operation] of Object.entries(item))
          operations.push(`${method.toUpperCase()} ${rpcOf(operation)}`);
      // Only bindings of methods that stream requests (the gateway answers them 501) are left out.
      for (const route of (document["x-unlisted-routes"] ?? []) as UnlistedRoute[]) {
        expect(route.reason, `${name}: ${route.operationId}`).toBe(
          "the method streams requests, which HTTP/JSON cannot carry (the gateway answers 501)",
        );
        unlisted.push(`${route.method} ${route.path}`);
      }
    }
    // Bidi streams bound to HTTP in the set: Logging's TailLogEntries, Firestore's Write and Listen.
    expect(unlisted.sort()).toEqual([
      "POST /v1/{database=projects/*/databases/*}/documents:listen",
      "POST /v1/{database=projects/*/databases/*}/documents:write",
      "POST /v2/entries:tail",
    ]);
    const served = routes.filter((r) => !unlisted.includes(`${r.method} ${r.path}`));
    expect(operations.sort()).toEqual(served.map((r) => `${r.method} ${r.rpc}`).sort());
    const files = [...documents.keys()].map((name) => join(project, "src/gen", name));
    const lint = await redoclyLint(files);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
  });

  it("route each operation's path, filled in as a client fills it, to the binding it documents", () => {
    const unmatched: string[] = [];
    for (const document of documents.values()) {
      for (const [path, item] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(item)) {
          let n = 0;
          const url = path.replace(/\{[^}]+\}/g, () => encodeURIComponent(`p${n++}`));
          const rpc = rpcOf(operation);
          const bindings = routes.filter((r) => r.rpc === rpc && r.method === method.toUpperCase());
          if (!bindings.some((r) => compileTemplate(r.path).match(url))) unmatched.push(`${method} ${url} (${rpc})`);
        }
      }
    }
    expect(unmatched).toEqual([]);
    // Firestore's fixed tail after **: the parameters fill `parent` segment by segment.
    const listDocuments = compileTemplate("/v1/{parent=projects/*/databases/*/documents/*/**}/{collection_id}");
    const firestore = documents.get("google/firestore/v1/firestore.openapi.json");
    const listPath = Object.entries(firestore?.paths ?? {}).find(
      ([, item]) => item.get?.operationId === "Firestore_ListDocuments",
    )?.[0];
    expect(listPath).toBe("/v1/projects/{project}/databases/{database}/documents/{document}/{parent}/{collection_id}");
    expect(listDocuments.match("/v1/projects/p0/databases/p1/documents/p2/p3/p4")).toEqual({
      parent: "projects/p0/databases/p1/documents/p2/p3",
      collection_id: "p4",
    });
  });
});

/** `package.Service.Method` of an operation, from its tag (the service) and its operationId (`Service_Method_2`). */
/** A binding a document lists apart, with the reason. */
interface UnlistedRoute {
  readonly method: string;
  readonly path: string;
  readonly operationId: string;
  readonly reason: string;
}

function rpcOf(operation: Operation): string {
  const service = operation.tags[0] ?? "";
  const prefix = `${service.split(".").at(-1)}_`;
  return `${service}.${operation.operationId.slice(prefix.length).replace(/_\d+$/, "")}`;
}
