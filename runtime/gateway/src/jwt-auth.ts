import { createPublicKey, type JsonWebKeyInput, type KeyObject } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyOptions,
  type JWTVerifyResult,
} from "jose";
import { Code, SetupError, TsmicroError } from "@tsmicro/runtime";
import { claimsMetadataKeys } from "@tsmicro/runtime/internal";

/** How the gateway verifies JWTs: exactly one key source, and what the claims must say. */
export interface JwtOptions {
  /** An HMAC shared secret (HS256, HS384, HS512), at least 32 bytes (RFC 7518 section 3.2). */
  readonly secret?: string;
  /** A PEM public key (SPKI, `-----BEGIN PUBLIC KEY-----`) or X.509 certificate: RSA, EC P-256/384/521 or Ed25519. */
  readonly publicKey?: string;
  /** A JSON Web Key Set of public keys, chosen by the token's `kid` and `alg`; the config layer reads it from a file. */
  readonly jwks?: JSONWebKeySet;
  /**
   * The URL of an identity provider's JSON Web Key Set (`https://…/.well-known/jwks.json`),
   * fetched when first needed, kept 10 minutes, and fetched again for a `kid` it lacks (at most
   * every 30 s), so the provider's key rotation needs no restart. https, or http on loopback.
   */
  readonly jwksUrl?: string;
  /** The accepted `iss` values; when set, a token must carry one of them. */
  readonly issuer?: string | string[];
  /** The accepted `aud` values; when set, a token must name one of them. */
  readonly audience?: string | string[];
  /** The accepted `alg` values; default: every algorithm the key can verify. `none` is never accepted. */
  readonly algorithms?: string[];
  /** Leeway for `exp` and `nbf` against clock skew between issuer and gateway; default 0. */
  readonly clockToleranceSeconds?: number;
}

/** The claims of a verified token. */
export interface JwtClaims {
  readonly iss?: string;
  readonly sub?: string;
  readonly aud?: string | string[];
  readonly exp?: number;
  readonly nbf?: number;
  readonly iat?: number;
  readonly jti?: string;
  readonly [claim: string]: unknown;
}

/** Verifies the `Authorization` header of requests. */
export interface JwtVerifier {
  /**
   * Verifies `Authorization: Bearer <token>` and returns its claims. Any failure throws a
   * TsmicroError UNAUTHENTICATED whose message is safe to send to the client.
   */
  verify(authorization: string | undefined): Promise<JwtClaims>;
  /** The algorithms accepted, after defaults. */
  readonly algorithms: readonly string[];
}

const hmacAlgorithms = ["HS256", "HS384", "HS512"];
const rsaAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const ecAlgorithmByCurve: Readonly<Record<string, string>> = {
  prime256v1: "ES256",
  secp384r1: "ES384",
  secp521r1: "ES512",
};
const edAlgorithms = ["EdDSA", "Ed25519"];
const knownAlgorithms = new Set([
  ...hmacAlgorithms,
  ...rsaAlgorithms,
  ...Object.values(ecAlgorithmByCurve),
  ...edAlgorithms,
]);
const minSecretBytes = 32;

type VerifyKey = KeyObject | Uint8Array | ReturnType<typeof createLocalJWKSet> | ReturnType<typeof createRemoteJWKSet>;

/**
 * Makes a verifier. Keys are imported here with node:crypto, synchronously, so a missing, doubled
 * or malformed key throws a SetupError now rather than on the first request; `where` prefixes
 * the option names in those errors (default `jwt`). Tokens are verified with jose, accepting
 * only the algorithms the key can verify (so an HS256 token is never checked against a public
 * key used as a secret) and never `none`.
 */
export function createJwtVerifier(options: JwtOptions, where = "jwt"): JwtVerifier {
  const { key, algorithms: usable } = importKey(options, where);
  const algorithms = checkAlgorithms(options.algorithms, usable, where);
  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    clockTolerance: checkTolerance(options.clockToleranceSeconds, where),
    ...(options.issuer === undefined ? {} : { issuer: checkNames(options.issuer, `${where}.issuer`) }),
    ...(options.audience === undefined ? {} : { audience: checkNames(options.audience, `${where}.audience`) }),
  };

  return {
    algorithms,
    async verify(authorization) {
      const token = bearerToken(authorization);
      try {
        const { payload } = await verifyWith(token, key, verifyOptions);
        return payload as JwtClaims;
      } catch (error) {
        throw options.jwksUrl !== undefined && isKeyFetchFailure(error)
          ? keysUnavailable(error)
          : unauthenticated(error);
      }
    },
  };
}

/**
 * The gRPC metadata a gateway forwards for verified claims: `x-jwt-sub` (the subject, when it is
 * printable ASCII) and `x-jwt-claims` (the claims as JSON, non-ASCII escaped as \uXXXX, so the
 * value is valid ASCII metadata; JSON.parse restores it).
 */
export function claimsMetadata(claims: JwtClaims): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (typeof claims.sub === "string" && /^[\x20-\x7e]+$/.test(claims.sub))
    metadata[claimsMetadataKeys.subject] = claims.sub;
  metadata[claimsMetadataKeys.claims] = asciiJson(claims);
  return metadata;
}

