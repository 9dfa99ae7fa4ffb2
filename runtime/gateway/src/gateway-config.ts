import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { JSONWebKeySet } from "jose";
import { SetupError } from "@tsmicro/runtime";
import { fileReadProblem, jsonMistake } from "@tsmicro/runtime/internal";
import { checkClientLimitSettings } from "./client-limits.js";
import { corsOriginProblem } from "./gateway-cors.js";
import { createJwtVerifier, type JwtOptions } from "./jwt-auth.js";
import { hopCount, parseTrustProxy, proxyList, type TrustProxy, trustProxySyntax } from "./trusted-proxies.js";
import { createRouteRules, type RouteAuth, type RouteRateLimit, type RouteRule } from "./route-rules.js";

/** The gateway's settings from its config file, checked and with the key files it names read. */
export interface GatewayConfig {
  /** Absent when the file has no `jwt` section: then no route can require auth. */
  readonly jwt?: JwtOptions;
  readonly routes: RouteRule[];
  /** Origins allowed by CORS (`https://app.example`, or `*`); absent when the file has no `cors` section. */
  readonly corsOrigins?: string[];
  /** The proxies in front whose `X-Forwarded-For` names the client, as `--trust_proxy` takes them; absent when the file has no `trustProxy`. */
  readonly trustProxy?: TrustProxy;
}

const topKeys = ["jwt", "routes", "cors", "trustProxy"];
const jwtKeys = [
  "secret",
  "publicKeyFile",
  "jwksFile",
  "jwksUrl",
  "issuer",
  "audience",
  "algorithms",
  "clockToleranceSeconds",
];
const routeKeys = ["match", "auth", "rateLimit"];
const rateLimitKeys = ["rate", "burst", "per"];
const corsKeys = ["origins"];

/**
 * Reads the gateway config, a JSON file:
 * `{ "jwt": { "secret" | "publicKeyFile" | "jwksFile" | "jwksUrl", "issuer", "audience", "algorithms",
 * "clockToleranceSeconds" }, "routes": [RouteRule...], "cors": { "origins": [...] }, "trustProxy": … }`.
 * Key files are read relative to the config file. Every mistake throws a SetupError naming the
 * file and the key path (`gateway.json: routes[2].rateLimit.rat is not a known setting ...`),
 * and the JWT keys and route patterns are checked as the gateway will use them.
 */
export async function loadGatewayConfig(path: string): Promise<GatewayConfig> {
  const root = parseJson(await readText(path, `the gateway config ${path}`), path);
  const file: ConfigFile = { path, fail: (message) => new SetupError("TSM_ERR_CONFIG_SETTING", path, message) };
  const top = object(root, "", topKeys, file);
  const routes =
    top.routes === undefined ? [] : array(top.routes, "routes", file).map((r, i) => route(r, `routes[${i}]`, file));
  createRouteRules(routes, {}, `${path}: routes`);
  const corsOrigins = top.cors === undefined ? undefined : cors(top.cors, file);
  const trust = top.trustProxy === undefined ? undefined : trustProxy(top.trustProxy, file);
  const jwt = top.jwt === undefined ? undefined : await jwtOptions(top.jwt, file);
  const needsAuth = routes.findIndex((rule) => rule.auth === true || rule.auth === "optional");
  if (jwt === undefined && needsAuth >= 0)
    throw file.fail(
      `routes[${needsAuth}].auth is ${JSON.stringify(routes[needsAuth]?.auth)} but there is no jwt section to verify tokens with; add one`,
    );
  return {
    routes,
    ...(jwt === undefined ? {} : { jwt }),
    ...(corsOrigins === undefined ? {} : { corsOrigins }),
    ...(trust === undefined ? {} : { trustProxy: trust }),
  };
}

interface ConfigFile {
  readonly path: string;
  /** A TSM_ERR_CONFIG_SETTING error, the message prefixed with the file. */
  readonly fail: (message: string) => SetupError;
}

