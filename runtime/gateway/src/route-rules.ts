import { SetupError } from "@tsmicro/runtime";
import { defaultBurst } from "@tsmicro/runtime/internal";
import { checkClientLimitSettings } from "./client-limits.js";

/** Whose budget a rate limit counts: each client's on each route, or the route's, shared by all clients. */
export type RateLimitScope = "client" | "route";

/** A rule's rate limit; `rate: Infinity` lifts a limit an earlier rule set. */
export interface RouteRateLimit {
  /** Calls per second, sustained (fractions allowed). */
  readonly rate: number;
  /** Calls let through at once; default: the rate rounded up, at least 1. */
  readonly burst?: number;
  /** Default `client`. */
  readonly per?: RateLimitScope;
}

/**
 * Whether a request needs a valid JWT: `true` needs one; `"optional"` verifies one when the
 * request sends it (a bad one is refused as with `true`) and forwards its claims, and lets a
 * request without one through with none; `false` looks at no token.
 */
export type RouteAuth = boolean | "optional";

/** How an operation's requests use a bearer token: needed, checked when sent, or not looked at. */
export type TokenUse = "required" | "optional" | "none";

/**
 * Auth and rate limits for the routes `match` selects: a full RPC name (`pkg.Service.Method`), a
 * glob on it where `*` is any run of characters (`pkg.Service.*`, `pkg.*`, `*`), or an HTTP
 * pattern (`GET /v1/books/*`, `* /v1/admin/**`) where `*` is one path segment and `**` any number
 * (a variable written as routes are, `{id}`, is `*`, and `{path=**}` is `**`).
 */
export interface RouteRule {
  readonly match: string;
  /** Whether a request needs a valid JWT (see RouteAuth). */
  readonly auth?: RouteAuth;
  readonly rateLimit?: RouteRateLimit;
}

/** Settings for requests no rule sets them for. */
export interface RouteRuleDefaults {
  /** Default false. */
  readonly auth?: RouteAuth;
}

/** What rules match on: the RPC the request is routed to and its HTTP method and path. */
export interface RuleRequest {
  /** The full RPC name, `pkg.Service.Method` (a gRPC path `/pkg.Service/Method` is accepted); "" when none. */
  readonly rpc: string;
  readonly method: string;
  /** The raw request path; a query string is ignored. */
  readonly path: string;
}

/** A request as one of its method's `google.api.http` bindings would carry it: what route rules on that path see. */
export interface RuleBinding {
  /** The full RPC name, `pkg.Service.Method`. */
  readonly rpc: string;
  readonly method: string;
  /** The binding's path filled from the request, as decoded segments; undefined where only a wildcard matches. */
  readonly segments: readonly (string | undefined)[];
}

/** A rate limit ready for a limiter: one limiter per `id`. */
export interface RuleRateLimit {
  /** The rule that set it, `routes[i]` by its index, whatever `where` says: stable for a given rule list. */
  readonly id: string;
  readonly rate: number;
  readonly burst: number;
  readonly per: RateLimitScope;
}

/** The settings of one request, merged over every rule that matches it. */
export interface ResolvedRule {
  readonly auth: RouteAuth;
  /** Undefined when no rule limits the request (or the last limit set is `rate: Infinity`). */
  readonly rateLimit: RuleRateLimit | undefined;
  /** The indexes of the rules that matched, in order. */
  readonly matched: readonly number[];
}

/** An operation of an OpenAPI document, for RouteRules.resolveOperation. */
export interface RuleOperation {
  /** The full RPC name, `pkg.Service.Method`. */
  readonly rpc: string;
  readonly method: string;
  /** The OpenAPI path as the gateway serves it (prefix included), such as `/v1/shelves/{shelf}`. */
  readonly path: string;
}

