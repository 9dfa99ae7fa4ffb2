/**
 * A typed client made from the gateway's own /openapi.json, as a user would make one: a real
 * `tsmicro api` in front of fixture 16's Library node, openapi-typescript turning the served
 * document into types, and openapi-fetch calling every operation through them
 * (test/openapi-client/library-client.ts). The calling code and the generated types are then
 * type-checked together with the repository's tsc, so a document a client cannot type (or types
 * that accept what the gateway refuses) fails here.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenAPI3, typesOf } from "./openapi-client/openapi-types.js";
import { bins, repoRoot, repoTempDir, run } from "./support/cli.js";
import { killAllNodes, startNode } from "./support/nodes.js";

/** What test/openapi-client/library-client.ts exports. */
interface CallingCode {
  callEveryOperation(baseUrl: string): Promise<Record<string, { status: number; data: unknown }>>;
}

/** Starts `tsmicro api` and resolves with its base URL once it logs that it listens. */
function startApi(args: readonly string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [bins.tsmicro, "api", ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split("\n").find((l) => l.includes('"msg":"gateway started"'));
      if (line)
        resolve({ child, url: `http://${(JSON.parse(line) as { address: string }).address}`, output: () => output });
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`tsmicro api exited with ${code}:\n${output}`)));
  });
}

