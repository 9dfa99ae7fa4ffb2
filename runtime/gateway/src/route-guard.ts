import type { IncomingHttpHeaders } from "node:http";
import { Code, TsmicroError } from "@tsmicro/runtime";
import { errorReasonDetail } from "@tsmicro/runtime/internal";
import { createClientLimiter, type ClientLimiter } from "./client-limits.js";
import { createJwtVerifier, type JwtClaims, type JwtOptions, type JwtVerifier } from "./jwt-auth.js";
import { bearerChallenge } from "./http-mapping.js";
import {
  createRouteRules,
  type RouteRule,
  type RuleBinding,
  type RuleOperation,
  type TokenUse,
} from "./route-rules.js";

/** What the guard reads of a request: a fastify request is one, and so is a WebSocket upgrade's as the web proxy sees it. */
export interface GuardedRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The client's address, which a per-client limit without a token's subject counts under. */
  readonly ip: string;
}

/** Where the guard sets the headers of a refusal (`WWW-Authenticate`, `Retry-After`): a fastify reply, or a list of its own. */
export interface GuardedReply {
  header(name: string, value: string): unknown;
}

/** What guards the gateway's routes: JWT where a rule asks for it, then the rule's rate limit. */
export interface RouteGuard {
  /** No rules: every request is admitted without claims, so callers may skip `admit`. */
  readonly open: boolean;
  /**
   * Admits a request to `rpc` or throws: UNAUTHENTICATED (401, with a `WWW-Authenticate` bearer
   * challenge) for a missing or bad token where the route needs one, RESOURCE_EXHAUSTED (429,
   * with `Retry-After`) over a rate limit. The rules of the request's RPC and own path apply, and
   * those of the method's other bindings as `elsewhere` renders them (see otherBindings), merged in
   * order (see RouteRules.resolve): the last that sets auth, or a limit, decides it on every way
   * in. Resolves to the verified claims, if a token was checked.
   * `rpc` is "" for a request no RPC serves (one the web proxy passes on): path rules and the
   * pattern `*` apply to it, and a limit counts every path the rule matches in one budget.
   */
  admit(
    rpc: string,
    request: GuardedRequest,
    reply: GuardedReply,
    elsewhere?: readonly RuleBinding[],
  ): Promise<JwtClaims | undefined>;
  /**
   * Whether requests to a documented operation need a bearer token, may send one, or send none that
   * is looked at (see RouteRules.resolveOperation), by its own rules and those of its method's other
   * bindings as its requests fill them (`elsewhere`), merged as admit merges them.
   */
  tokenUse(operation: RuleOperation, elsewhere?: readonly RuleBinding[]): TokenUse;
  /** The RPC patterns of the rules that match none of `rpcs` (see RouteRules.rpcPatternsMatchingNone). */
  rpcPatternsMatchingNone(rpcs: readonly string[]): readonly string[];
  /** Whether requests to a documented operation are rate-limited, so may be answered 429 (as tokenUse). */
  rateLimited(operation: RuleOperation, elsewhere?: readonly RuleBinding[]): boolean;
}

/** Options of createRouteGuard. */
export interface RouteGuardOptions {
  readonly routes: readonly RouteRule[];
  readonly jwt: JwtOptions | undefined;
}

/** The `google.rpc.ErrorInfo` of a request refused by a gateway rate limit. */
export const gatewayRateLimitedReason = { domain: "tsmicro.gateway", reason: "RATE_LIMITED" } as const;

/**
 * Builds the guard from route rules. A rule's limit is per client (the token's subject, else the
 * client's address) or shared by the route; each RPC has its own buckets within a rule.
 */
export function createRouteGuard(options: RouteGuardOptions): RouteGuard {
  const rules = createRouteRules(options.routes);
  const verifier: JwtVerifier | undefined = options.jwt ? createJwtVerifier(options.jwt) : undefined;
  const limiters = new Map<string, ClientLimiter>(
    rules.rateLimits.map((limit) => [limit.id, createClientLimiter({ rate: limit.rate, burst: limit.burst })]),
  );
  const open = options.routes.length === 0;

  return {
    open,
    async admit(rpc, request, reply, elsewhere = []) {
      if (open) return undefined;
      const path = request.url.split("?", 1)[0] ?? "/";
      const { auth, rateLimit } = rules.resolve({ rpc, method: request.method, path }, elsewhere);
      let claims: JwtClaims | undefined;
      const authorization = request.headers.authorization;
      // A token is checked where a rule needs one, and where one is optional and the request sends one.
      if (auth === true || (auth === "optional" && authorization !== undefined)) {
        try {
          if (!verifier)
            throw new TsmicroError(Code.UNAUTHENTICATED, "this route checks tokens, but no JWT key is set");
          claims = await verifier.verify(authorization);
        } catch (error) {
          // A token that could not be checked (the key set out of reach) is no fault of the client's: no challenge.
          if (!(error instanceof TsmicroError) || error.code === Code.UNAUTHENTICATED)
            void reply.header("www-authenticate", challengeFor(authorization, error));
          throw error;
        }
      }
      if (rateLimit) {
        const client = rateLimit.per === "client" ? (claims?.sub ?? request.ip) : "";
        const result = limiters.get(rateLimit.id)?.take(rpc, client);
        if (result && !result.ok) {
          void reply.header("retry-after", String(result.retryAfterSeconds));
          throw new TsmicroError(
            Code.RESOURCE_EXHAUSTED,
            `too many requests to ${rpc || `${request.method} ${path}`}; retry after ${result.retryAfterSeconds} s`,
            {
              details: [
                errorReasonDetail(gatewayRateLimitedReason.reason, gatewayRateLimitedReason.domain, {
                  retryAfterSeconds: String(result.retryAfterSeconds),
                }),
              ],
            },
          );
        }
      }
      return claims;
    },
    tokenUse(operation, elsewhere = []) {
      if (open) return "none";
      const { auth } = rules.resolveOperation(operation, elsewhere);
      return auth === true ? "required" : auth === "optional" ? "optional" : "none";
    },
    rpcPatternsMatchingNone: (rpcs) => rules.rpcPatternsMatchingNone(rpcs),
    rateLimited(operation, elsewhere = []) {
      return !open && rules.resolveOperation(operation, elsewhere).rateLimit !== undefined;
    },
  };
}

/**
 * The RFC 6750 challenge for a refused request: the bare challenge when it carried no bearer
 * token, `error="invalid_token"` with the reason when its token failed verification.
 */
function challengeFor(authorization: string | undefined, error: unknown): string {
  if (!/^bearer[ \t]+\S/i.test(authorization?.trim() ?? "") || !(error instanceof TsmicroError)) return bearerChallenge;
  // error_description takes printable ASCII without '"' and '\\' (RFC 6750 section 3).
  const description = error.message.replace(/[^\x20-\x7e]|["\\]/g, "'");
  return `${bearerChallenge}, error="invalid_token", error_description="${description}"`;
}