/** Resolves a request's auth and rate limit from the gateway's route rules. */
export interface RouteRules {
  /**
   * Merges every rule that matches the request, or the request as another of its method's
   * bindings would carry it (`elsewhere`), in order: a later rule's setting wins over an earlier
   * one's, whichever way in matched it, so one setting holds on every way to the method. A rule
   * for GET holds for HEAD, which the GET route serves.
   */
  resolve(request: RuleRequest, elsewhere?: readonly RuleBinding[]): ResolvedRule;
  /** As resolve, for the request as one of its method's bindings would carry it. */
  resolveBinding(binding: RuleBinding): ResolvedRule;
  /**
   * The settings of the requests to an operation, for its documentation, as resolve merges them.
   * A path segment holding a parameter is matched by a pattern's wildcards only, never by a
   * literal (which would select some values of the parameter, not the operation).
   */
  resolveOperation(operation: RuleOperation, elsewhere?: readonly RuleBinding[]): ResolvedRule;
  /** Every rule's rate limit, so a gateway can make its limiters up front (`rate: Infinity` ones excluded). */
  readonly rateLimits: readonly RuleRateLimit[];
  /** The RPC patterns of the rules that match none of `rpcs` (`pkg.Service.Method`): misspelt, most likely. */
  rpcPatternsMatchingNone(rpcs: readonly string[]): readonly string[];
}

interface CompiledRule {
  readonly index: number;
  readonly matches: (request: RuleSubject) => boolean;
  /** The pattern, when it names RPCs rather than HTTP paths. */
  readonly rpcPattern: string | undefined;
  readonly auth: RouteAuth | undefined;
  /** Null when the rule lifts the limit; undefined when it says nothing. */
  readonly rateLimit: RuleRateLimit | null | undefined;
}

/** What a compiled rule matches on: the path as decoded segments, undefined where only a wildcard matches. */
interface RuleSubject {
  readonly rpc: string;
  readonly method: string;
  /** Undefined when the path does not start with "/". */
  readonly segments: readonly (string | undefined)[] | undefined;
}

const scopes: readonly string[] = ["client", "route"] satisfies RateLimitScope[];

/**
 * Compiles route rules. Patterns and settings are checked here, so a mistake throws a SetupError
 * naming the rule (`routes[2]`; `where` replaces `routes`, such as `gateway.json: routes`).
 * RPC patterns match the RPC the router chose; HTTP patterns match the decoded path segments as
 * the router does, so `/v1/%61dmin` is `/v1/admin` to both.
 */
export function createRouteRules(
  rules: readonly RouteRule[],
  defaults: RouteRuleDefaults = {},
  where = "routes",
): RouteRules {
  const compiled = rules.map((rule, index) => compileRule(rule, `${where}[${index}]`, index));
  const defaultAuth = defaults.auth ?? false;
  // A rule applies when it matches any of the ways the request is seen: its own, its method's other bindings.
  function resolveSubjects(subjects: readonly RuleSubject[]): ResolvedRule {
    let auth = defaultAuth;
    let rateLimit: RuleRateLimit | undefined;
    const matched: number[] = [];
    for (const rule of compiled) {
      if (!subjects.some(rule.matches)) continue;
      matched.push(rule.index);
      if (rule.auth !== undefined) auth = rule.auth;
      if (rule.rateLimit !== undefined) rateLimit = rule.rateLimit ?? undefined;
    }
    return { auth, rateLimit, matched };
  }
  return {
    rateLimits: compiled.flatMap((rule) => (rule.rateLimit ? [rule.rateLimit] : [])),
    resolve(request, elsewhere = []) {
      const raw = request.path.split("?", 1)[0] ?? "";
      const segments = raw.startsWith("/") ? pathSegments(raw).map(decodeSegment) : undefined;
      return resolveSubjects([{ rpc: request.rpc, method: request.method, segments }, ...elsewhere]);
    },
    resolveBinding: (binding) => resolveSubjects([binding]),
    rpcPatternsMatchingNone(rpcs) {
      return compiled.flatMap(({ rpcPattern, matches }) =>
        rpcPattern !== undefined && !rpcs.some((rpc) => matches({ rpc, method: "", segments: undefined }))
          ? [rpcPattern]
          : [],
      );
    },
    resolveOperation(operation, elsewhere = []) {
      const segments = pathSegments(operation.path).map((s) => (s.includes("{") ? undefined : decodeSegment(s)));
      return resolveSubjects([{ rpc: operation.rpc, method: operation.method, segments }, ...elsewhere]);
    },
  };
}