/** JSON with every character outside printable ASCII escaped; JSON.stringify already escapes control characters. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === "")
    throw new TsmicroError(Code.UNAUTHENTICATED, "missing Authorization header: send Authorization: Bearer <token>");
  const match = /^bearer[ \t]+(\S+)$/i.exec(authorization.trim());
  if (match === null)
    throw new TsmicroError(
      Code.UNAUTHENTICATED,
      "the Authorization header is not a Bearer token: send Authorization: Bearer <token>",
    );
  return match[1] as string;
}

async function verifyWith(token: string, key: VerifyKey, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  if (typeof key !== "function") return jwtVerify(token, key, options);
  try {
    return await jwtVerify(token, key, options);
  } catch (error) {
    // Keys without a `kid` (or sharing one) can all match; jose then hands them over to try in turn.
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const candidate of error) {
      try {
        return await jwtVerify(token, candidate, options);
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/**
 * Whether verifying failed for want of the remote key set, not for the token: the fetch failed
 * (no answer, a timeout, a status other than 200) or what came back is no key set.
 */
function isKeyFetchFailure(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return (
    error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.constructor === errors.JOSEError
  );
}

/** The token could not be checked: no fault of the client's, so UNAVAILABLE (503); the cause is logged, not sent. */
function keysUnavailable(error: unknown): TsmicroError {
  return new TsmicroError(
    Code.UNAVAILABLE,
    "the gateway cannot get the keys to verify tokens with (jwt.jwksUrl); try again later",
    { cause: error },
  );
}

/** The client-safe error for a jose failure: what was wrong with the token, never key material or a stack. */
function unauthenticated(error: unknown): TsmicroError {
  return new TsmicroError(Code.UNAUTHENTICATED, reasonOf(error), { cause: error });
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) {
    const exp = error.payload.exp;
    return typeof exp === "number" && error.claim === "exp"
      ? `the token expired at ${new Date(exp * 1000).toISOString()}`
      : "the token expired";
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason, payload } = error;
    if (claim === "nbf")
      return typeof payload.nbf === "number" && reason !== "invalid"
        ? `the token is not valid yet: it is valid from ${new Date(payload.nbf * 1000).toISOString()}`
        : "the token's nbf (not before) claim is not a number";
    const name = claim === "iss" ? "issuer" : claim === "aud" ? "audience" : undefined;
    if (name !== undefined)
      return reason === "missing"
        ? `the token has no ${name} (${claim} claim); this gateway accepts only tokens that name one`
        : `the token's ${name} (${claim} claim) is not accepted`;
    return `the token's ${claim} claim is not valid`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (error instanceof errors.JWKSNoMatchingKey)
    return "the token's signature does not verify: no key of this gateway matches its kid and alg";
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return "the token's signing algorithm (alg) is not accepted";
  return "the token is malformed";
}

/** Exactly one key source, imported; and the algorithms that key can verify. */
function importKey(options: JwtOptions, where: string): { key: VerifyKey; algorithms: string[] } {
  const given = (["secret", "publicKey", "jwks", "jwksUrl"] as const).filter((name) => options[name] !== undefined);
  if (given.length !== 1)
    throw new SetupError(
      "TSM_ERR_JWT_KEY_SOURCE",
      where,
      given.length === 0 ? "no key to verify tokens with" : `${given.join(" and ")} are both set`,
      "secret (an HMAC shared secret), publicKey (a PEM public key or certificate), jwks (a JSON Web Key Set) or jwksUrl (its URL)",
    );
  if (options.secret !== undefined) return importSecret(options.secret, `${where}.secret`);
  if (options.publicKey !== undefined) return importPem(options.publicKey, `${where}.publicKey`);
  if (options.jwksUrl !== undefined) return remoteJwks(options.jwksUrl, `${where}.jwksUrl`);
  return importJwks(options.jwks, `${where}.jwks`);
}

/** The algorithms of the public keys a key set may hold (never HMAC: a key set's keys are public). */
const publicKeyAlgorithms = [...rsaAlgorithms, ...Object.values(ecAlgorithmByCurve), ...edAlgorithms];

/** A key set fetched from `url` when needed; the URL is checked now. */
function remoteJwks(url: unknown, name: string): { key: VerifyKey; algorithms: string[] } {
  const what =
    "give the https URL of the identity provider's key set, such as https://idp.example/.well-known/jwks.json";
  if (typeof url !== "string") throw keyError(name, "it is not a string", what);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw keyError(name, `${JSON.stringify(url)} is not a URL`, what);
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(parsed.hostname);
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback))
    throw keyError(
      name,
      `${JSON.stringify(url)} is not https`,
      "keys that vouch for every token must not travel in clear: use https (http is taken on loopback only)",
    );
  return { key: createRemoteJWKSet(parsed), algorithms: publicKeyAlgorithms };
}

