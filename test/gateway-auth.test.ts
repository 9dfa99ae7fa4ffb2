/**
 * Per-route JWT and rate limits of the gateway, from a `--config` file, through real HTTP to a
 * running gateway and a real service node.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gatewayClaims, silentLogger } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

const secret = "a-shared-secret-of-at-least-32-bytes!!";
const key = new TextEncoder().encode(secret);

function token(claims: { sub?: string; exp?: number; nbf?: number; iss?: string }, signingKey = key): Promise<string> {
  const jwt = new SignJWT({ role: "reader", name: "Zoë" }).setProtectedHeader({ alg: "HS256" }).setIssuedAt();
  if (claims.sub) jwt.setSubject(claims.sub);
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(signingKey);
}

const now = () => Math.floor(Date.now() / 1000);

describe("gateway JWT and rate limits (--config)", () => {
  let dir = "";
  let gateway: Gateway;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-auth-"));
    const config = join(dir, "gateway.json");
    await writeFile(
      config,
      JSON.stringify({
        jwt: { secret, issuer: "tsmicro-tests" },
        routes: [
          { match: "fixtures.gateway.v1.Library.Whoami", auth: true },
          { match: "GET /v1/ping", rateLimit: { rate: 0.001, burst: 2, per: "client" } },
          {
            match: "fixtures.gateway.v1.Library.GetShelf",
            auth: true,
            rateLimit: { rate: 0.001, burst: 1, per: "client" },
          },
          // Rules by path: they guard the method behind the path on every way in.
          { match: "DELETE /v1/shelves/*/books/*", auth: true },
          { match: "GET /v1/authors/secret", auth: true },
          { match: "GET /v1/shelves/*/books/*", auth: true },
          { match: "GET /v1/files/**", rateLimit: { rate: 0.001, burst: 2, per: "client" } },
        ],
      }),
    );
    const flags = ["--registry=local", `--registry_address=${join(dir, "registry")}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0", `--config=${config}`, "--dashboard=on"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await gateway.start();
  });

  afterAll(async () => {
    await gateway?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  const whoami = (headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/library/whoami`, { method: "POST", body: "{}", headers });

  /** Another gateway on the suite's registry, with `args` besides, started. */
  async function startGateway(...args: string[]): Promise<Gateway> {
    const another = createGateway({
      args: [`--registry=local`, `--registry_address=${join(dir, "registry")}`, "--address=127.0.0.1:0", ...args],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await another.start();
    return another;
  }

  it.each([
    ["no Authorization header", async () => ({}), /missing Authorization header/],
    ["a Basic credential", async () => ({ authorization: "Basic dXNlcjpwdw==" }), /not a Bearer token/],
    ["a garbage token", async () => ({ authorization: "Bearer not.a.jwt" }), /malformed/],
    [
      "an expired token",
      async () => ({ authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() - 60 })}` }),
      /expired/,
    ],
    [
      "a token signed with another key",
      async () => ({
        authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests" }, new TextEncoder().encode("x".repeat(40)))}`,
      }),
      /signature/,
    ],
    [
      "a token from another issuer",
      async () => ({ authorization: `Bearer ${await token({ sub: "ada", iss: "someone-else" })}` }),
      /issuer/,
    ],
  ])("refuses %s with 401 and a JSON status", async (_what, headers, message) => {
    const response = await whoami(await headers());
    expect(response.status).toBe(401);
    const body = (await response.json()) as { code: number; message: string; details: unknown[] };
    expect(body.code).toBe(16);
    expect(body.message).toMatch(message);
    expect(JSON.stringify(body)).not.toContain(secret);
  });

  it("lets a valid token through and forwards its claims as metadata, never the client's own x-jwt-* headers", async () => {
    const response = await whoami({
      authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() + 60 })}`,
      "grpc-metadata-x-jwt-sub": "mallory",
      "grpc-metadata-x-trace": "t1",
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { metadata: Record<string, string> };
    expect(body.metadata["x-jwt-sub"]).toBe("ada");
    expect(body.metadata["x-trace"]).toBe("t1");
    const claims = JSON.parse(body.metadata["x-jwt-claims"] ?? "{}") as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: "ada", iss: "tsmicro-tests", role: "reader", name: "Zoë" });
    // What a handler reads them with.
    expect(gatewayClaims({ metadata: body.metadata })).toMatchObject({
      subject: "ada",
      claims: { iss: "tsmicro-tests", role: "reader", name: "Zoë" },
    });
  });

  it('checks a token on an "optional" route only when one is sent: none passes without claims, a bad one is 401', async () => {
    const config = join(dir, "optional.json");
    await writeFile(
      config,
      JSON.stringify({
        jwt: { secret, issuer: "tsmicro-tests" },
        routes: [{ match: "fixtures.gateway.v1.Library.Whoami", auth: "optional" }],
      }),
    );
    const optional = await startGateway(`--config=${config}`);
    try {
      const whoamiThere = (headers: Record<string, string>) =>
        fetch(`${optional.url}/library/whoami`, { method: "POST", body: "{}", headers });
      const anonymous = await whoamiThere({ "grpc-metadata-x-jwt-sub": "mallory" });
      expect(anonymous.status).toBe(200);
      expect(((await anonymous.json()) as { metadataKeys: string[] }).metadataKeys).not.toContain("x-jwt-sub");
      const bearer = `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() + 60 })}`;
      const signedIn = await whoamiThere({ authorization: bearer });
      expect(signedIn.status).toBe(200);
      expect(((await signedIn.json()) as { metadata: Record<string, string> }).metadata["x-jwt-sub"]).toBe("ada");
      const expired = await whoamiThere({
        authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() - 60 })}`,
      });
      expect(expired.status).toBe(401);
      expect(expired.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    } finally {
      await optional.stop();
    }
  });

  it("forwards the headers --forward_headers names to the service as metadata, and grpc-gateway's with grpcgateway", async () => {
    const forwarding = await startGateway("--forward_headers=grpcgateway,x-tenant-id");
    try {
      const response = await fetch(`${forwarding.url}/library/whoami`, {
        method: "POST",
        body: "{}",
        headers: { "x-tenant-id": "acme", "user-agent": "shop-app/2", cookie: "session=1", "x-unnamed": "no" },
      });
      expect(response.status).toBe(200);
      // The node answers the values of x- keys, and the names of all.
      const { metadata, metadataKeys } = (await response.json()) as {
        metadata: Record<string, string>;
        metadataKeys: string[];
      };
      expect(metadata).toMatchObject({ "x-tenant-id": "acme", "x-forwarded-host": new URL(forwarding.url!).host });
      expect(metadataKeys).toEqual(
        expect.arrayContaining(["grpcgateway-user-agent", "grpcgateway-cookie", "grpcgateway-host"]),
      );
      expect(metadataKeys).not.toContain("x-unnamed");
      // The main gateway, without the flag, forwards none of them.
      const plain = await whoami({
        authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() + 60 })}`,
        "x-tenant-id": "acme",
        "user-agent": "shop-app/2",
      });
      const keys = ((await plain.json()) as { metadataKeys: string[] }).metadataKeys;
      expect(keys.filter((key) => key === "x-tenant-id" || key.startsWith("grpcgateway-"))).toEqual([]);
    } finally {
      await forwarding.stop();
    }
  });

  it("verifies tokens by an identity provider's key set (jwt.jwksUrl), and answers 503 without a challenge while it is down", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "idp-1", alg: "ES256" };
    let up = true;
    const idp = createServer((_request, response) => {
      response.writeHead(up ? 200 : 503, { "content-type": "application/json" });
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
    const { port } = idp.address() as AddressInfo;
    const config = join(dir, "idp.json");
    await writeFile(
      config,
      JSON.stringify({
        jwt: { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: "idp" },
        routes: [{ match: "fixtures.gateway.v1.Library.Whoami", auth: true }],
      }),
    );
    const viaIdp = await startGateway(`--config=${config}`);
    try {
      const signed = await new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "idp-1" })
        .setSubject("ada")
        .setIssuer("idp")
        .setExpirationTime(now() + 60)
        .sign(privateKey);
      const ask = () =>
        fetch(`${viaIdp.url}/library/whoami`, {
          method: "POST",
          body: "{}",
          headers: { authorization: `Bearer ${signed}` },
        });
      const accepted = await ask();
      expect(accepted.status).toBe(200);
      expect(((await accepted.json()) as { metadata: Record<string, string> }).metadata["x-jwt-sub"]).toBe("ada");
      // A new gateway, whose first fetch of the keys fails: the token cannot be checked, which is not the client's fault.
      up = false;
      const fresh = await startGateway(`--config=${config}`);
      try {
        const refused = await fetch(`${fresh.url}/library/whoami`, {
          method: "POST",
          body: "{}",
          headers: { authorization: `Bearer ${signed}` },
        });
        expect(refused.status).toBe(503);
        expect(refused.headers.get("www-authenticate")).toBeNull();
      } finally {
        await fresh.stop();
      }
    } finally {
      await viaIdp.stop();
      idp.close();
    }
  });

  it("leaves routes without a rule open", async () => {
    expect((await fetch(`${gateway.url}/v1/authors/ada`)).status).toBe(200);
  });

  it("guards the method behind a path rule on its other bindings, its default route and POST /rpc too", async () => {
    const rpc = (method: string, request: object, headers: Record<string, string> = {}) =>
      fetch(`${gateway.url}/rpc`, {
        method: "POST",
        body: JSON.stringify({ service: "library", method, request }),
        headers,
      });
    const bearer = { authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() + 60 })}` };
    const book = { name: "shelves/s1/books/b1", force: true };
    expect((await fetch(`${gateway.url}/v1/shelves/s1/books/b1`, { method: "DELETE" })).status).toBe(401);
    expect(
      (await fetch(`${gateway.url}/library/DeleteBook`, { method: "POST", body: JSON.stringify(book) })).status,
    ).toBe(401);
    expect((await rpc("Library.DeleteBook", book)).status).toBe(401);
    expect((await rpc("Library.DeleteBook", book, bearer)).status).toBe(200);
    // A rule naming one value of a path variable guards that value, wherever it comes from.
    expect((await fetch(`${gateway.url}/v1/authors/secret`)).status).toBe(401);
    // HEAD is served as GET, and guarded as GET.
    expect((await fetch(`${gateway.url}/v1/authors/secret`, { method: "HEAD" })).status).toBe(401);
    expect((await rpc("Library.GetAuthor", { author: "secret" })).status).toBe(401);
    expect((await rpc("Library.GetAuthor", { author: "ada" })).status).toBe(200);
    // GetBook's second binding carries the name the first one's rule guards.
    expect((await fetch(`${gateway.url}/v1/books/${encodeURIComponent("shelves/s1/books/b1")}`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/v1/books/b1`)).status).toBe(200);
    // A limit on a path counts the method's calls by its default route and /rpc as well.
    const file = () => rpc("Library.GetFile", { path: "a/b" });
    expect([(await file()).status, (await file()).status, (await file()).status]).toEqual([200, 200, 429]);
    expect((await fetch(`${gateway.url}/v1/files/a/b`)).status).toBe(429);
    expect((await fetch(`${gateway.url}/v1/files/a/b`, { method: "HEAD" })).status).toBe(429);
  });

  it("lets the last rule for a method decide on every way in: a later path rule opens or closes /rpc and the default route", async () => {
    const config = join(dir, "later.json");
    await writeFile(
      config,
      JSON.stringify({
        jwt: { secret, issuer: "tsmicro-tests" },
        routes: [
          { match: "fixtures.gateway.v1.Library.*", auth: true },
          { match: "GET /v1/authors/*", auth: "optional" },
          { match: "fixtures.gateway.v1.Library.ListBooks", auth: "optional" },
          { match: "POST /v1/shelves/*/books:search", auth: true },
        ],
      }),
    );
    const later = await startGateway(`--config=${config}`);
    try {
      const rpc = (method: string, request: object, headers: Record<string, string> = {}) =>
        fetch(`${later.url}/rpc`, {
          method: "POST",
          body: JSON.stringify({ service: "library", method, request }),
          headers,
        });
      const post = (path: string, request: object) =>
        fetch(`${later.url}${path}`, { method: "POST", body: JSON.stringify(request) });
      // GetAuthor: the path rule after the RPC glob opens it by its route, /rpc and its default route alike.
      expect((await fetch(`${later.url}/v1/authors/ada`)).status).toBe(200);
      expect((await rpc("Library.GetAuthor", { author: "ada" })).status).toBe(200);
      expect((await post("/library/Library/GetAuthor", { author: "ada" })).status).toBe(200);
      expect((await post("/library/getAuthor", { author: "ada" })).status).toBe(200);
      // Optional still checks a token that is sent.
      expect((await rpc("Library.GetAuthor", { author: "ada" }, { authorization: "Bearer not.a.jwt" })).status).toBe(
        401,
      );
      // ListBooks: a path rule (on its second binding) after the RPC rule closes every way in.
      expect((await fetch(`${later.url}/v1/shelves/s1/books`)).status).toBe(401);
      expect((await rpc("Library.ListBooks", { shelf: "s1" })).status).toBe(401);
      expect((await post("/library/ListBooks", { shelf: "s1" })).status).toBe(401);
      // A method no later rule names keeps the glob's.
      expect((await rpc("Library.Ping", {})).status).toBe(401);
    } finally {
      await later.stop();
    }
  });

  it("applies the route rules to the calls of the dashboard's page too", async () => {
    const call = (method: string, request: object) =>
      fetch(`${gateway.url}/dashboard/api/call`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ service: "library", method, request }),
      });
    expect((await call("Library.Whoami", {})).status).toBe(401);
    expect((await call("Library.GetAuthor", { author: "secret" })).status).toBe(401);
    const open = await call("Library.GetAuthor", { author: "ada" });
    expect(open.status).toBe(200);
    expect(await open.json()).toMatchObject({ status: "OK" });
  });

  it("with --dashboard_token too, the dashboard's token and a JWT go in headers of their own", async () => {
    const tokened = createGateway({
      args: [
        `--registry=local`,
        `--registry_address=${join(dir, "registry")}`,
        "--address=127.0.0.1:0",
        "--metrics_address=off",
        `--config=${join(dir, "gateway.json")}`,
        "--dashboard=on",
        "--dashboard_token=dash-s3cret",
      ],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await tokened.start();
    try {
      const whoamiCall = (headers: Record<string, string>) =>
        fetch(`${tokened.url}/dashboard/api/call`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ service: "library", method: "Library.Whoami", request: {} }),
        });
      expect(await (await fetch(`${tokened.url}/dashboard/api/info`)).json()).toMatchObject({
        calls: "token",
        jwt: true,
      });
      const jwt = `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests" })}`;
      const both = await whoamiCall({ "x-dashboard-token": "dash-s3cret", authorization: jwt });
      expect(both.status).toBe(200);
      expect(await both.json()).toMatchObject({ status: "OK" });
      // The JWT alone does not pass the dashboard; the dashboard's token in Authorization is no JWT.
      expect((await whoamiCall({ authorization: jwt })).status).toBe(401);
      const old = await whoamiCall({ authorization: "Bearer dash-s3cret" });
      expect(old.status).toBe(401);
      expect(((await old.json()) as { message: string }).message).toContain("missing Authorization header");
    } finally {
      await tokened.stop();
    }
  });

  it("warns at start about a rule naming RPCs no routed method has (misspelt), which would guard nothing", async () => {
    const warnings: string[] = [];
    const recording = {
      ...silentLogger(),
      warn: (_fields: unknown, message?: string) => void warnings.push(message ?? ""),
      child: () => recording,
    };
    const misspelt = createGateway({
      args: [`--registry=local`, `--registry_address=${join(dir, "registry")}`, "--address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: recording,
      routes: [
        { match: "fixtures.gateway.v1.Librari.*", auth: true },
        { match: "fixtures.gateway.v1.Library.*", auth: true },
        { match: "GET /v1/nothing/here", auth: true },
      ],
    });
    await misspelt.start();
    try {
      const about = warnings.filter((warning) => warning.includes("matches no method"));
      expect(about).toHaveLength(1);
      expect(about[0]).toMatch(
        /^route rule "fixtures\.gateway\.v1\.Librari\.\*" matches no method of the services routed so far \(such as fixtures\.gateway\.v1\.Library\.\w+\): .*, what it was meant to guard is open$/,
      );
    } finally {
      await misspelt.stop();
    }
  });

  it("answers 429 with Retry-After once a client spends its burst, per client", async () => {
    const ping = (client: string) => fetch(`${gateway.url}/v1/ping`, { headers: { "x-forwarded-for": client } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await ping("a")).status);
    expect(statuses).toEqual([200, 200, 429]);
    const refused = await ping("a");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as { code: number; message: string; details: { reason?: string }[] };
    expect(body.code).toBe(8);
    expect(body.details[0]?.reason).toBe("RATE_LIMITED");
  });

  it("keys a per-client limit by the X-Forwarded-For of a proxy --trust_proxy names, and by the socket's peer otherwise", async () => {
    const ping = (url: string, forwarded: string) =>
      fetch(`${url}/v1/ping`, { headers: { "x-forwarded-for": forwarded } }).then((answer) => answer.status);
    // The test's requests come from 127.0.0.1: a trusted proxy here, passing on its clients' addresses.
    const behind = await startGateway(`--config=${join(dir, "gateway.json")}`, "--trust_proxy=127.0.0.1,10.0.0.0/8");
    try {
      expect([await ping(behind.url!, "203.0.113.7"), await ping(behind.url!, "203.0.113.7")]).toEqual([200, 200]);
      expect(await ping(behind.url!, "203.0.113.7")).toBe(429);
      // Another client, its own budget; what a client writes before the proxies' hops is not believed.
      expect(await ping(behind.url!, "203.0.113.8")).toBe(200);
      expect(await ping(behind.url!, "203.0.113.8, 10.1.2.3")).toBe(200);
      expect(await ping(behind.url!, "203.0.113.7, 203.0.113.8, 10.1.2.3")).toBe(429);
      // The service still gets the whole chain, the gateway's own peer last.
      const seen = await fetch(`${behind.url}/library/whoami`, {
        method: "POST",
        body: "{}",
        headers: {
          authorization: `Bearer ${await token({ sub: "ada", iss: "tsmicro-tests", exp: now() + 60 })}`,
          "x-forwarded-for": "203.0.113.7, 10.1.2.3",
        },
      });
      expect(((await seen.json()) as { metadata: Record<string, string> }).metadata["x-forwarded-for"]).toBe(
        "203.0.113.7, 10.1.2.3, 127.0.0.1",
      );
    } finally {
      await behind.stop();
    }
    // A gateway that trusts no proxy at 127.0.0.1 counts every request from there in one budget.
    const direct = await startGateway(`--config=${join(dir, "gateway.json")}`, "--trust_proxy=10.0.0.0/8");
    try {
      expect([await ping(direct.url!, "203.0.113.7"), await ping(direct.url!, "203.0.113.8")]).toEqual([200, 200]);
      expect(await ping(direct.url!, "203.0.113.9")).toBe(429);
    } finally {
      await direct.stop();
    }
  });

  it("takes the proxies from trustProxy in the --config file, as a number of hops, and refuses it set twice", async () => {
    const ping = (url: string, forwarded: string) =>
      fetch(`${url}/v1/ping`, { headers: { "x-forwarded-for": forwarded } }).then((answer) => answer.status);
    const config = join(dir, "gateway-trust.json");
    await writeFile(
      config,
      JSON.stringify({
        trustProxy: 1,
        routes: [{ match: "GET /v1/ping", rateLimit: { rate: 0.001, burst: 1, per: "client" } }],
      }),
    );
    // One proxy in front (the test, at 127.0.0.1): the address it appends is the client; one written before it is not.
    const behind = await startGateway(`--config=${config}`);
    try {
      expect(await ping(behind.url!, "203.0.113.7")).toBe(200);
      expect(await ping(behind.url!, "203.0.113.7")).toBe(429);
      expect(await ping(behind.url!, "203.0.113.8")).toBe(200);
      expect(await ping(behind.url!, "203.0.113.7, 203.0.113.9")).toBe(200);
      expect(await ping(behind.url!, "203.0.113.8, 203.0.113.9")).toBe(429);
    } finally {
      await behind.stop();
    }
    const twice = createGateway({
      args: ["--registry=local", `--registry_address=${join(dir, "registry")}`, "--address=127.0.0.1:0"],
      env: suiteEnv(),
      settings: { config, trustProxy: ["loopback"] },
      logger: silentLogger(),
    });
    await expect(twice.start()).rejects.toThrow(
      `${config}: trustProxy is set here and by --trust_proxy (or TSMICRO_TRUST_PROXY) too: set it in one place`,
    );
  });

  it("keys a limit on an authenticated route by the token's subject", async () => {
    const shelf = async (sub: string) =>
      (
        await fetch(`${gateway.url}/v1/shelves/s1`, {
          headers: { authorization: `Bearer ${await token({ sub, iss: "tsmicro-tests", exp: now() + 60 })}` },
        })
      ).status;
    expect(await shelf("bob")).toBe(200);
    expect(await shelf("bob")).toBe(429);
    expect(await shelf("carol")).toBe(200);
    expect((await fetch(`${gateway.url}/v1/shelves/s1`)).status).toBe(401);
  });
});