describe("a client generated from /openapi.json with openapi-typescript, called with openapi-fetch", () => {
  let dir = "";
  let api: ChildProcess | undefined;
  let url = "";
  let document: OpenAPI3;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-openapi-client-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    const started = await startApi([...flags, "--address=127.0.0.1:0"]);
    ({ child: api, url } = started);
    // The gateway loads the library over reflection; its document lists the routes once that is done.
    const end = Date.now() + 15_000;
    for (;;) {
      document = (await (await fetch(`${url}/openapi.json`)).json()) as OpenAPI3;
      if (Object.keys(document.paths ?? {}).length > 0) break;
      if (Date.now() > end) throw new Error(`the gateway never listed the library's routes:\n${started.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api!.once("exit", resolve));
      process.kill(api.pid!, "SIGTERM");
      await exited;
    }
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("reaches every operation of the document, each answering what the service did", async () => {
    // Imported by a name tsc does not follow: the file's types exist only once the check below writes them.
    const calling = "./openapi-client/library-client.js";
    const { callEveryOperation } = (await import(calling)) as CallingCode;
    const answers = await callEveryOperation(url);

    // Every operation the document lists was called.
    const listed = Object.values(document.paths ?? {}).flatMap((item) =>
      Object.values(item as Record<string, { operationId: string }>).map((operation) => operation.operationId),
    );
    expect(listed).toHaveLength(18);
    expect(
      Object.keys(answers)
        .filter((id) => !id.includes(" "))
        .sort(),
    ).toEqual(listed.sort());

    const data = (id: string) => {
      expect(answers[id], id).toBeDefined();
      return answers[id]!;
    };
    expect(data("Library_Ping")).toEqual({ status: 200, data: { status: "ok" } });
    expect(data("Library_GetShelf")).toEqual({ status: 200, data: { name: "shelves/fiction" } });
    expect(data("Library_GetAuthor")).toEqual({ status: 200, data: { name: "authors/le guin" } });
    // openapi-fetch encodes the "/" in a segment (a%2Fb); within a multi-segment capture it stays encoded.
    expect(data("Library_GetBook")).toMatchObject({ status: 200, data: { name: "shelves/fiction/books/a%2Fb" } });
    expect(data("Library_GetBook_1")).toMatchObject({ status: 200, data: { name: "earthsea" } });
    expect(data("Library_GetFile")).toEqual({ status: 200, data: { path: "docs/readme.md" } });
    expect(data("Library_GetObject")).toEqual({ status: 200, data: { path: "buckets/photos/objects/2024/cat.png" } });
    expect(data("Library_ListBooks")).toMatchObject({
      status: 200,
      data: {
        totalSize: 2,
        books: [1, 2].map((i) => ({
          name: `shelves/fiction/books/${i}`,
          author: "ursula",
          read: true,
          genre: "GENRE_FICTION",
          tags: ["old", "new"],
        })),
      },
    });
    expect(data("Library_ListBooks_1")).toMatchObject({
      status: 200,
      data: { totalSize: 1, books: [{ name: "shelves/history/books/1", pages: 300 }] },
    });
    expect(data("Library_CreateBook")).toMatchObject({
      status: 200,
      data: { name: "shelves/fiction/books/b7", title: "The Dispossessed", pages: 387, genre: "GENRE_FICTION" },
    });
    expect(data("Library_UpdateBook")).toMatchObject({
      status: 200,
      data: { book: { name: "shelves/fiction/books/b7", title: "Anarres" }, updateMask: "title" },
    });
    expect(data("Library_PublishBook")).toEqual({
      status: 200,
      data: { name: "shelves/fiction/books/b7", edition: "second", copies: 500 },
    });
    expect(data("Library_DeleteBook")).toEqual({ status: 200, data: {} });
    expect(data("Library_DeleteBook without force")).toEqual({
      status: 400,
      data: { code: 9, message: "shelves/fiction/books/b8: pass force=true to delete" },
    });
    // response_body "book": the answer is the response's book alone.
    expect(data("Library_GetLatestBook")).toMatchObject({
      status: 200,
      data: { name: "shelves/fiction/books/latest", title: "latest" },
    });
    expect(data("Library_StreamBooks")).toMatchObject({
      status: 200,
      data: [1, 2].map((i) => ({ result: { name: `shelves/fiction/books/${i}`, title: `book ${i}`, pages: i } })),
    });
    expect(data("Library_StreamBooks titles")).toEqual({ status: 200, data: ["book 1", "book 2"] });
    expect(data("Library_HashKV")).toEqual({ status: 200, data: { hash: 2, hashRevision: "9007199254740993" } });
    expect(data("Library_Echo")).toMatchObject({
      status: 200,
      data: { int64Value: "-42", genre: "GENRE_HISTORY", labels: { a: "1" }, book: { title: "T" } },
    });
    expect(data("Library_Fail")).toMatchObject({ status: 404, data: { code: 5, message: "no such book" } });
  });

  it("documents each operation as the generated gateway.openapi.json does, summaries and descriptions included", async () => {
    type Operations = Record<string, Record<string, { operationId: string; summary?: string; description?: string }>>;
    const golden = JSON.parse(
      await readFile(join(repoRoot, "test/golden/16-gateway/gateway.openapi.json"), "utf8"),
    ) as { paths: Operations };
    const texts = (paths: Operations) =>
      Object.fromEntries(
        Object.values(paths).flatMap((item) =>
          Object.values(item).map((o) => [o.operationId, { summary: o.summary, description: o.description }]),
        ),
      );
    const served = texts(document.paths as Operations);
    expect(served).toEqual(texts(golden.paths));
    expect(served.Library_CreateBook?.summary).toBe(
      "CreateBook sends one field as the body; the rest come from path and query.",
    );
  });

  it("type-checks: the calling code against the types openapi-typescript made from the document", async () => {
    const check = await repoTempDir("openapi-client");
    try {
      await writeFile(join(check, "library-schema.ts"), await typesOf(document));
      await copyFile(join(repoRoot, "test/openapi-client/library-client.ts"), join(check, "library-client.ts"));
      await writeFile(
        join(check, "tsconfig.json"),
        JSON.stringify({
          extends: "../../tsconfig.base.json",
          compilerOptions: { noEmit: true },
          include: ["library-schema.ts", "library-client.ts"],
        }),
      );
      const tsc = await run(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", check]);
      expect(tsc.stdout + tsc.stderr, "tsc found no error").toBe("");
      expect(tsc.code).toBe(0);

      // The check can fail: a call the document does not allow is a type error.
      await writeFile(
        join(check, "library-client.ts"),
        `import createClient from "openapi-fetch";\nimport type { paths } from "./library-schema.js";\n` +
          `await createClient<paths>({}).GET("/v1/shelves/{shelf}", { params: { path: { author: "x" } } });\n`,
      );
      const refused = await run(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", check]);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout).toContain("library-client.ts");
    } finally {
      await rm(check, { recursive: true, force: true });
    }
  });
});
