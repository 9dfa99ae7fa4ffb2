import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CompactSign,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  SignJWT,
  UnsecuredJWT,
  type JWTPayload,
} from "jose";
import { describe, expect, it } from "vitest";
import { Code, isSetupError, isTsmicroError } from "@tsmicro/runtime";
import { claimsMetadata, createJwtVerifier, type JwtOptions } from "./jwt-auth.js";

const secret = "a-shared-secret-of-at-least-32-bytes!";
const hmacKey = new TextEncoder().encode(secret);
const now = () => Math.floor(Date.now() / 1000);

/** A token signed with `key` (default: the HMAC secret, HS256). */
async function token(
  claims: JWTPayload,
  key: Parameters<SignJWT["sign"]>[0] = hmacKey,
  header: { alg: string; kid?: string } = { alg: "HS256" },
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** The message of the UNAUTHENTICATED error verify fails with; fails the test on anything else. */
async function refusal(options: JwtOptions, authorization: string | undefined): Promise<string> {
  try {
    await createJwtVerifier(options).verify(authorization);
  } catch (error) {
    expect(isTsmicroError(error) && error.code).toBe(Code.UNAUTHENTICATED);
    return (error as Error).message;
  }
  throw new Error("verify accepted the token");
}

function setupErrorOf(make: () => unknown): string | undefined {
  try {
    make();
    return undefined;
  } catch (error) {
    return isSetupError(error) ? `${error.code}: ${error.message}` : String(error);
  }
}

// A self-signed X.509 certificate (openssl req -x509, EC P-256, valid to 2126) and its key, for certificate keys.
const certificate = `-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUWsADTzmXpGy/4MHXRF2vmybL1OgwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTdHNtaWNybyB0ZXN0IGlzc3VlcjAgFw0yNjExMjIwODQ3NDVa
GA8yMTI2MTAyOTA4NDc0NVowHjEcMBoGA1UEAwwTdHNtaWNybyB0ZXN0IGlzc3Vl
cjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH41V9adQ7cRGhq79aMCTQAHFMXd
aABTk4K5BRrJNsywFOZmC8KOxFJ7yv+eFwOZWG7X0AlSXcCIJ5AgA5uOkHujUzBR
MB0GA1UdDgQWBBSaPD44+WiIPNzUMbDwIn9WloEl/zAfBgNVHSMEGDAWgBSaPD44
+WiIPNzUMbDwIn9WloEl/zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIG1if+7vS9lOghJia5qgjDFWCqpCJafgCiKl8d40CAY+AiEA+DtUWW8Sm1LK
c8zjJ1e6fX8mv3CFgBf861XILNI58zw=
-----END CERTIFICATE-----`;
const certificateKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgztnPgPve4lKOQbQC
fIJKA0ky5fCxTMxrRUfyOmGP6R2hRANCAAR+NVfWnUO3ERoau/WjAk0ABxTF3WgA
U5OCuQUayTbMsBTmZgvCjsRSe8r/nhcDmVhu19AJUl3AiCeQIAObjpB7
-----END PRIVATE KEY-----`;

describe("createJwtVerifier with a shared secret", () => {
  const options: JwtOptions = { secret, issuer: "https://auth.example", audience: ["shop", "admin"] };
  const good = { sub: "user-7", iss: "https://auth.example", aud: "shop", scope: "books:read" };

  it("returns the claims of a valid token, with the Bearer scheme in any case", async () => {
    const verifier = createJwtVerifier(options);
    const jwt = await token({ ...good, exp: now() + 60 });
    expect(await verifier.verify(`Bearer ${jwt}`)).toMatchObject(good);
    expect(await verifier.verify(`bearer  ${jwt} `)).toMatchObject(good);
    expect(verifier.algorithms).toEqual(["HS256", "HS384", "HS512"]);
  });

  it("says when the header is missing or not a Bearer token", async () => {
    const missing = "missing Authorization header: send Authorization: Bearer <token>";
    expect(await refusal(options, undefined)).toBe(missing);
    expect(await refusal(options, "  ")).toBe(missing);
    const notBearer = "the Authorization header is not a Bearer token: send Authorization: Bearer <token>";
    expect(await refusal(options, "Basic dXNlcjpwYXNz")).toBe(notBearer);
    expect(await refusal(options, "Bearer")).toBe(notBearer);
    expect(await refusal(options, "Bearer a b")).toBe(notBearer);
  });

  it("refuses a token that is not a JWT as malformed", async () => {
    expect(await refusal(options, "Bearer not-a-jwt")).toBe("the token is malformed");
    expect(await refusal(options, "Bearer aaa.bbb.ccc")).toBe("the token is malformed");
    // Signed, so only its payload is wrong.
    const notJson = await new CompactSign(new TextEncoder().encode("not json"))
      .setProtectedHeader({ alg: "HS256" })
      .sign(hmacKey);
    expect(await refusal(options, `Bearer ${notJson}`)).toBe("the token is malformed");
  });

  it("says when the token expired, and when it is not valid yet", async () => {
    const exp = now() - 120;
    expect(await refusal(options, `Bearer ${await token({ ...good, exp })}`)).toBe(
      `the token expired at ${new Date(exp * 1000).toISOString()}`,
    );
    const nbf = now() + 3600;
    expect(await refusal(options, `Bearer ${await token({ ...good, nbf })}`)).toBe(
      `the token is not valid yet: it is valid from ${new Date(nbf * 1000).toISOString()}`,
    );
  });

  it("allows clock skew up to clockToleranceSeconds", async () => {
    const jwt = await token({ ...good, exp: now() - 10 });
    await expect(
      createJwtVerifier({ ...options, clockToleranceSeconds: 60 }).verify(`Bearer ${jwt}`),
    ).resolves.toMatchObject(good);
  });

  it("refuses a token signed with another secret", async () => {
    const forged = await token(good, new TextEncoder().encode("another-secret-that-is-32-bytes-long"));
    expect(await refusal(options, `Bearer ${forged}`)).toBe("the token's signature does not verify");
  });

  it("refuses a token of another issuer or audience, or without them", async () => {
    const { iss, aud, ...bare } = good;
    expect(await refusal(options, `Bearer ${await token({ ...good, iss: "https://evil.example" })}`)).toBe(
      "the token's issuer (iss claim) is not accepted",
    );
    expect(await refusal(options, `Bearer ${await token({ ...good, aud: "billing" })}`)).toBe(
      "the token's audience (aud claim) is not accepted",
    );
    expect(await refusal(options, `Bearer ${await token({ ...bare, aud })}`)).toBe(
      "the token has no issuer (iss claim); this gateway accepts only tokens that name one",
    );
    expect(await refusal(options, `Bearer ${await token({ ...bare, iss })}`)).toBe(
      "the token has no audience (aud claim); this gateway accepts only tokens that name one",
    );
    // A token for any one of the accepted audiences passes.
    await expect(
      createJwtVerifier(options).verify(`Bearer ${await token({ ...good, aud: ["x", "admin"] })}`),
    ).resolves.toBeDefined();
  });

  it("refuses an algorithm it was not told to accept, and unsigned tokens always", async () => {
    const hs512Only = { ...options, algorithms: ["HS512"] };
    const accepted = "the token's signing algorithm (alg) is not accepted";
    expect(await refusal(hs512Only, `Bearer ${await token(good)}`)).toBe(accepted);
    await expect(
      createJwtVerifier(hs512Only).verify(`Bearer ${await token(good, hmacKey, { alg: "HS512" })}`),
    ).resolves.toBeDefined();
    expect(await refusal(options, `Bearer ${new UnsecuredJWT(good).encode()}`)).toBe(accepted);
  });

  it("never puts the secret or a stack in its messages", async () => {
    const messages = await Promise.all([
      refusal(options, `Bearer ${await token(good, new TextEncoder().encode("x".repeat(32)))}`),
      refusal(options, "Bearer x.y.z"),
    ]);
    for (const message of messages) {
      expect(message).not.toContain(secret);
      expect(message).not.toMatch(/\n\s+at /);
    }
  });
});

describe("createJwtVerifier with public keys", () => {
  it("verifies RS256 tokens against an SPKI PEM, and refuses HS256 tokens made with the PEM as secret", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const pem = await exportSPKI(publicKey);
    const verifier = createJwtVerifier({ publicKey: pem });
    expect(verifier.algorithms).toEqual(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
    const jwt = await token({ sub: "u1" }, privateKey, { alg: "RS256" });
    expect(await verifier.verify(`Bearer ${jwt}`)).toMatchObject({ sub: "u1" });
    // The classic algorithm confusion: HMAC keyed with the public key's text.
    const confused = await token({ sub: "admin" }, new TextEncoder().encode(pem), { alg: "HS256" });
    expect(await refusal({ publicKey: pem }, `Bearer ${confused}`)).toBe(
      "the token's signing algorithm (alg) is not accepted",
    );
    const other = await generateKeyPair("RS256");
    expect(await refusal({ publicKey: pem }, `Bearer ${await token({}, other.privateKey, { alg: "RS256" })}`)).toBe(
      "the token's signature does not verify",
    );
  });

  it("verifies ES256 tokens against an X.509 certificate", async () => {
    const verifier = createJwtVerifier({ publicKey: certificate });
    expect(verifier.algorithms).toEqual(["ES256"]);
    const jwt = await token({ sub: "u2" }, await importPKCS8(certificateKey, "ES256"), { alg: "ES256" });
    expect(await verifier.verify(`Bearer ${jwt}`)).toMatchObject({ sub: "u2" });
  });

  it("verifies against a JWKS, choosing by kid, and trying each key when several match", async () => {
    const a = await generateKeyPair("ES256", { extractable: true });
    const b = await generateKeyPair("RS256", { extractable: true });
    const c = await generateKeyPair("ES256", { extractable: true });
    const jwks = {
      keys: [
        { ...(await exportJWK(a.publicKey)), kid: "a" },
        { ...(await exportJWK(b.publicKey)), kid: "b", alg: "RS256" },
        { ...(await exportJWK(c.publicKey)) },
      ],
    };
    const verifier = createJwtVerifier({ jwks });
    expect([...verifier.algorithms].sort()).toEqual(["ES256", "RS256"]);
    const byA = await token({ sub: "a" }, a.privateKey, { alg: "ES256", kid: "a" });
    const byB = await token({ sub: "b" }, b.privateKey, { alg: "RS256", kid: "b" });
    // No kid: both EC keys match, and the one that verifies wins.
    const byC = await token({ sub: "c" }, c.privateKey, { alg: "ES256" });
    expect(await verifier.verify(`Bearer ${byA}`)).toMatchObject({ sub: "a" });
    expect(await verifier.verify(`Bearer ${byB}`)).toMatchObject({ sub: "b" });
    expect(await verifier.verify(`Bearer ${byC}`)).toMatchObject({ sub: "c" });
    const stranger = await generateKeyPair("ES256");
    const unknown = await token({}, stranger.privateKey, { alg: "ES256", kid: "z" });
    expect(await refusal({ jwks }, `Bearer ${unknown}`)).toBe(
      "the token's signature does not verify: no key of this gateway matches its kid and alg",
    );
    const noKid = await token({}, stranger.privateKey, { alg: "ES256" });
    expect(await refusal({ jwks }, `Bearer ${noKid}`)).toBe("the token's signature does not verify");
  });
});

describe("createJwtVerifier setup", () => {
  it("wants exactly one key source", () => {
    expect(setupErrorOf(() => createJwtVerifier({}))).toBe(
      "TSM_ERR_JWT_KEY_SOURCE: jwt: no key to verify tokens with; set exactly one of secret (an HMAC shared secret), publicKey (a PEM public key or certificate), jwks (a JSON Web Key Set) or jwksUrl (its URL)",
    );
    expect(setupErrorOf(() => createJwtVerifier({ secret, publicKey: certificate }, "gateway.json: jwt"))).toContain(
      "TSM_ERR_JWT_KEY_SOURCE: gateway.json: jwt: secret and publicKey are both set; set exactly one of",
    );
  });

  it("names the key that cannot be used, and what to give instead", () => {
    expect(setupErrorOf(() => createJwtVerifier({ secret: "short" }))).toBe(
      "TSM_ERR_JWT_KEY: jwt.secret is not a usable key: it is 5 bytes long; an HMAC secret needs at least 32 bytes (RFC 7518 section 3.2); generate one with: openssl rand -base64 32",
    );
    expect(
      setupErrorOf(() =>
        createJwtVerifier({ publicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }),
      ),
    ).toBe(
      "TSM_ERR_JWT_KEY: jwt.publicKey is not a usable key: it is not a PEM public key or certificate; give a PEM public key (-----BEGIN PUBLIC KEY-----) or X.509 certificate (-----BEGIN CERTIFICATE-----)",
    );
    const privateKeyError = setupErrorOf(() => createJwtVerifier({ publicKey: certificateKey }));
    expect(privateKeyError).toContain("jwt.publicKey is not a usable key: it is a private key");
    expect(privateKeyError).not.toContain("MIGHAgEA");
    expect(setupErrorOf(() => createJwtVerifier({ jwks: { keys: [] } }))).toContain(
      "jwt.jwks is not a usable key: it has no keys",
    );
    expect(setupErrorOf(() => createJwtVerifier({ jwks: { keys: [{ kty: "oct", k: "c2VjcmV0" }] } }))).toContain(
      "jwt.jwks.keys[0] is not a usable key: it is a symmetric (oct) key",
    );
    expect(
      setupErrorOf(() => createJwtVerifier({ jwks: { keys: [{ kty: "EC", crv: "P-256", x: "AA", y: "AA" }] } })),
    ).toContain("jwt.jwks.keys[0] is not a usable key: it is not a valid public JWK");
  });

  it("refuses algorithms the key cannot verify, none, and unknown names", () => {
    expect(setupErrorOf(() => createJwtVerifier({ publicKey: certificate, algorithms: ["HS256"] }))).toBe(
      'TSM_ERR_GATEWAY_OPTION: jwt.algorithms has an invalid value ["HS256"]: the key cannot verify HS256; it verifies ES256',
    );
    expect(setupErrorOf(() => createJwtVerifier({ secret, algorithms: ["none"] }))).toContain(
      "unsigned tokens (none) are never accepted",
    );
    expect(setupErrorOf(() => createJwtVerifier({ secret, algorithms: ["HS999"] }))).toContain(
      '"HS999" is not a JWS algorithm',
    );
    expect(setupErrorOf(() => createJwtVerifier({ secret, algorithms: [] }))).toContain("expected a non-empty list");
    expect(setupErrorOf(() => createJwtVerifier({ secret, clockToleranceSeconds: -1 }))).toContain(
      "jwt.clockToleranceSeconds has an invalid value -1",
    );
    expect(setupErrorOf(() => createJwtVerifier({ secret, issuer: [] }))).toContain(
      "jwt.issuer has an invalid value []",
    );
  });
});

describe("claimsMetadata", () => {
  it("forwards the subject and the claims as ASCII JSON that parses back to the claims", () => {
    const claims = { sub: "user-7", name: "Zoë 🎉", note: "tab\there", del: "\u007f", aud: ["shop"] };
    const metadata = claimsMetadata(claims);
    expect(metadata["x-jwt-sub"]).toBe("user-7");
    const json = metadata["x-jwt-claims"] ?? "";
    expect(json).toMatch(/^[\x20-\x7e]+$/);
    expect(json).toContain("Zo\\u00eb \\ud83c\\udf89");
    expect(JSON.parse(json)).toEqual(claims);
  });

  it("leaves out x-jwt-sub when there is no subject or it is not printable ASCII", () => {
    expect(claimsMetadata({ iss: "i" })).toEqual({ "x-jwt-claims": '{"iss":"i"}' });
    expect(Object.keys(claimsMetadata({ sub: "Zoë" }))).toEqual(["x-jwt-claims"]);
  });
});

describe("jwksUrl: an identity provider's key set, fetched over HTTP", () => {
  /** A loopback server of a key set: `keys` as they are at each request, or `status` when not 200. */
  async function keySetServer() {
    const state: { keys: object[]; status: number; fetches: number } = { keys: [], status: 200, fetches: 0 };
    const server = createServer((_request, response) => {
      state.fetches++;
      response.writeHead(state.status, { "content-type": "application/json" });
      response.end(JSON.stringify({ keys: state.keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return { state, url: `http://127.0.0.1:${port}/.well-known/jwks.json`, close: () => server.close() };
  }

  it("verifies tokens by the provider's keys, fetched once and kept", async () => {
    const idp = await keySetServer();
    try {
      const first = await generateKeyPair("RS256");
      idp.state.keys = [{ ...(await exportJWK(first.publicKey)), kid: "k1", alg: "RS256" }];
      const verifier = createJwtVerifier({ jwksUrl: idp.url, issuer: "idp" });
      const signed = await token({ sub: "ada", iss: "idp", exp: now() + 60 }, first.privateKey, {
        alg: "RS256",
        kid: "k1",
      });
      expect((await verifier.verify(`Bearer ${signed}`)).sub).toBe("ada");
      // Fetched once: the next token is checked against the kept keys.
      expect((await verifier.verify(`Bearer ${signed}`)).sub).toBe("ada");
      expect(idp.state.fetches).toBe(1);
      // A token signed by a key the provider never published is still refused as the token's fault.
      const stranger = await generateKeyPair("RS256");
      const forged = await token({ sub: "eve", iss: "idp" }, stranger.privateKey, { alg: "RS256", kid: "k1" });
      await expect(createJwtVerifier({ jwksUrl: idp.url }).verify(`Bearer ${forged}`)).rejects.toMatchObject({
        code: Code.UNAUTHENTICATED,
      });
    } finally {
      idp.close();
    }
  });

  it("answers UNAVAILABLE, not UNAUTHENTICATED, while the provider cannot give its keys", async () => {
    const idp = await keySetServer();
    idp.state.status = 500;
    const { privateKey } = await generateKeyPair("RS256");
    const signed = await token({ sub: "ada" }, privateKey, { alg: "RS256", kid: "k1" });
    try {
      await expect(createJwtVerifier({ jwksUrl: idp.url }).verify(`Bearer ${signed}`)).rejects.toMatchObject({
        code: Code.UNAVAILABLE,
        message: "the gateway cannot get the keys to verify tokens with (jwt.jwksUrl); try again later",
      });
    } finally {
      idp.close();
    }
    // Nothing listening there at all.
    await expect(createJwtVerifier({ jwksUrl: idp.url }).verify(`Bearer ${signed}`)).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
    });
  });

  it("refuses, when made, a URL that is not https (but on loopback) or no URL at all", () => {
    expect(setupErrorOf(() => createJwtVerifier({ jwksUrl: "http://idp.example/jwks.json" }))).toBe(
      'TSM_ERR_JWT_KEY: jwt.jwksUrl is not a usable key: "http://idp.example/jwks.json" is not https; keys that vouch for every token must not travel in clear: use https (http is taken on loopback only)',
    );
    expect(setupErrorOf(() => createJwtVerifier({ jwksUrl: "idp.example/jwks.json" }))).toMatch(
      /^TSM_ERR_JWT_KEY: jwt\.jwksUrl is not a usable key: "idp\.example\/jwks\.json" is not a URL; give the https URL/,
    );
    expect(setupErrorOf(() => createJwtVerifier({ jwksUrl: "https://idp.example/jwks.json" }))).toBeUndefined();
  });
});
