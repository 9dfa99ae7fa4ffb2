/**
 * `tsmicro api` options end to end: TLS, CORS, a path prefix, a namespace and --strict_routes,
 * each against a running gateway and a real service node.
 */
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import {
  createLocalRegistry,
  createLogger,
  createMemoryRegistry,
  silentLogger,
  type Watcher,
  type WatchOptions,
} from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/cli.js";
import { closedPort } from "./support/etcd.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { ProfilesDefinition } from "./golden/19-gateway-parity/parity.micro.js";

const tls = join(repoRoot, "test/fixtures/tls");

/** An origin the CORS tests allow. */
const appOrigin = "https://app.example.com";

/** The headers by which a browser lets a page of another origin read an answer. */
function corsHeaders(response: Response): Record<string, string | null> {
  const names = ["access-control-allow-origin", "access-control-expose-headers", "vary"];
  return Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
}

/** The methods a preflight's answer allows, sorted. */
function allowedMethods(response: Response): string[] | undefined {
  return response.headers
    .get("access-control-allow-methods")
    ?.split(",")
    .map((method) => method.trim())
    .sort();
}

/** GET over HTTPS, trusting only the fixture's self-signed certificate. */
async function getHttps(url: string): Promise<{ status: number; body: string }> {
  const ca = await readFile(join(tls, "localhost.crt"));
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { ca }, (incoming) => {
      let body = "";
      incoming.on("data", (chunk: Buffer) => (body += chunk.toString()));
      incoming.on("end", () => resolve({ status: incoming.statusCode ?? 0, body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("tsmicro api options", () => {
  let dir = "";
  let flags: string[] = [];
  const gateways: Gateway[] = [];

  async function gateway(...args: string[]): Promise<Gateway> {
    const started = createGateway({
      args: [...flags, "--address=127.0.0.1:0", ...args],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    gateways.push(started);
    await started.start();
    return started;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-options-"));
    flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    await startNode("test/fixtures/gateway-node.ts", flags, { GATEWAY_NODE_NAME: "go.micro.api.books" });
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves HTTPS with --tls_cert_file and --tls_key_file", async () => {
    const secure = await gateway(
      `--tls_cert_file=${join(tls, "localhost.crt")}`,
      `--tls_key_file=${join(tls, "localhost.key")}`,
    );
    expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await getHttps(`${secure.url}/v1/ping`)).toEqual({ status: 200, body: '{"status":"ok"}' });
  });

  it("refuses a TLS setting without its pair, naming the missing flag", () => {
    expect(() => createGateway({ args: [`--tls_cert_file=${join(tls, "localhost.crt")}`], env: suiteEnv() })).toThrow(
      /--tls_key_file.*TLS needs both --tls_cert_file and --tls_key_file/,
    );
  });

  it("answers CORS preflights for allowed origins only", async () => {
    const open = await gateway(`--cors_origins=${appOrigin}`);
    const preflight = (origin: string, path = "/v1/echo") =>
      fetch(`${open.url}${path}`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
    const allowed = await preflight(appOrigin);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(appOrigin);
    expect(allowed.headers.get("access-control-allow-headers")).toBe("content-type");
    // The methods the gateway's routes take: default routes' (any usual method) and the route rules' (no custom
    // kind here); not every method Node knows (LOCK, PROPFIND…), which no route takes.
    expect(allowedMethods(allowed)).toEqual(["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]);
    // Kept by the browser for 10 minutes, not its default 5 s.
    expect(allowed.headers.get("access-control-max-age")).toBe("600");
    const refused = await preflight("https://evil.example.com");
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    expect(refused.headers.get("access-control-max-age")).toBeNull();
    const simple = await fetch(`${open.url}/v1/ping`, { headers: { origin: appOrigin } });
    expect(simple.headers.get("access-control-allow-origin")).toBe(appOrigin);
    // POST /rpc and a default route, as a page's script calls them: preflight, then the call.
    for (const [path, body] of [
      ["/rpc", { service: "library", method: "Library.Ping", request: {} }],
      ["/library/Library/Ping", {}],
    ] as const) {
      const asked = await preflight(appOrigin, path);
      expect(asked.headers.get("access-control-allow-origin")).toBe(appOrigin);
      expect(allowedMethods(asked)).toContain("POST");
      const call = await fetch(`${open.url}${path}`, {
        method: "POST",
        headers: { origin: appOrigin, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(call.status).toBe(200);
      expect(call.headers.get("access-control-allow-origin")).toBe(appOrigin);
    }
  });

  it("answers an OPTIONS that is not a preflight as without CORS: 405 JSON with the path's methods in Allow", async () => {
    const open = await gateway(`--cors_origins=${appOrigin}`);
    const closed = await gateway();
    // Without Access-Control-Request-Method it is no preflight, with an Origin or without.
    for (const at of [open, closed])
      for (const headers of [{ origin: appOrigin }, {}]) {
        const answer = await fetch(`${at.url}/v1/ping`, { method: "OPTIONS", headers });
        expect(answer.status).toBe(405);
        expect(answer.headers.get("allow")).toBe("GET, HEAD");
        expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
        expect(((await answer.json()) as { message: string }).message).toBe(
          "OPTIONS is not allowed on /v1/ping; it takes GET, HEAD",
        );
      }
    const cross = await fetch(`${open.url}/v1/ping`, { method: "OPTIONS", headers: { origin: appOrigin } });
    expect(cross.headers.get("access-control-allow-origin")).toBe(appOrigin);
  });

  it("answers a preflight without --cors_origins 405, saying which flag lets the page call, and never calls a default route's method", async () => {
    const closed = await gateway();
    const preflight = { origin: appOrigin, "access-control-request-method": "POST" };
    const routed = await fetch(`${closed.url}/v1/ping`, { method: "OPTIONS", headers: preflight });
    expect(routed.status).toBe(405);
    expect(((await routed.json()) as { message: string }).message).toBe(
      `OPTIONS is not allowed on /v1/ping; it takes GET, HEAD; this is a browser's CORS preflight from ${appOrigin}, and this gateway allows no cross-origin calls: start it with --cors_origins=${appOrigin} (or cors.origins in --config) to let that page call it`,
    );
    // A default route takes the standard methods, not OPTIONS: Echo would have answered 200 with the request.
    for (const headers of [preflight, {}]) {
      const answer = await fetch(`${closed.url}/library/Library/Echo`, {
        method: "OPTIONS",
        headers: { ...headers, "content-type": "application/json" },
        body: '{"stringValue":"x"}',
      });
      expect(answer.status).toBe(405);
      expect(answer.headers.get("allow")).toBe("DELETE, GET, HEAD, PATCH, POST, PUT");
      expect(((await answer.json()) as { message: string }).message).toMatch(
        /^OPTIONS is not allowed on \/library\/Library\/Echo; it takes DELETE, GET, HEAD, PATCH, POST, PUT/,
      );
    }
  });

  it("gives an error answered before any route runs the CORS headers of every other answer", async () => {
    const open = await gateway(`--cors_origins=${appOrigin}`, "--body_limit=1kb");
    const origin = { origin: appOrigin };
    const post = (body: string, contentType = "application/json") => ({
      method: "POST",
      headers: { ...origin, "content-type": contentType },
      body,
    });
    const served = await fetch(`${open.url}/v1/ping`, { headers: origin });
    expect(corsHeaders(served)["access-control-allow-origin"]).toBe(appOrigin);
    const failures: [string, number, () => Promise<Response>][] = [
      // Refused by fastify's router before any hook runs.
      ["a malformed %-escape in the path", 400, () => fetch(`${open.url}/v1/%zz`, { headers: origin })],
      ["no route", 404, () => fetch(`${open.url}/v9/nothing`, { headers: origin })],
      ["a body over --body_limit", 413, () => fetch(`${open.url}/v1/echo`, post(`"${"x".repeat(2048)}"`))],
      ["a body that is not JSON", 400, () => fetch(`${open.url}/v1/echo`, post("{not json"))],
      ["a Content-Type that is no media type", 415, () => fetch(`${open.url}/v1/echo`, post("{}", "text"))],
    ];
    for (const [what, status, send] of failures) {
      const response = await send();
      expect(response.status, what).toBe(status);
      expect(response.headers.get("content-type"), what).toMatch(/^application\/json/);
      expect(corsHeaders(response), what).toEqual(corsHeaders(served));
    }
  });

  it("takes requests of a custom method (SEARCH) to its routes: here, a path with a GET route only", async () => {
    const open = await gateway();
    const search = await fetch(`${open.url}/v1/ping`, { method: "SEARCH" });
    expect(search.status).toBe(405);
    expect(search.headers.get("allow")).toBe("GET, HEAD");
  });

  it("serves every route under --prefix and nothing outside it", async () => {
    const prefixed = await gateway("--prefix=/api");
    expect(await (await fetch(`${prefixed.url}/api/v1/ping`)).json()).toEqual({ status: "ok" });
    expect((await fetch(`${prefixed.url}/v1/ping`)).status).toBe(404);
    // A 405 names the path as the client sent it, prefix and all.
    const put = await fetch(`${prefixed.url}/api/v1/ping`, { method: "PUT" });
    expect(put.status).toBe(405);
    expect(((await put.json()) as { message: string }).message).toBe(
      "PUT is not allowed on /api/v1/ping; it takes GET, HEAD",
    );
  });

  it("finds default-route services under --namespace", async () => {
    const namespaced = await gateway("--namespace=go.micro.api");
    const response = await fetch(`${namespaced.url}/books/Library/Ping`, { method: "POST", body: "{}" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
    // Without it, the 404 names the service registered as NAMESPACE.books and the flag, as a go-micro user needs.
    const plain = await gateway();
    const missed = await fetch(`${plain.url}/books/Library/Ping`, { method: "POST", body: "{}" });
    expect(missed.status).toBe(404);
    expect(((await missed.json()) as { message: string }).message).toBe(
      "no route for POST /books/Library/Ping: no service is registered as books; go.micro.api.books is, " +
        "which a gateway started with --namespace=go.micro.api reaches by /books/…",
    );
  });

  it("reaches no service outside --namespace: not by default routes, not by POST /rpc, not by google.api.http routes", async () => {
    const namespaced = await gateway("--namespace=go.micro.api");
    const rpc = (service: string, at = namespaced) =>
      fetch(`${at.url}/rpc`, {
        method: "POST",
        body: JSON.stringify({ service, method: "Library.GetLatestBook", request: { shelf: "s1" } }),
      });
    // `library` is registered, but not under go.micro.api.
    expect((await fetch(`${namespaced.url}/library/Library/Ping`, { method: "POST", body: "{}" })).status).toBe(404);
    const outside = await rpc("library");
    expect(outside.status).toBe(404);
    expect(((await outside.json()) as { message: string }).message).toBe(
      "POST /rpc: no service go.micro.api.library is registered (this gateway reaches the services under go.micro.api only: --namespace)",
    );
    // A name within the namespace, or the full one, reaches the service registered under it.
    for (const name of ["books", "go.micro.api.books"]) {
      const inside = await rpc(name);
      expect(inside.status).toBe(200);
      expect(((await inside.json()) as { servedBy: string }).servedBy).toMatch(/^go\.micro\.api\.books/);
    }
    // Its dashboard shows only the services under the namespace.
    const withPage = await gateway("--namespace=go.micro.api", "--dashboard=on");
    const listed = (await (await fetch(`${withPage.url}/dashboard/api/services`)).json()) as { name: string }[];
    expect([...new Set(listed.map((service) => service.name))]).toEqual(["go.micro.api.books"]);
    expect((await fetch(`${withPage.url}/dashboard/api/services/library`)).status).toBe(404);
    // Routes come only from the services under the namespace: here, none.
    const empty = await gateway("--namespace=go.micro.other");
    const unrouted = await fetch(`${empty.url}/v1/ping`);
    expect(unrouted.status).toBe(404);
    expect(((await unrouted.json()) as { message: string }).message).toBe(
      "no route for GET /v1/ping: no service registered in --namespace go.micro.other so far serves it (is its service running?)",
    );
    expect((await rpc("library", empty)).status).toBe(404);
  });

  it("with a --client_max_recv_msg_size too small for reflection, answers a generic 404 and logs which flag to raise", async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const tiny = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--client_max_recv_msg_size=100"],
      env: suiteEnv(),
      logger: createLogger({ destination }),
    });
    gateways.push(tiny);
    await tiny.start();
    const answer = await fetch(`${tiny.url}/v1/ping`);
    expect(answer.status).toBe(404);
    // Neither the flag nor the service names: the log has them.
    expect(((await answer.json()) as { message: string }).message).toBe(
      "no route for GET /v1/ping: no service loaded so far serves it; some registered services could not be loaded yet (the gateway's log says why)",
    );
    expect(lines.filter((line) => line.backend === "library" && line.level === 40)).toEqual([
      expect.objectContaining({
        msg: expect.stringMatching(
          /^could not load service library: the client received a message of \d+ bytes, over its limit of 100 \(--client_max_recv_msg_size\); .*raise --client_max_recv_msg_size above their size to route it$/,
        ),
      }),
    ]);
  });

  it("--strict_routes refuses to route a service whose routes collide (Hash and HashKV)", async () => {
    const strict = await gateway("--strict_routes=on");
    expect((await fetch(`${strict.url}/v1/ping`)).status).toBe(404);
    expect((await fetch(`${strict.url}/v3/maintenance/hash`, { method: "POST", body: "{}" })).status).toBe(404);
    const relaxed = await gateway();
    const hash = await fetch(`${relaxed.url}/v3/maintenance/hash`, { method: "POST", body: "{}" });
    expect(await hash.json()).toMatchObject({ hash: 2 });
  });
});

describe("tsmicro api --strict_routes", () => {
  it("names every conflict of a service it does not route in one error line", async () => {
    const registry = createMemoryRegistry();
    // Two services of one proto: the second loaded claims each of the first's 7 routes.
    const endpoints = [
      { name: "Profiles.GetProfile", request: "", response: "", metadata: { service: ProfilesDefinition.typeName } },
    ];
    for (const name of ["profiles-a", "profiles-b"])
      await registry.register(
        {
          name,
          version: "latest",
          metadata: {},
          endpoints,
          nodes: [{ id: `${name}-1`, address: `127.0.0.1:${await closedPort()}`, metadata: { protocol: "grpc" } }],
        },
        { ttlMs: 60_000 },
      );
    const log = recordingLogger();
    const gateway = createGateway({
      args: ["--address=127.0.0.1:0", "--metrics_address=off", "--strict_routes=on"],
      env: suiteEnv(),
      registry,
      definitions: [ProfilesDefinition],
      logger: log.logger,
    });
    await gateway.start();
    try {
      const refused = log.entries.filter((entry) => entry.level === "error");
      expect(refused).toHaveLength(1);
      const message = refused[0]!.message ?? "";
      expect(message).toMatch(/^7 route conflicts, service not routed \(--strict_routes\): \(1\) /);
      for (const route of [
        "GET /v1/profiles/*",
        "PATCH /v1/profiles/*",
        "DELETE /v1/profiles/*",
        "GET /v1/profiles",
        "POST /v1/profiles",
        "POST /v1/annotate",
        "POST /v1/annotate:stream",
      ])
        expect(message).toContain(`) ${route} is claimed by`);
    } finally {
      await gateway.stop();
      await registry.stop();
    }
  });
});

// A node that registered its proto services in its endpoints (as tsmicro's do), and one the gateway must ask.
const deadNodeEndpoints = {
  "named in its endpoints": [
    { name: "OrderService.ListOrders", request: "", response: "", metadata: { service: "order.v1.OrderService" } },
  ],
  "found by reflection": [],
};

describe.each(Object.entries(deadNodeEndpoints))(
  "tsmicro api beside a registered service whose only node is dead (proto services %s)",
  (_, endpoints) => {
    it("says in a 404 that some service's routes could not be loaded, and logs which and why in one line", async () => {
      const registry = createMemoryRegistry();
      const dead = `127.0.0.1:${await closedPort()}`;
      await registry.register(
        {
          name: "order",
          version: "latest",
          metadata: {},
          endpoints,
          nodes: [{ id: "order-1", address: dead, metadata: { protocol: "grpc" } }],
        },
        { ttlMs: 60_000 },
      );
      const lines: Record<string, unknown>[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      });
      const gateway = createGateway({
        args: ["--address=127.0.0.1:0", "--metrics_address=off"],
        env: suiteEnv(),
        registry,
        logger: createLogger({ destination }),
      });
      await gateway.start();
      try {
        const answer = await fetch(`${gateway.url}/v1/orders`);
        expect(answer.status).toBe(404);
        const { message } = (await answer.json()) as { message: string };
        // The node's address is the log's, not the public client's.
        expect(message).toBe(
          "no route for GET /v1/orders: no service loaded so far serves it; some registered services could not be loaded yet (the gateway's log says why)",
        );
        // A node that is down is no bug: no stack trace in the log.
        const warned = lines.filter((line) => String(line.msg).startsWith("could not load service order"));
        expect(warned).toEqual([
          expect.objectContaining({ msg: expect.stringContaining(`connect ECONNREFUSED ${dead}`) }),
        ]);
        expect(warned[0]).not.toHaveProperty("err");
      } finally {
        await gateway.stop();
        await registry.stop();
      }
    });
  },
);

describe("tsmicro api when the registry ends its watch (as etcd's does when etcd comes back empty)", () => {
  it("watches again and loads the routes of a service registered after", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-rewatch-"));
    const local = createLocalRegistry({ dir });
    const watchers: Watcher[] = [];
    const registry = new Proxy(local, {
      get(target, property) {
        if (property === "watch")
          return (options?: WatchOptions) => {
            const watcher = target.watch(options);
            watchers.push(watcher);
            return watcher;
          };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const gateway = createGateway({
      args: ["--address=127.0.0.1:0", "--metrics_address=off"],
      env: suiteEnv(),
      registry,
      logger: silentLogger(),
    });
    await gateway.start();
    try {
      expect(watchers.length).toBeGreaterThan(0);
      for (const watcher of watchers.splice(0)) watcher.stop();
      await startNode("test/fixtures/gateway-node.ts", ["--registry=local", `--registry_address=${dir}`]);
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await fetch(`${gateway.url}/v1/shelves/s1`)).status;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(status).toBe(200);
    } finally {
      await gateway.stop();
      await killAllNodes();
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
