/**
 * The web proxy end to end: web services registered in a shared registry,
 * a fastify gateway forwarding every request through the proxy, real HTTP
 * and WebSocket traffic on 127.0.0.1.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { fastify, type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import WebSocket, { WebSocketServer } from "ws";
import { createGateway, type Gateway } from "../runtime/gateway/src/gateway.js";
import { createWebProxy, webProxyRoutes, type WebProxy } from "../runtime/gateway/src/web-proxy.js";
import { createWebService, type WebService } from "../runtime/gateway/src/web-service.js";
import { silentLogger } from "../runtime/src/logging/logger.js";
import { createMemoryRegistry } from "../runtime/src/registry/memory-registry.js";
import type { Registry } from "../runtime/src/registry/registry.js";
import { createLogger } from "@tsmicro/runtime";
import type { Broker } from "../runtime/src/broker/broker.js";
import { createHttpBroker } from "../runtime/src/broker/http-broker.js";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { suiteEnv } from "./support/suite-env.js";

const timeoutMs = 1_000;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with full control of headers (fetch forbids Connection). */
function send(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(new URL(path, base), { method: options.method ?? "GET", headers: options.headers });
    outgoing.on("error", reject);
    outgoing.on("response", (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("error", reject);
      incoming.on("end", () =>
        resolve({
          status: incoming.statusCode ?? 0,
          headers: incoming.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    outgoing.end(options.body);
  });
}

async function getJson(base: string, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const answer = await send(base, path);
  return { status: answer.status, json: JSON.parse(answer.body) as Record<string, unknown> };
}

/** A web service node of `hello`: answers with its id, echoes bodies, echoes WebSocket messages prefixed with its id. */
function helloNode(registry: Registry): WebService {
  const service = createWebService({
    name: "hello",
    registry,
    args: [],
    env: suiteEnv(),
    logger: silentLogger(),
    settings: { shutdownGraceMs: 1_000 },
  });
  const { app } = service;
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  app.get("/hello/who", async () => ({ id: service.id }));
  // Headers of the node's own that the gateway sets too: a cache's Vary, CORS' exposed headers and origin.
  app.get("/hello/vary", async (_request, reply) => {
    void reply
      .header("vary", "Accept-Encoding")
      .header("access-control-expose-headers", "x-own")
      .header("access-control-allow-origin", "*");
    return { id: service.id };
  });
  // Refuses a body over 1 KiB before reading it, as fastify does: 413 at once.
  app.post("/hello/small", { bodyLimit: 1024 }, async (request) => ({ length: (request.body as Buffer).length }));
  app.get("/hello/slow", async () => {
    await new Promise((resolve) => setTimeout(resolve, timeoutMs * 3));
    return { id: service.id };
  });
  app.post("/hello/echo", async (request) => ({
    id: service.id,
    url: request.url,
    query: request.query,
    body: (request.body as Buffer).toString(),
    headers: request.headers,
  }));
  const sockets = new WebSocketServer({ server: app.server });
  sockets.on("connection", (socket, request) => {
    socket.on("message", (data) => socket.send(`${service.id} ${request.url ?? ""} ${String(data)}`));
  });
  return service;
}

/** Opens a WebSocket through the proxy and sends one message; resolves with the reply. */
function echoOverWebSocket(url: string, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("open", () => socket.send(message));
    socket.once("message", (data) => {
      socket.close();
      resolve(String(data));
    });
    socket.once("unexpected-response", (_request, response) => {
      socket.terminate();
      reject(new Error(`HTTP ${response.statusCode}`));
    });
    socket.once("error", reject);
  });
}

/** Where a WebSocket handshake is refused: the status and JSON body of the refusal. */
function refusedWebSocket(url: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("open", () => reject(new Error("the handshake succeeded")));
    socket.once("unexpected-response", (_request, response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        socket.terminate();
        resolve({
          status: response.statusCode ?? 0,
          json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
        });
      });
    });
    socket.once("error", () => undefined);
  });
}

