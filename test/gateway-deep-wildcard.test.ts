/**
 * Templates with fixed segments after `**` (Firestore's `{parent=projects/…/documents/**}/{collection_id}`),
 * and a custom method, routed end to end: real HTTP through `mountRoutes` to fixture 16's Library node over gRPC, whose
 * GetFile and GetObject echo the `path` they received.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createService, silentLogger, type MicroService } from "@tsmicro/runtime";
import { mountRoutes, routesOf } from "@tsmicro/gateway";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibraryDefinition } from "./golden/16-gateway/gateway.micro.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

/** Library routes rebound to templates with a tail after `**`, as Google's published APIs write them. */
const deepRoutes = {
  definition: LibraryDefinition,
  routes: [
    { method: "GET", path: "/v1/{path=stores/*/**}/content", rpc: "getFile" },
    { method: "GET", path: "/v1/{path=**/archive/*}", rpc: "getObject" },
    // A custom method (google.api.http's `custom` kind), which fastify routes only when told of it.
    { method: "SEARCH", path: "/v1/search/{path=**}", rpc: "getFile" },
  ],
} as const;

describe("a ** followed by fixed segments, through a gateway", () => {
  let dir = "";
  let caller: MicroService;
  let app: FastifyInstance;
  let base = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-deep-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    caller = createService({ name: "deep-gateway", args: flags, env: suiteEnv(), logger: silentLogger() });
    app = Fastify();
    mountRoutes(app, [routesOf(deepRoutes, caller.client(LibraryDefinition, "library"))]);
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

  it.each([
    // the tail matches from the end; ** takes what is left, zero segments or more
    ["/v1/stores/s1/a/b/content", "stores/s1/a/b"],
    ["/v1/stores/s1/content", "stores/s1"],
    ["/v1/stores/s1/content/content", "stores/s1/content"],
    ["/v1/stores/s1/a%2Fb/content", "stores/s1/a%2Fb"],
    ["/v1/x/y/archive/7", "x/y/archive/7"],
    ["/v1/archive/7", "archive/7"],
  ])("GET %s fills path with %s", async (url, path) => {
    const response = await fetch(`${base}${url}`);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(await response.json()).toEqual({ path });
  });

  it("serves a custom method's route, its body too", async () => {
    const response = await fetch(`${base}/v1/search/a/b`, { method: "SEARCH", body: "{}" });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(await response.json()).toEqual({ path: "a/b" });
  });

  it.each(["/v1/stores/content", "/v1/stores/s1/a/b", "/v1/stores/s1/a/content/x", "/v1/x/archive"])(
    "GET %s matches no route",
    async (url) => {
      const response = await fetch(`${base}${url}`);
      expect(response.status).toBe(404);
    },
  );
});