function pathSegments(path: string): string[] {
  return path === "/" ? [] : path.slice(1).split("/");
}

function compileRule(rule: RouteRule, where: string, index: number): CompiledRule {
  if (typeof rule.match !== "string")
    throw new SetupError("TSM_ERR_ROUTE_PATTERN", where, shown(rule.match), "match must be a string");
  const matches = compilePattern(rule.match, where);
  if (rule.auth !== undefined && typeof rule.auth !== "boolean" && rule.auth !== "optional")
    throw new SetupError(
      "TSM_ERR_GATEWAY_OPTION",
      `${where}.auth`,
      shown(rule.auth),
      'expected true (a token is needed), false or "optional" (a token is checked when sent)',
    );
  const rpcPattern = rule.match.trim().split(/\s+/).length === 1 ? rule.match.trim() : undefined;
  return {
    index,
    matches,
    rpcPattern,
    auth: rule.auth,
    rateLimit: compileRateLimit(rule.rateLimit, `routes[${index}]`, where),
  };
}

function compileRateLimit(
  limit: RouteRateLimit | undefined,
  id: string,
  rule: string,
): RuleRateLimit | null | undefined {
  if (limit === undefined) return undefined;
  const where = `${rule}.rateLimit`;
  checkClientLimitSettings(limit, where);
  const per = limit.per ?? "client";
  if (!scopes.includes(per))
    throw new SetupError(
      "TSM_ERR_GATEWAY_OPTION",
      `${where}.per`,
      shown(per),
      'expected "client" (a budget per client) or "route" (one budget shared by all clients)',
    );
  if (limit.rate === Infinity) return null;
  return { id, rate: limit.rate, burst: limit.burst ?? defaultBurst(limit.rate), per };
}

/** Compiles one `match` pattern, or throws TSM_ERR_ROUTE_PATTERN saying what is wrong. */
function compilePattern(pattern: string, where: string): (request: RuleSubject) => boolean {
  const fail = (reason: string): never => {
    throw new SetupError("TSM_ERR_ROUTE_PATTERN", where, JSON.stringify(pattern), reason);
  };
  const parts = pattern.trim().split(/\s+/);
  if (parts.length === 2) return compileHttpPattern(parts[0] as string, parts[1] as string, fail);
  if (parts.length > 2)
    fail("an HTTP pattern is a method (or *) and a path, such as GET /v1/books/*; paths have no spaces");
  return compileRpcPattern(pattern.trim(), fail);
}

function compileRpcPattern(pattern: string, fail: (reason: string) => never): (request: RuleSubject) => boolean {
  if (pattern === "") fail("the pattern is empty; match every route with *");
  if (pattern.startsWith("/"))
    fail(`an HTTP pattern starts with its method, or * for any: "* ${pattern}" or "GET ${pattern}"`);
  if (!/^[A-Za-z0-9_.*]+$/.test(pattern))
    fail(
      "an RPC pattern has letters, digits, _, . and the wildcard * only, such as pkg.Service.Method or pkg.Service.*",
    );
  if (pattern.includes("**")) fail("in an RPC pattern * already spans dots; write * instead of **");
  if (pattern.split(".").some((part) => part === "")) fail("a . must sit between two names, as in pkg.Service.Method");
  if (!pattern.includes("*") && !pattern.includes("."))
    fail("an RPC name has its service and method, such as pkg.Service.Method; an HTTP pattern is METHOD /path");
  const regex = new RegExp(`^${pattern.replaceAll(".", "\\.").replaceAll("*", ".*")}$`);
  return (request) => regex.test(rpcName(request.rpc));
}