/** Waits until `ready` holds, polling. */
async function until(what: string, ready: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the web proxy in front of two hello web services", () => {
  const registry = createMemoryRegistry();
  const nodes: WebService[] = [];
  const proxyLog = recordingLogger();
  let impostor: Server;
  let broker: Broker;
  let proxy: WebProxy;
  let gateway: FastifyInstance;
  let base: string;
  let wsBase: string;

  beforeAll(async () => {
    await registry.start();
    nodes.push(helloNode(registry), helloNode(registry));
    await Promise.all(nodes.map((node) => node.start()));

    // A gRPC node of the same name that answers HTTP anyway: if the proxy ever picked it, a test would see its id.
    impostor = createServer((_request, response) => response.end(JSON.stringify({ id: "grpc-impostor" })));
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    const impostorAddress = `127.0.0.1:${(impostor.address() as AddressInfo).port}`;
    for (const name of ["hello", "grpconly"]) {
      await registry.register(
        {
          name,
          version: "latest",
          metadata: {},
          endpoints: [],
          nodes: [{ id: `${name}-grpc`, address: impostorAddress, metadata: { protocol: "grpc", transport: "grpc" } }],
        },
        { ttlMs: 60_000 },
      );
    }

    // A subscription of the embedded http broker: a node of tsmicro.broker serving HTTP, which is no web service.
    broker = createHttpBroker({ registry, logger: silentLogger() });
    await broker.start();
    await broker.subscribe("orders.created", () => {});

    proxy = createWebProxy({ registry, timeoutMs, logger: proxyLog.logger.child({ service: "api" }) });
    gateway = fastify();
    gateway.get("/healthz", async () => ({ ok: true }));
    await gateway.register(webProxyRoutes, { proxy });
    await gateway.listen({ host: "127.0.0.1", port: 0 });
    const { port } = gateway.server.address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
    wsBase = `ws://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await gateway?.close();
    await proxy?.stop();
    await Promise.all(nodes.map((node) => node.stop()));
    await new Promise((resolve) => impostor?.close(resolve));
    await broker?.stop();
    await registry.stop();
  });

  it("registers each node with HTTP metadata", async () => {
    const [service] = await registry.getService("hello");
    const registered = service?.nodes.filter((node) => node.metadata.protocol === "http") ?? [];
    expect(registered.map((node) => node.id).sort()).toEqual(nodes.map((node) => node.id).sort());
    for (const node of registered) {
      expect(node.metadata).toMatchObject({ protocol: "http", server: "http", transport: "http", runtime: "tsmicro" });
      expect(node.address).toBe(nodes.find((n) => n.id === node.id)?.address);
    }
  });

  it("shares requests between both nodes by round robin, never the gRPC node", async () => {
    const served = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const { status, json } = await getJson(base, "/hello/who");
      expect(status).toBe(200);
      served.set(String(json.id), (served.get(String(json.id)) ?? 0) + 1);
    }
    expect([...served.keys()].sort()).toEqual(nodes.map((node) => node.id).sort());
    for (const count of served.values()) expect(count).toBe(10);
  });

  it("leaves the gateway's own routes alone", async () => {
    expect((await getJson(base, "/healthz")).json).toEqual({ ok: true });
  });

  it("streams a POST body through with path and query unchanged and forwarding headers set", async () => {
    const body = `${"x".repeat(200_000)}end`;
    const answer = await send(base, "/hello/echo?name=a%20b&n=1&n=2", {
      method: "POST",
      headers: {
        "content-type": "text/plain",
        connection: "keep-alive, x-hop",
        "x-hop": "dropped",
        "x-kept": "kept",
        "x-forwarded-for": "10.0.0.1",
      },
      body,
    });
    expect(answer.status).toBe(200);
    const echoed = JSON.parse(answer.body) as {
      url: string;
      query: Record<string, unknown>;
      body: string;
      headers: Record<string, string>;
    };
    expect(echoed.url).toBe("/hello/echo?name=a%20b&n=1&n=2");
    expect(echoed.query).toEqual({ name: "a b", n: ["1", "2"] });
    expect(echoed.body).toBe(body);
    expect(echoed.headers["x-kept"]).toBe("kept");
    expect(echoed.headers["x-hop"]).toBeUndefined();
    expect(echoed.headers.host).toBe(new URL(base).host);
    expect(echoed.headers["x-forwarded-for"]).toBe("10.0.0.1, 127.0.0.1");
    expect(echoed.headers["x-forwarded-host"]).toBe(new URL(base).host);
    expect(echoed.headers["x-forwarded-proto"]).toBe("http");
  });

  it("echoes WebSocket messages through the proxy, on both nodes", async () => {
    const replies = await Promise.all(
      [1, 2, 3, 4].map((i) => echoOverWebSocket(`${wsBase}/hello/ws?i=${i}`, `ping ${i}`)),
    );
    const ids = new Set<string>();
    for (const [index, reply] of replies.entries()) {
      const [id, url, ...message] = reply.split(" ");
      ids.add(id ?? "");
      expect(url).toBe(`/hello/ws?i=${index + 1}`);
      expect(message.join(" ")).toBe(`ping ${index + 1}`);
    }
    expect([...ids].sort()).toEqual(nodes.map((node) => node.id).sort());
  });

  it("answers 404 JSON for a service that is not registered, or a path naming none", async () => {
    for (const path of ["/nosuch/thing", "/"]) {
      const { status, json } = await getJson(base, path);
      expect(status).toBe(404);
      expect(json).toEqual({ code: 5, message: expect.any(String), details: [] });
    }
    expect((await getJson(base, "/nosuch/thing")).json.message).toBe(
      "no web service named nosuch is registered; the web services this gateway reaches are /hello/",
    );
    const refused = await refusedWebSocket(`${wsBase}/nosuch/ws`);
    expect(refused.status).toBe(404);
    expect(refused.json.code).toBe(5);
  });

  it("answers a service whose only nodes serve gRPC as one not registered (404), and logs why", async () => {
    for (let i = 0; i < 2; i++) {
      const { status, json } = await getJson(base, "/grpconly/x");
      expect(status).toBe(404);
      // Nothing of what runs behind the gateway: the same answer as for no service at all.
      expect(json).toEqual({
        code: 5,
        message: "no web service named grpconly is registered; the web services this gateway reaches are /hello/",
        details: [],
      });
    }
    // Once, however many requests.
    expect(proxyLog.entries.filter((entry) => entry.fields.backend === "grpconly")).toEqual([
      expect.objectContaining({
        level: "warn",
        message:
          "requests for grpconly are answered 404: its nodes serve grpc, not HTTP; the rpc handler (tsmicro api) serves it",
      }),
    ]);
  });

  it("proxies nothing to the http broker's subscriptions, nor names them: tsmicro.broker is no web service", async () => {
    expect((await registry.getService("tsmicro.broker"))[0]?.nodes[0]?.metadata.protocol).toBe("http");
    for (const path of ["/tsmicro.broker/broker/x", "/tsmicro.broker/"]) {
      const { status, json } = await getJson(base, path);
      expect(status).toBe(404);
      expect(json).toEqual({
        code: 5,
        message: "no web service named tsmicro.broker is registered; the web services this gateway reaches are /hello/",
        details: [],
      });
    }
    expect(proxyLog.entries.filter((entry) => entry.fields.backend === "tsmicro.broker")).toEqual([]);
  });

  it("answers 504 when a node does not answer in time", async () => {
    const started = Date.now();
    const { status, json } = await getJson(base, "/hello/slow");
    expect(status).toBe(504);
    expect(json).toEqual({ code: 4, message: expect.stringContaining("did not answer within"), details: [] });
    expect(Date.now() - started).toBeLessThan(timeoutMs * 3);
  });

  it("goes to the other nodes when a node died without deregistering", async () => {
    const doomed = helloNode(registry);
    await doomed.start();
    await until(
      "the third node to take requests",
      async () => (await getJson(base, "/hello/who")).json.id === doomed.id,
    );
    doomed.app.server.close();
    doomed.app.server.closeAllConnections();
    expect((await registry.getService("hello"))[0]?.nodes.map((node) => node.id)).toContain(doomed.id);

    const answers = await Promise.all(Array.from({ length: 20 }, () => getJson(base, "/hello/who")));
    for (const { status, json } of answers) {
      expect(status).toBe(200);
      expect(json.id).not.toBe(doomed.id);
    }
    const replies = await Promise.all([1, 2, 3].map((i) => echoOverWebSocket(`${wsBase}/hello/ws`, `ping ${i}`)));
    for (const reply of replies) expect(reply.split(" ")[0]).not.toBe(doomed.id);
    // Logged under the gateway's own name, with the web service as the backend (a second `service` would replace it).
    const refused = proxyLog.entries.find((entry) => entry.fields.node === doomed.id);
    expect(refused?.fields).toMatchObject({ service: "api", backend: "hello" });
    await doomed.stop();
  });

  it("answers 503 once every node has stopped, and recovers when one starts", async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    const { status, json } = await getJson(base, "/hello/who");
    expect(status).toBe(503);
    expect(json).toEqual({ code: 14, message: expect.stringContaining("no HTTP node of service hello"), details: [] });
    const refused = await refusedWebSocket(`${wsBase}/hello/ws`);
    expect(refused.status).toBe(503);

    const revived = helloNode(registry);
    nodes.push(revived);
    await revived.start();
    await until(
      "the new node to take requests",
      async () => (await getJson(base, "/hello/who")).json.id === revived.id,
    );
  });
});

describe("tsmicro api --handler=web (createGateway)", () => {
  const registry = createMemoryRegistry();
  const nodes: WebService[] = [];
  let gateway: Gateway;

  beforeAll(async () => {
    await registry.start();
    nodes.push(helloNode(registry), helloNode(registry));
    await Promise.all(nodes.map((node) => node.start()));
    gateway = createGateway({
      registry,
      args: ["--handler=web", "--address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await gateway.start();
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await gateway?.stop();
  });

  it("balances requests over both nodes and tunnels a WebSocket", async () => {
    const served = new Set<string>();
    // One request at a time, least-in-flight prefers the node whose recent latency is lower: a run of
    // requests may go to one node until the latencies move, so up to fifty, until both have answered.
    for (let i = 0; i < 50 && served.size < nodes.length; i++) {
      const { status, json } = await getJson(gateway.url!, "/hello/who");
      expect(status).toBe(200);
      served.add(String(json.id));
    }
    expect([...served].sort()).toEqual(nodes.map((node) => node.id).sort());
    const reply = await echoOverWebSocket(`${gateway.url!.replace(/^http/, "ws")}/hello/ws`, "hi");
    expect(reply).toMatch(/ \/hello\/ws hi$/);
    expect(nodes.map((node) => node.id)).toContain(reply.split(" ")[0]);
  });

  it("answers 404 for a service nobody registered, naming the request's trace as every gateway error does", async () => {
    const response = await fetch(`${gateway.url!}/nobody/here`);
    expect(response.status).toBe(404);
    const traceId = response.headers.get("traceresponse")?.split("-")[1];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const body = (await response.json()) as { details: unknown[] };
    expect(body.details).toEqual([{ "@type": "type.googleapis.com/google.rpc.RequestInfo", requestId: traceId }]);
  });

  it("names in a 404 the --namespace of a web service registered under one, as go-micro's web services are", async () => {
    const site = {
      name: "shop.web.site",
      version: "latest",
      metadata: {},
      endpoints: [],
      nodes: [{ id: "site-1", address: "127.0.0.1:9", metadata: { protocol: "http" } }],
    };
    await registry.register(site, { ttlMs: 60_000 });
    const namespaced = createGateway({
      registry,
      args: ["--handler=web", "--address=127.0.0.1:0", "--metrics_address=off", "--namespace=shop.web"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    try {
      await namespaced.start();
      const message = async (url: string) => {
        const { status, json } = await getJson(url, "");
        expect(status, url).toBe(404);
        return json.message;
      };
      expect(await message(`${gateway.url!}/site/cart`)).toBe(
        "no web service named site is registered; shop.web.site is, which a gateway started with --namespace=shop.web reaches by /site/…",
      );
      expect(await message(`${gateway.url!}/`)).toBe(
        "no service named in path /: the first path segment names the service, as /{service}/...; the web services this gateway reaches are /hello/, /shop.web.site/",
      );
      // A gateway kept to a namespace names nothing outside it to its clients.
      expect(await message(`${namespaced.url!}/hello/who`)).toBe(
        "no web service named shop.web.hello is registered (namespace shop.web); the web services this gateway reaches are /site/",
      );
      expect(await message(`${namespaced.url!}/nosuch`)).toBe(
        "no web service named shop.web.nosuch is registered (namespace shop.web); the web services this gateway reaches are /site/",
      );
    } finally {
      await namespaced.stop();
      await registry.deregister(site);
    }
  });

  it("with --cors_origins, answers preflights and proxies everything else, a plain OPTIONS too", async () => {
    const origin = "https://app.example.com";
    const open = createGateway({
      registry,
      args: ["--handler=web", "--address=127.0.0.1:0", "--metrics_address=off", `--cors_origins=${origin}`],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await open.start();
    try {
      const preflight = await send(open.url!, "/hello/echo", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
      const who = await send(open.url!, "/hello/who", { headers: { origin } });
      expect(who.status).toBe(200);
      expect(who.headers["access-control-allow-origin"]).toBe(origin);
      // Not a preflight: the web service answers it, as it does without CORS.
      const plain = await send(open.url!, "/hello/who", { method: "OPTIONS", headers: { origin } });
      const uncors = await send(gateway.url!, "/hello/who", { method: "OPTIONS", headers: { origin } });
      expect(plain.status).toBe(uncors.status);
      expect(plain.headers["access-control-allow-origin"]).toBe(origin);
      // The node's Vary and exposed headers add to the gateway's, which a cache and the page need; its origin does not win.
      const vary = await send(open.url!, "/hello/vary", { headers: { origin } });
      expect(vary.headers.vary).toBe("Origin, Accept-Encoding");
      expect(String(vary.headers["access-control-expose-headers"]).split(", ")).toEqual(
        expect.arrayContaining(["traceresponse", "x-own"]),
      );
      expect(vary.headers["access-control-allow-origin"]).toBe(origin);
    } finally {
      await open.stop();
    }
  });

  it("with --config, holds its path rules in front of the web services: 401 without a token, claims forwarded, 429 over a limit", async () => {
    const secret = "a-shared-secret-of-at-least-32-bytes!!";
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-web-auth-"));
    const config = join(dir, "gateway.json");
    await writeFile(
      config,
      JSON.stringify({
        jwt: { secret },
        routes: [
          { match: "* /hello/**", auth: true },
          { match: "POST /hello/echo", rateLimit: { rate: 0.001, burst: 1, per: "route" } },
          { match: "hello.v1.Hello.*", auth: false },
        ],
      }),
    );
    const log = recordingLogger();
    const guarded = createGateway({
      registry,
      args: ["--handler=web", "--address=127.0.0.1:0", "--metrics_address=off", `--config=${config}`],
      env: suiteEnv(),
      logger: log.logger,
    });
    await guarded.start();
    try {
      // An RPC rule matches nothing a web service serves: said once, at start.
      const warned = log.entries.filter(
        (entry) => entry.level === "warn" && entry.message?.includes("hello.v1.Hello.*"),
      );
      expect(warned).toHaveLength(1);
      expect(warned[0]?.message).toContain("matches nothing");

      const bare = await send(guarded.url!, "/hello/who");
      expect(bare.status).toBe(401);
      expect(bare.headers["www-authenticate"]).toMatch(/^Bearer /);
      expect(JSON.parse(bare.body)).toMatchObject({ code: 16, message: expect.stringContaining("Authorization") });

      const jwt = await new SignJWT({ role: "admin" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("alice")
        .sign(new TextEncoder().encode(secret));
      const authorization = `Bearer ${jwt}`;
      // The claims reach the web service as headers only the gateway sets: a client's own are dropped.
      const echo = await send(guarded.url!, "/hello/echo", {
        method: "POST",
        headers: { authorization, "x-jwt-sub": "mallory", "content-type": "text/plain" },
        body: "hi",
      });
      expect(echo.status).toBe(200);
      const seen = (JSON.parse(echo.body) as { headers: Record<string, string> }).headers;
      expect(seen["x-jwt-sub"]).toBe("alice");
      expect(JSON.parse(seen["x-jwt-claims"] ?? "{}")).toMatchObject({ sub: "alice", role: "admin" });
      expect(seen.authorization).toBe(authorization);

      const limited = await send(guarded.url!, "/hello/echo", {
        method: "POST",
        headers: { authorization, "content-type": "text/plain" },
        body: "hi",
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
      expect(JSON.parse(limited.body)).toMatchObject({ code: 8, message: expect.stringContaining("POST /hello/echo") });

      // A WebSocket handshake meets the same rules.
      const ws = `${guarded.url!.replace(/^http/, "ws")}/hello/ws`;
      const refused = await refusedWebSocket(ws);
      expect(refused.status).toBe(401);
      expect(refused.json.code).toBe(16);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = new WebSocket(ws, { headers: { authorization } });
        socket.once("open", () => socket.send("hi"));
        socket.once("message", (data) => {
          socket.close();
          resolve(String(data));
        });
        socket.once("error", reject);
      });
      expect(reply).toMatch(/ \/hello\/ws hi$/);
    } finally {
      await guarded.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("with --trust_proxy, counts a per-client limit by the client its proxy names, for requests and WebSocket handshakes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-web-trust-"));
    const config = join(dir, "gateway.json");
    await writeFile(
      config,
      JSON.stringify({ routes: [{ match: "* /hello/**", rateLimit: { rate: 0.001, burst: 1, per: "client" } }] }),
    );
    const behind = createGateway({
      registry,
      args: ["--handler=web", "--address=127.0.0.1:0", "--metrics_address=off", `--config=${config}`],
      settings: { trustProxy: ["loopback"] },
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await behind.start();
    try {
      const who = (client: string) => send(behind.url!, "/hello/who", { headers: { "x-forwarded-for": client } });
      expect((await who("203.0.113.1")).status).toBe(200);
      expect((await who("203.0.113.1")).status).toBe(429);
      expect((await who("203.0.113.2")).status).toBe(200);
      const handshake = (client: string) =>
        new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(`${behind.url!.replace(/^http/, "ws")}/hello/ws`, {
            headers: { "x-forwarded-for": client },
          });
          socket.once("open", () => {
            socket.close();
            resolve(101);
          });
          socket.once("unexpected-response", (_request, response) => {
            socket.terminate();
            resolve(response.statusCode ?? 0);
          });
          socket.once("error", reject);
        });
      // 203.0.113.2 spent its budget above, by a plain request; 203.0.113.3 has its own.
      expect(await handshake("203.0.113.2")).toBe(429);
      expect(await handshake("203.0.113.3")).toBe(101);
    } finally {
      await behind.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("passes on a node's early answer to a body it refuses, without marking the node", async () => {
    const big = Buffer.alloc(768 * 1024, "x");
    const kinds: Record<string, string>[] = [
      { "content-type": "text/plain" },
      { "content-type": "text/plain", "transfer-encoding": "chunked" },
    ];
    for (const headers of kinds) {
      const refused = await send(gateway.url!, "/hello/small", { method: "POST", headers, body: big });
      expect(refused.status).toBe(413);
      expect(refused.body).toContain("Payload Too Large");
    }
    // Both nodes still take requests: neither was counted as failed.
    const served = new Set<string>();
    for (let i = 0; i < 50 && served.size < nodes.length; i++)
      served.add(String((await getJson(gateway.url!, "/hello/who")).json.id));
    expect(served.size).toBe(nodes.length);
  });

  it("holds --body_limit for proxied bodies: 413 at once for a Content-Length over it, and for a chunked body once over it", async () => {
    const small = createGateway({
      registry,
      args: ["--handler=web", "--address=127.0.0.1:0", "--metrics_address=off", "--body_limit=10kb"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await small.start();
    try {
      const body = Buffer.alloc(64 * 1024, "x");
      const sized = await send(small.url!, "/hello/echo", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body,
      });
      expect(sized.status).toBe(413);
      expect(JSON.parse(sized.body)).toMatchObject({ message: expect.stringContaining("10240 bytes (--body_limit)") });
      const chunked = await send(small.url!, "/hello/echo", {
        method: "POST",
        headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
        body,
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body)).toMatchObject({ message: expect.stringContaining("(--body_limit)") });
      // Within the limit, chunked or not, the body goes through whole.
      const within = await send(small.url!, "/hello/echo", {
        method: "POST",
        headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
        body: body.subarray(0, 10 * 1024),
      });
      expect(within.status).toBe(200);
      expect((JSON.parse(within.body) as { body: string }).body).toHaveLength(10 * 1024);
    } finally {
      await small.stop();
    }
  });

  it("counts requests by the web service they went to (/{service}/*), and the rest under /*", async () => {
    expect((await getJson(gateway.url!, "/hello/who")).status).toBe(200);
    expect((await fetch(`${gateway.url!}/nobody/here`)).status).toBe(404);
    const metrics = await (await fetch(`${gateway.url!}/metrics`)).text();
    expect(metrics).toMatch(/^http_requests_total\{method="GET",route="\/hello\/\*",code="200"\} [1-9]/m);
    expect(metrics).toMatch(/^http_requests_total\{method="GET",route="\/\*",code="404"\} [1-9]/m);
    expect(metrics).not.toMatch(/^http_requests_total\{method="GET",route="\/\*",code="200"\}/m);
  });
});

describe("a web service's failing route", () => {
  it("answers an unexpected error 500 'internal error' with the trace id and logs it; an error with a status as fastify does", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    });
    const web = createWebService({
      name: "site",
      registry: createMemoryRegistry(),
      args: [],
      env: suiteEnv(),
      // The runtime's own logger, whose lines read the trace of the tracing the web service runs.
      logger: createLogger({ destination }),
    });
    web.app.get("/boom", async () => {
      throw new Error("db password=hunter2 at 10.0.0.9");
    });
    web.app.get("/gone", async () => {
      throw Object.assign(new Error("no such page"), { statusCode: 404 });
    });
    await web.start();
    try {
      const boom = await fetch(`http://${web.address}/boom`);
      const body = (await boom.json()) as Record<string, unknown>;
      expect(boom.status).toBe(500);
      expect(body).toMatchObject({ statusCode: 500, error: "Internal Server Error", message: "internal error" });
      expect(JSON.stringify(body)).not.toContain("10.0.0.9");
      expect(body.traceId).toBe(boom.headers.get("traceresponse")?.split("-")[1]);
      const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const failure = logged.find((line) => line.msg === "route failed; answered 500");
      expect((failure?.err as { stack?: string } | undefined)?.stack).toContain("10.0.0.9");
      expect(failure).toMatchObject({ url: "/boom", trace_id: body.traceId });

      const gone = await fetch(`http://${web.address}/gone`);
      expect(gone.status).toBe(404);
      expect(((await gone.json()) as Record<string, unknown>).message).toBe("no such page");
    } finally {
      await web.stop();
    }
  });
});

describe("a web service's --help", () => {
  it("rejects start() with its flags described, the server's but no broker's, registering nothing", async () => {
    const registry = createMemoryRegistry();
    const web = createWebService({ name: "site", registry, args: ["--help"], env: suiteEnv(), logger: silentLogger() });
    const help = await web.start().then(
      () => "",
      (error: { help?: string }) => error.help ?? "",
    );
    expect(help).toMatch(/^site: a tsmicro service\./);
    expect(help).toMatch(/\n {2}--server_address +where the server binds \(gRPC, or a web service.s HTTP\), host:port/);
    expect(help).not.toContain("--broker");
    expect(await registry.getService("site")).toEqual([]);
  });
});
