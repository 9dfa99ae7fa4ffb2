import type { FastifyReply, FastifyRequest } from "fastify";
import { Code, TsmicroError } from "@tsmicro/runtime";
import { errorReasonDetail } from "@tsmicro/runtime/internal";
import { createClientLimiter, type ClientLimiter } from "./client-limits.js";
import { createJwtVerifier, type JwtClaims, type JwtOptions, type JwtVerifier } from "./jwt-auth.js";
import { bearerChallenge } from "./http-mapping.js";
import { createRouteRules, type RouteRule, type RuleOperation } from "./route-rules.js";

/** What guards the gateway's routes: JWT where a rule asks for it, then the rule's rate limit. */
export interface RouteGuard {
  /** No rules: every request is admitted without claims, so callers may skip `admit`. */
  readonly open: boolean;
  /**
   * Admits a request to `rpc` or throws: UNAUTHENTICATED (401, with a `WWW-Authenticate` bearer
   * challenge) for a missing or bad token where the route needs one, RESOURCE_EXHAUSTED (429,
   * with `Retry-After`) over a rate limit. Resolves
   * to the verified claims, if the route needed a token.
   */
  admit(rpc: string, request: FastifyRequest, reply: FastifyReply): Promise<JwtClaims | undefined>;
  /** Whether requests to a documented operation need a bearer token (see RouteRules.resolveOperation). */
  needsToken(operation: RuleOperation): boolean;
  /** Whether requests to a documented operation are rate-limited, so may be answered 429. */
  rateLimited(operation: RuleOperation): boolean;
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
    async admit(rpc, request, reply) {
      if (open) return undefined;
      const path = request.url.split("?", 1)[0] ?? "/";
      const rule = rules.resolve({ rpc, method: request.method, path });
      let claims: JwtClaims | undefined;
      if (rule.auth) {
        const authorization = request.headers.authorization;
        try {
          if (!verifier)
            throw new TsmicroError(Code.UNAUTHENTICATED, "this route needs a token, but no JWT key is set");
          claims = await verifier.verify(authorization);
        } catch (error) {
          void reply.header("www-authenticate", challengeFor(authorization, error));
          throw error;
        }
      }
      const limit = rule.rateLimit;
      if (limit) {
        const client = limit.per === "client" ? (claims?.sub ?? request.ip) : "";
        const result = limiters.get(limit.id)?.take(rpc, client);
        if (result && !result.ok) {
          void reply.header("retry-after", String(result.retryAfterSeconds));
          throw new TsmicroError(
            Code.RESOURCE_EXHAUSTED,
            `too many requests to ${rpc}; retry after ${result.retryAfterSeconds} s`,
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
    needsToken(operation) {
      return !open && rules.resolveOperation(operation).auth;
    },
    rateLimited(operation) {
      return !open && rules.resolveOperation(operation).rateLimit !== undefined;
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