function importSecret(secret: unknown, name: string): { key: Uint8Array; algorithms: string[] } {
  if (typeof secret !== "string") throw keyError(name, "it is not a string", "give the shared secret as text");
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < minSecretBytes)
    throw keyError(
      name,
      `it is ${bytes.length} bytes long`,
      `an HMAC secret needs at least ${minSecretBytes} bytes (RFC 7518 section 3.2); generate one with: openssl rand -base64 32`,
    );
  return { key: bytes, algorithms: hmacAlgorithms };
}

function importPem(pem: unknown, name: string): { key: KeyObject; algorithms: string[] } {
  const what = "give a PEM public key (-----BEGIN PUBLIC KEY-----) or X.509 certificate (-----BEGIN CERTIFICATE-----)";
  if (typeof pem !== "string") throw keyError(name, "it is not a string", what);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem))
    throw keyError(name, "it is a private key", `the gateway only verifies, so ${what}`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw keyError(name, "it is not a PEM public key or certificate", what);
  }
  return { key, algorithms: algorithmsOf(key, name) };
}

function importJwks(jwks: unknown, name: string): { key: VerifyKey; algorithms: string[] } {
  const keys = typeof jwks === "object" && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0)
    throw keyError(name, "it has no keys", 'give a JSON Web Key Set: { "keys": [ { "kty": ..., ... } ] }');
  const algorithms = new Set<string>();
  keys.forEach((jwk: unknown, i) => {
    const keyName = `${name}.keys[${i}]`;
    if (typeof jwk !== "object" || jwk === null) throw keyError(keyName, "it is not an object", "give a JWK");
    const { kty, alg, d } = jwk as JWK;
    if (kty === "oct")
      throw keyError(keyName, "it is a symmetric (oct) key", "a JWKS holds public keys; give an HMAC key as secret");
    if (d !== undefined) throw keyError(keyName, "it is a private key", "give only the public part of the key");
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKeyInput["key"], format: "jwk" });
    } catch {
      throw keyError(keyName, "it is not a valid public JWK", "check its kty and key members (n, e or crv, x, y)");
    }
    const usable = algorithmsOf(key, keyName);
    if (alg !== undefined && !usable.includes(alg))
      throw keyError(
        keyName,
        `its alg ${JSON.stringify(alg)} does not suit the key`,
        `use one of ${usable.join(", ")}`,
      );
    for (const a of alg === undefined ? usable : [alg]) algorithms.add(a);
  });
  try {
    return { key: createLocalJWKSet(jwks as JSONWebKeySet), algorithms: [...algorithms] };
  } catch (error) {
    throw keyError(name, error instanceof Error ? error.message : String(error), "give a JSON Web Key Set");
  }
}

/** The algorithms a public key can verify, by its type and curve. */
function algorithmsOf(key: KeyObject, name: string): string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return rsaAlgorithms;
    case "rsa-pss":
      return rsaAlgorithms.filter((a) => a.startsWith("PS"));
    case "ed25519":
      return edAlgorithms;
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? "";
      const alg = ecAlgorithmByCurve[curve];
      if (alg !== undefined) return [alg];
      throw keyError(name, `its EC curve ${curve} has no JWS algorithm`, "use P-256, P-384 or P-521");
    }
    default:
      throw keyError(
        name,
        `it is a ${String(key.asymmetricKeyType)} key`,
        "use an RSA, EC (P-256, P-384, P-521) or Ed25519 key",
      );
  }
}

function checkAlgorithms(given: readonly string[] | undefined, usable: readonly string[], where: string): string[] {
  if (given === undefined) return [...usable];
  const name = `${where}.algorithms`;
  if (!Array.isArray(given) || given.length === 0)
    throw optionError(name, given, `expected a non-empty list, such as ${JSON.stringify(usable)}`);
  for (const alg of given) {
    if (typeof alg === "string" && alg.toLowerCase() === "none")
      throw optionError(name, given, "unsigned tokens (none) are never accepted");
    if (typeof alg !== "string" || !knownAlgorithms.has(alg))
      throw optionError(
        name,
        given,
        `${JSON.stringify(alg)} is not a JWS algorithm; known: ${[...knownAlgorithms].join(", ")}`,
      );
    if (!usable.includes(alg))
      throw optionError(name, given, `the key cannot verify ${alg}; it verifies ${usable.join(", ")}`);
  }
  return [...new Set(given)];
}

function checkTolerance(seconds: number | undefined, where: string): number {
  if (seconds === undefined) return 0;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0)
    throw optionError(`${where}.clockToleranceSeconds`, seconds, "expected seconds >= 0, such as 30");
  return seconds;
}

function checkNames(names: string | string[], name: string): string | string[] {
  const list: unknown[] = Array.isArray(names) ? names : [names];
  if (list.length === 0 || list.some((n) => typeof n !== "string" || n === ""))
    throw optionError(name, names, "expected a non-empty string or a non-empty list of them");
  return names;
}

function keyError(name: string, what: string, todo: string): SetupError {
  return new SetupError("TSM_ERR_JWT_KEY", name, what, todo);
}

function optionError(name: string, value: unknown, why: string): SetupError {
  return new SetupError(
    "TSM_ERR_GATEWAY_OPTION",
    name,
    typeof value === "number" ? String(value) : JSON.stringify(value),
    why,
  );
}
