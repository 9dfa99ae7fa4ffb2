import { exportJWK, exportSPKI, generateKeyPair } from "jose";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSetupError } from "@tsmicro/runtime";
import { loadGatewayConfig } from "./gateway-config.js";

const secret = "a-shared-secret-of-at-least-32-bytes!";
let dir: string;
let count = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tsmicro-gateway-config-"));
  await mkdir(join(dir, "keys"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a config (an object as JSON, or raw text) to a fresh file and returns its path. */
async function configFile(content: unknown): Promise<string> {
  const path = join(dir, `gateway-${++count}.json`);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return path;
}

/** The SetupError loading `content` fails with, as `CODE: message`. */
async function failure(content: unknown): Promise<{ path: string; error: string }> {
  const path = await configFile(content);
  try {
    await loadGatewayConfig(path);
  } catch (error) {
    return { path, error: isSetupError(error) ? `${error.code}: ${error.message}` : String(error) };
  }
  throw new Error("the config loaded");
}

describe("loadGatewayConfig", () => {
  it("reads jwt, routes and cors", async () => {
    const path = await configFile({
      jwt: {
        secret,
        issuer: "https://auth.example",
        audience: ["shop"],
        algorithms: ["HS256"],
        clockToleranceSeconds: 30,
      },
      routes: [
        { match: "*", auth: true },
        { match: "GET /v1/books/*", auth: false, rateLimit: { rate: 5, burst: 10, per: "client" } },
      ],
      cors: { origins: ["https://shop.example", "http://localhost:5173"] },
    });
    expect(await loadGatewayConfig(path)).toEqual({
      jwt: {
        secret,
        issuer: "https://auth.example",
        audience: ["shop"],
        algorithms: ["HS256"],
        clockToleranceSeconds: 30,
      },
      routes: [
        { match: "*", auth: true },
        { match: "GET /v1/books/*", auth: false, rateLimit: { rate: 5, burst: 10, per: "client" } },
      ],
      corsOrigins: ["https://shop.example", "http://localhost:5173"],
    });
  });

  it("treats an empty object as no auth, no routes and no cors, and accepts a byte order mark", async () => {
    expect(await loadGatewayConfig(await configFile("\uFEFF{}"))).toEqual({ routes: [] });
  });

  it("reads a PEM key file and a JWKS file relative to the config file", async () => {
    const { publicKey } = await generateKeyPair("ES256", { extractable: true });
    const pem = await exportSPKI(publicKey);
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "k1" }] };
    await writeFile(join(dir, "keys", "jwt.pem"), pem);
    await writeFile(join(dir, "keys", "jwks.json"), JSON.stringify(jwks));
    expect((await loadGatewayConfig(await configFile({ jwt: { publicKeyFile: "keys/jwt.pem" } }))).jwt).toEqual({
      publicKey: pem,
    });
    expect((await loadGatewayConfig(await configFile({ jwt: { jwksFile: "./keys/jwks.json" } }))).jwt).toEqual({
      jwks,
    });
  });

  it("names an unknown setting by its key path and lists the known ones", async () => {
    const routes = [{ match: "*" }, { match: "a.B.C" }, { match: "a.B.D", rateLimit: { rat: 5 } }];
    const { path, error } = await failure({ routes });
    expect(error).toBe(
      `TSM_ERR_CONFIG_SETTING: ${path}: routes[2].rateLimit.rat is not a known setting (rate, burst, per)`,
    );
    expect((await failure({ rutes: [] })).error).toContain(
      ": rutes is not a known setting (jwt, routes, cors, trustProxy)",
    );
    expect((await failure({ jwt: { secret, issuers: "x" } })).error).toContain(
      ": jwt.issuers is not a known setting (secret, publicKeyFile, jwksFile, jwksUrl, issuer, audience, algorithms, clockToleranceSeconds)",
    );
    expect((await failure({ cors: { origin: [] } })).error).toContain(": cors.origin is not a known setting (origins)");
  });

  it("names a setting of the wrong type, and what it found", async () => {
    expect((await failure({ routes: [{ match: "*", rateLimit: { rate: "10" } }] })).error).toContain(
      ': routes[0].rateLimit.rate must be a number, not the string "10"',
    );
    expect((await failure({ routes: [{ match: "*", auth: "yes" }] })).error).toContain(
      ': routes[0].auth must be true, false or "optional", not the string "yes"',
    );
    expect((await failure({ routes: { match: "*" } })).error).toContain(": routes must be an array, not an object");
    expect((await failure({ routes: [{ auth: false }] })).error).toContain(": routes[0].match is missing");
    expect((await failure({ jwt: { secret: 42 } })).error).toContain(
      ": jwt.secret must be a string, not the number 42",
    );
    expect((await failure({ jwt: { secret, audience: ["a", 1] } })).error).toContain(
      ": jwt.audience[1] must be a string, not the number 1",
    );
    expect((await failure([])).error).toContain(": the config must be an object, not an array");
  });

  it("reports bad JSON with the file, line and column", async () => {
    const trailing = await failure('{\n  "routes": [\n    { "match": "*" },\n  ]\n}');
    expect(trailing.error).toBe(
      `TSM_ERR_CONFIG_JSON: ${trailing.path}:4:3: not valid JSON: a comma before ]; JSON allows no trailing comma`,
    );
    const missingComma = await failure('{\n  "routes": []\n  "cors": {}\n}');
    expect(missingComma.error).toBe(
      `TSM_ERR_CONFIG_JSON: ${missingComma.path}:3:3: not valid JSON: expected , or } after a property, found "\\""`,
    );
    expect((await failure('{ "jwt": { "secret": "abc }\n}')).error).toContain(
      ":1:28: not valid JSON: a line break or control character inside a string",
    );
    expect((await failure("// gateway\n{}")).error).toContain(":1:1: not valid JSON: JSON has no comments");
    expect((await failure("")).error).toContain(":1:1: not valid JSON: the file ends where a value should be");
    expect((await failure('{"routes": tru}')).error).toContain(':1:12: not valid JSON: expected a value, found "t"');
  });

  it("says which file cannot be read, and why in words rather than Node's ENOENT text", async () => {
    const missing = join(dir, "nowhere.json");
    await expect(loadGatewayConfig(missing)).rejects.toMatchObject({
      code: "TSM_ERR_CONFIG_FILE",
      message: `cannot read the gateway config ${missing}: the file does not exist`,
    });
    await expect(loadGatewayConfig(join(dir, "keys"))).rejects.toMatchObject({
      code: "TSM_ERR_CONFIG_FILE",
      message: `cannot read the gateway config ${join(dir, "keys")}: it is a folder, not a file`,
    });
    const { path, error } = await failure({ jwt: { publicKeyFile: "keys/missing.pem" } });
    expect(error).toBe(
      `TSM_ERR_CONFIG_FILE: cannot read ${join(dir, "keys", "missing.pem")} (${path}: jwt.publicKeyFile): the file does not exist`,
    );
  });

  // root reads any file: the permission is not checked.
  it.skipIf(process.getuid?.() === 0)("says a config the gateway may not read is a matter of permission", async () => {
    const path = await configFile({});
    await chmod(path, 0o000);
    await expect(loadGatewayConfig(path)).rejects.toMatchObject({
      code: "TSM_ERR_CONFIG_FILE",
      message: `cannot read the gateway config ${path}: permission denied; let the service's user read it`,
    });
  });

  it("checks the JWT key the way the gateway will use it", async () => {
    const none = await failure({ jwt: { issuer: "x" } });
    expect(none.error).toBe(
      `TSM_ERR_JWT_KEY_SOURCE: ${none.path}: jwt: no key to verify tokens with; set exactly one of secret (an HMAC shared secret), publicKeyFile (a PEM public key or certificate), jwksFile (a JSON Web Key Set) or jwksUrl (an identity provider's, by URL)`,
    );
    expect((await failure({ jwt: { secret, jwksFile: "k.json" } })).error).toContain(
      ": jwt: secret and jwksFile are both set",
    );
    await writeFile(join(dir, "keys", "garbage.pem"), "not a key");
    const garbage = await failure({ jwt: { publicKeyFile: "keys/garbage.pem" } });
    expect(garbage.error).toContain(`TSM_ERR_JWT_KEY: ${garbage.path}: jwt.publicKey is not a usable key`);
    await writeFile(join(dir, "keys", "broken.json"), '{"keys": [}');
    expect((await failure({ jwt: { jwksFile: "keys/broken.json" } })).error).toContain(
      `TSM_ERR_CONFIG_JSON: ${join(dir, "keys", "broken.json")}:1:11: not valid JSON`,
    );
    expect((await failure({ jwt: { secret: "short" } })).error).toContain("jwt.secret is not a usable key");
  });

  it("checks route patterns, rate limits and CORS origins", async () => {
    const pattern = await failure({ routes: [{ match: "GET v1/books" }] });
    expect(pattern.error).toContain(
      `TSM_ERR_ROUTE_PATTERN: ${pattern.path}: routes[0]: bad match pattern "GET v1/books"`,
    );
    // JSON cannot hold Infinity, which code writes for no limit.
    expect((await failure({ routes: [{ match: "*", rateLimit: { rate: 0 } }] })).error).toContain(
      ": routes[0].rateLimit.rate has an invalid value 0: expected calls per second > 0 (0.5 is one call every 2 s); " +
        "for no limit, leave rateLimit out of this rule and of the earlier rules that match its routes",
    );
    expect((await failure({ routes: [{ match: "*", rateLimit: { rate: 1, per: "user" } }] })).error).toContain(
      ': routes[0].rateLimit.per has an invalid value "user"',
    );
    expect((await failure({ cors: { origins: ["https://shop.example/"] } })).error).toContain(
      ': cors.origins[0] "https://shop.example/" is not an origin (scheme://host[:port], no path); write "https://shop.example", or "*" for any',
    );
    expect((await failure({ cors: { origins: ["shop.example"] } })).error).toContain('"shop.example" is not an origin');
    expect(await loadGatewayConfig(await configFile({ cors: { origins: ["*"] } }))).toEqual({
      routes: [],
      corsOrigins: ["*"],
    });
  });

  it("reads trustProxy as --trust_proxy takes it, or as a list or number, and names a bad one", async () => {
    const trustOf = async (trustProxy: unknown) =>
      (await loadGatewayConfig(await configFile({ trustProxy }))).trustProxy;
    expect(await trustOf(["10.0.0.0/8", " loopback "])).toEqual(["10.0.0.0/8", "loopback"]);
    expect(await trustOf("10.0.0.5, uniquelocal")).toEqual(["10.0.0.5", "uniquelocal"]);
    expect(await trustOf(1)).toBe(1);
    expect(await trustOf(0)).toBe(false);
    expect(await trustOf(true)).toBe(true);
    expect(await trustOf("off")).toBe(false);
    expect((await loadGatewayConfig(await configFile({}))).trustProxy).toBeUndefined();
    const bad = await failure({ trustProxy: ["10.0.0.0/8", "lb.internal"] });
    expect(bad.error).toBe(
      `TSM_ERR_CONFIG_SETTING: ${bad.path}: trustProxy: "lb.internal" is no IP address or CIDR range; expected off, ` +
        "on (every proxy), a number of proxies in front (1: the load balancer alone), or the proxies' addresses and " +
        "ranges, comma-separated (10.0.0.5,10.1.0.0/16; loopback, linklocal and uniquelocal name those ranges)",
    );
    expect((await failure({ trustProxy: 1.5 })).error).toContain("trustProxy: 1.5 is no number of proxies (0, 1, 2…)");
    expect((await failure({ trustProxy: [7] })).error).toContain("trustProxy[0] must be a string, not the number 7");
    expect((await failure({ trustProxy: { hops: 1 } })).error).toContain(
      "trustProxy must be true, false, a number or a list of addresses, not an object",
    );
  });

  it("refuses routes that need auth when there is no jwt section", async () => {
    expect((await failure({ routes: [{ match: "a.B.C" }, { match: "*", auth: true }] })).error).toContain(
      ": routes[1].auth is true but there is no jwt section to verify tokens with; add one",
    );
    expect((await failure({ routes: [{ match: "*", auth: "optional" }] })).error).toContain(
      ': routes[0].auth is "optional" but there is no jwt section to verify tokens with; add one',
    );
  });
});