/** `/pkg.Service/Method` -> `pkg.Service.Method`; a dotted name stays as it is. */
function rpcName(rpc: string): string {
  return rpc.startsWith("/") ? rpc.slice(1).replace("/", ".") : rpc;
}

type PathGlob = readonly (string | { readonly wildcard: "*" | "**" })[];

function compileHttpPattern(
  method: string,
  path: string,
  fail: (reason: string) => never,
): (request: RuleSubject) => boolean {
  if (method !== "*" && !/^[A-Za-z]+$/.test(method))
    fail(`${JSON.stringify(method)} is not an HTTP method; write GET, POST, ... or * for any`);
  const wantMethod = method.toUpperCase();
  if (!path.startsWith("/")) fail('the path must start with "/"');
  if (/[?#]/.test(path)) fail("a pattern matches the path only; drop the ? query or # fragment");
  const glob: PathGlob =
    path === "/"
      ? []
      : path
          .slice(1)
          .split("/")
          .map((segment) => {
            if (segment === "") fail("empty segment: a pattern has no // and no trailing / (use /** for any depth)");
            if (segment === "*" || segment === "**") return { wildcard: segment };
            // A route as `tsmicro routes` and the OpenAPI document write it: its variables are wildcards.
            const variable = /^\{[A-Za-z_][A-Za-z0-9_.]*(?:=(\*\*?))?\}$/.exec(segment);
            if (variable) return { wildcard: variable[1] === "**" ? "**" : "*" };
            if (segment.includes("{") || segment.includes("}"))
              fail(
                `segment ${JSON.stringify(segment)}: a path variable is one segment, {name} or *, and {name=**} or ** any number; ` +
                  "write a template such as {name=shelves/*} as shelves/*, and a custom verb's path with * (/v1/books/*)",
              );
            if (segment.includes("*")) fail(`segment ${JSON.stringify(segment)}: a wildcard is * or ** alone`);
            const decoded = decodeSegment(segment);
            if (decoded === undefined) fail(`segment ${JSON.stringify(segment)}: a % must start an escape such as %2F`);
            return decoded;
          });
  return (request) => {
    if (wantMethod !== "*" && !sameMethod(request.method.toUpperCase(), wantMethod)) return false;
    return request.segments !== undefined && matchGlob(glob, request.segments);
  };
}

/** Whether a request's method is the pattern's: HEAD is served by the GET route, so a GET rule holds for it. */
function sameMethod(method: string, want: string): boolean {
  return method === want || (method === "HEAD" && want === "GET");
}

/**
 * Matches decoded path segments (undefined: not decodable, so only a wildcard takes it) against
 * the glob. Greedy with backtracking to the last `**` only, so it takes O(glob x path) steps
 * however many `**` a pattern has.
 */
function matchGlob(glob: PathGlob, segments: readonly (string | undefined)[]): boolean {
  let g = 0;
  let s = 0;
  let lastDeep = -1;
  let resumeAt = 0;
  while (s < segments.length) {
    const want = glob[g];
    if (isDeep(want)) {
      lastDeep = g++;
      resumeAt = s;
    } else if (want !== undefined && (typeof want === "object" || want === segments[s])) {
      g++;
      s++;
    } else if (lastDeep >= 0) {
      g = lastDeep + 1;
      s = ++resumeAt;
    } else {
      return false;
    }
  }
  while (g < glob.length && isDeep(glob[g])) g++;
  return g === glob.length;
}

function isDeep(segment: PathGlob[number] | undefined): boolean {
  return typeof segment === "object" && segment.wildcard === "**";
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** A value as a message shows it: numbers as written (NaN, Infinity), the rest as JSON. */
function shown(value: unknown): string {
  return typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value));
}