async function jwtOptions(value: unknown, file: ConfigFile): Promise<JwtOptions> {
  const section = object(value, "jwt", jwtKeys, file);
  const sources = ["secret", "publicKeyFile", "jwksFile", "jwksUrl"].filter((key) => section[key] !== undefined);
  if (sources.length !== 1)
    throw new SetupError(
      "TSM_ERR_JWT_KEY_SOURCE",
      `${file.path}: jwt`,
      sources.length === 0 ? "no key to verify tokens with" : `${sources.join(" and ")} are both set`,
      "secret (an HMAC shared secret), publicKeyFile (a PEM public key or certificate), jwksFile (a JSON Web Key Set) or jwksUrl (an identity provider's, by URL)",
    );
  const options: { -readonly [K in keyof JwtOptions]: JwtOptions[K] } = {};
  if (section.secret !== undefined) options.secret = string(section.secret, "jwt.secret", file);
  if (section.publicKeyFile !== undefined) {
    const keyFile = keyPath(section.publicKeyFile, "jwt.publicKeyFile", file);
    options.publicKey = await readText(keyFile, `${keyFile} (${file.path}: jwt.publicKeyFile)`);
  }
  if (section.jwksFile !== undefined) {
    const keyFile = keyPath(section.jwksFile, "jwt.jwksFile", file);
    const text = await readText(keyFile, `${keyFile} (${file.path}: jwt.jwksFile)`);
    options.jwks = parseJson(text, keyFile) as JSONWebKeySet;
  }
  if (section.jwksUrl !== undefined) options.jwksUrl = string(section.jwksUrl, "jwt.jwksUrl", file);
  if (section.issuer !== undefined) options.issuer = stringOrStrings(section.issuer, "jwt.issuer", file);
  if (section.audience !== undefined) options.audience = stringOrStrings(section.audience, "jwt.audience", file);
  if (section.algorithms !== undefined)
    options.algorithms = array(section.algorithms, "jwt.algorithms", file).map((a, i) =>
      string(a, `jwt.algorithms[${i}]`, file),
    );
  if (section.clockToleranceSeconds !== undefined)
    options.clockToleranceSeconds = number(section.clockToleranceSeconds, "jwt.clockToleranceSeconds", file);
  createJwtVerifier(options, `${file.path}: jwt`);
  return options;
}

/** A key file's path, relative to the config file's folder. */
function keyPath(value: unknown, at: string, file: ConfigFile): string {
  const name = string(value, at, file);
  if (name === "") throw file.fail(`${at} is empty; give the key file's path, relative to this file`);
  return resolve(dirname(file.path), name);
}

function route(value: unknown, at: string, file: ConfigFile): RouteRule {
  const entry = object(value, at, routeKeys, file);
  if (entry.match === undefined)
    throw file.fail(`${at}.match is missing; say which routes the rule is for, such as "pkg.Service.*"`);
  const rule: { -readonly [K in keyof RouteRule]: RouteRule[K] } = { match: string(entry.match, `${at}.match`, file) };
  if (entry.auth !== undefined) rule.auth = routeAuth(entry.auth, `${at}.auth`, file);
  if (entry.rateLimit !== undefined) rule.rateLimit = rateLimit(entry.rateLimit, `${at}.rateLimit`, file);
  return rule;
}

function rateLimit(value: unknown, at: string, file: ConfigFile): RouteRateLimit {
  const entry = object(value, at, rateLimitKeys, file);
  if (entry.rate === undefined) throw file.fail(`${at}.rate is missing; give calls per second, such as 10`);
  const limit: { -readonly [K in keyof RouteRateLimit]: RouteRateLimit[K] } = {
    rate: number(entry.rate, `${at}.rate`, file),
  };
  if (entry.burst !== undefined) limit.burst = number(entry.burst, `${at}.burst`, file);
  if (entry.per !== undefined) limit.per = string(entry.per, `${at}.per`, file) as RouteRateLimit["per"];
  // JSON has no Infinity, with which code lifts a limit: a rule without rateLimit sets none.
  checkClientLimitSettings(
    limit,
    `${file.path}: ${at}`,
    "; for no limit, leave rateLimit out of this rule and of the earlier rules that match its routes",
  );
  return limit;
}

