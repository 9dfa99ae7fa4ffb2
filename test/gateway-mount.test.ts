/**
 * The generated route table mounted on a custom fastify app with typed hooks (`mountRoutes`),
 * calling a real service node through a runtime client.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createService, silentLogger, TsmicroError, type MicroService } from "@tsmicro/runtime";
import { mountRoutes, routesOf } from "@tsmicro/gateway";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibraryDefinition, LibraryRoutes } from "./golden/16-gateway/gateway.micro.js";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("mountRoutes: a custom gateway with the generated LibraryRoutes", () => {
  let dir = "";
  let caller: MicroService;
  let app: FastifyInstance;
  let base = "";
  const seen: string[] = [];
  /** Where mountRoutes logs what it does not tell clients. */
  const withheld = recordingLogger();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-mount-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    caller = createService({ name: "custom-gateway", args: flags, env: suiteEnv(), logger: silentLogger() });
    app = Fastify();
    app.get("/healthz", async () => ({ ok: true }));
    mountRoutes(
      app,
      [
        routesOf(LibraryRoutes, caller.client(LibraryDefinition, "library"), {
          getShelf: {
            before(request, http) {
              if (request.shelf === "secret") throw new TsmicroError(Code.PERMISSION_DENIED, "shelf secret is closed");
              if (request.shelf === "down")
                throw new TsmicroError(Code.UNAVAILABLE, "cannot reach postgres at 10.0.0.5:5432: connection refused");
              seen.push(`${http.method} ${request.shelf}`);
              return { ...request, shelf: request.shelf.toUpperCase() };
            },
            after: (response) => ({ ...response, name: `${response.name} (checked)` }),
          },
          streamBooks: { after: (book) => ({ ...book, title: book.title.toUpperCase() }) },
          createBook: {
            before(request) {
              if (!request.book) throw new TsmicroError(Code.INVALID_ARGUMENT, "book is required");
              return request;
            },
          },
        }),
      ],
      { prefix: "/api", logger: withheld.logger },
    );
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });

  afterAll(async () => {
    await app?.close();
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs the typed hooks around the call", async () => {
    const response = await fetch(`${base}/api/v1/shelves/s1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: "shelves/S1 (checked)" });
    expect(seen).toEqual(["GET s1"]);
  });

  it("tells a failure on the servers' side in public words, as tsmicro api does, and logs its own", async () => {
    const response = await fetch(`${base}/api/v1/shelves/down`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      code: 14,
      message: "the service is unavailable; try again later",
      details: [],
    });
    const line = withheld.entries.find((e) => e.message?.startsWith("GET /api/v1/shelves/down failed: "));
    expect(line?.level).toBe("warn");
    expect(line?.message).toContain("cannot reach postgres at 10.0.0.5:5432: connection refused");
    expect(line?.fields).toMatchObject({ code: "UNAVAILABLE", status: 503 });
  });

  it("lets a hook refuse with a TsmicroError mapped to its HTTP status", async () => {
    const response = await fetch(`${base}/api/v1/shelves/secret`);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ code: 7, message: "shelf secret is closed", details: [] });
  });

  it("maps bodies, queries and response_body as the gateway does", async () => {
    const created = await fetch(`${base}/api/v1/shelves/s2/books?request_id=r9`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Dune", pages: 412 }),
    });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ name: "shelves/s2/books/r9", title: "Dune", pages: 412 });
    const latest = await fetch(`${base}/api/v1/shelves/s3/books:latest`);
    expect(await latest.json()).toMatchObject({ name: "shelves/s3/books/latest", title: "latest" });
  });

  it("notes an empty body in a refusal of the call, naming the route with its prefix, and not in its own refusals", async () => {
    const empty = await fetch(`${base}/api/v1/shelves/s2/books?request_id=r11`, { method: "POST" });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { message: string }).message).toMatch(
      /^book is required; the request body was empty, so CreateBook was called without book: POST \/api\/v1\/shelves\/\{shelf\}\/books takes /,
    );
    // Refused by the gateway before any call: the query's escape is no UTF-8.
    const refused = await fetch(`${base}/api/v1/shelves/s2/books?request_id=%FF`, { method: "POST" });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).not.toContain("was called");
  });

  it("reads any body as JSON whatever its content type, as tsmicro api does (curl -d sends a form's)", async () => {
    const created = await fetch(`${base}/api/v1/shelves/s2/books?request_id=r10`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ title: "Emma" }),
    });
    expect(created.status, await created.clone().text()).toBe(200);
    expect(await created.json()).toMatchObject({ name: "shelves/s2/books/r10", title: "Emma" });
  });

  it("streams with the after hook on every message", async () => {
    const response = await fetch(`${base}/api/v1/shelves/s4/books:stream?count=2`);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { result: { title: string } });
    expect(lines.map((line) => line.result.title)).toEqual(["BOOK 1", "BOOK 2"]);
  });

  it("answers 405 with Allow for a path routed only under other methods, HEAD among them where GET is", async () => {
    const response = await fetch(`${base}/api/v1/shelves/s1/books`, { method: "PUT" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD, POST");
    expect(await response.json()).toEqual({
      code: 12,
      message: "PUT is not allowed on /api/v1/shelves/s1/books; it takes GET, HEAD, POST",
      details: [],
    });
  });

  it("takes HEAD where a route takes GET: the GET's answer without its body, as tsmicro api", async () => {
    const response = await fetch(`${base}/api/v1/shelves/s2`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.text()).toBe("");
  });

  it("leaves the app's own routes and unknown paths to the app", async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
    expect((await fetch(`${base}/api/v9/nothing`)).status).toBe(404);
  });
});