function cors(value: unknown, file: ConfigFile): string[] {
  const section = object(value, "cors", corsKeys, file);
  if (section.origins === undefined) return [];
  return array(section.origins, "cors.origins", file).map((entry, i) => {
    const at = `cors.origins[${i}]`;
    const origin = string(entry, at, file);
    const problem = corsOriginProblem(origin);
    if (problem !== undefined) throw file.fail(`${at} ${problem}`);
    return origin;
  });
}

/** `trustProxy`: true, false, a number of proxies, or their addresses and ranges (a list, or one comma-separated string as the flag takes). */
function trustProxy(value: unknown, file: ConfigFile): TrustProxy {
  try {
    if (typeof value === "boolean") return value;
    if (typeof value === "number") return hopCount(value);
    if (typeof value === "string") return parseTrustProxy(value);
    if (Array.isArray(value)) return proxyList(value.map((entry, i) => string(entry, `trustProxy[${i}]`, file)));
  } catch (error) {
    if (error instanceof SetupError) throw error;
    throw file.fail(`trustProxy: ${(error as Error).message}; expected ${trustProxySyntax}`);
  }
  throw file.fail(`trustProxy must be true, false, a number or a list of addresses, not ${describeValue(value)}`);
}

// Value checks: each names the key path, what was expected and what was found.

function object(value: unknown, at: string, known: readonly string[], file: ConfigFile): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw file.fail(`${at === "" ? "the config" : at} must be an object, not ${describeValue(value)}`);
  const entries = value as Record<string, unknown>;
  for (const key of Object.keys(entries))
    if (!known.includes(key))
      throw file.fail(`${at === "" ? key : `${at}.${key}`} is not a known setting (${known.join(", ")})`);
  return entries;
}

function array(value: unknown, at: string, file: ConfigFile): unknown[] {
  if (!Array.isArray(value)) throw file.fail(`${at} must be an array, not ${describeValue(value)}`);
  return value;
}

function string(value: unknown, at: string, file: ConfigFile): string {
  if (typeof value !== "string") throw file.fail(`${at} must be a string, not ${describeValue(value)}`);
  return value;
}

function stringOrStrings(value: unknown, at: string, file: ConfigFile): string | string[] {
  if (Array.isArray(value)) return value.map((entry, i) => string(entry, `${at}[${i}]`, file));
  if (typeof value !== "string")
    throw file.fail(`${at} must be a string or an array of strings, not ${describeValue(value)}`);
  return value;
}

function number(value: unknown, at: string, file: ConfigFile): number {
  if (typeof value !== "number") throw file.fail(`${at} must be a number, not ${describeValue(value)}`);
  return value;
}

function routeAuth(value: unknown, at: string, file: ConfigFile): RouteAuth {
  if (typeof value !== "boolean" && value !== "optional")
    throw file.fail(`${at} must be true, false or "optional", not ${describeValue(value)}`);
  return value;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const json = JSON.stringify(value);
  const shown = json.length > 40 ? `${json.slice(0, 37)}...` : json;
  return `${typeof value === "string" ? "the string" : `the ${typeof value}`} ${shown}`;
}

// Files and JSON.

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new SetupError("TSM_ERR_CONFIG_FILE", what, fileReadProblem(error));
  }
}

/** Parses JSON; on a mistake throws TSM_ERR_CONFIG_JSON with `file:line:column` and what is wrong there. */
function parseJson(text: string, path: string): unknown {
  const json = text.startsWith("\uFEFF") ? text.slice(1) : text;
  try {
    return JSON.parse(json);
  } catch (error) {
    const { line, column, reason } = jsonMistake(json, "the file", error);
    throw new SetupError("TSM_ERR_CONFIG_JSON", `${path}:${line}:${column}`, reason);
  }
}
