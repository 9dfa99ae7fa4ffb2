import type { Metadata } from "./call.js";

/** The gRPC metadata keys `tsmicro api` sets for the claims of a bearer token it verified. */
export const claimsMetadataKeys = { subject: "x-jwt-sub", claims: "x-jwt-claims" } as const;

/** Who called, as the gateway's verified token says. */
export interface GatewayClaims {
  /** The token's `sub` claim, when it has one. */
  readonly subject: string | undefined;
  /** Every claim of the token (`sub`, `iss`, `exp`, your own such as `role`). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * The claims of the bearer token the gateway (`tsmicro api`) verified for this call, read from
 * the `x-jwt-claims` metadata it forwards; undefined when the call carries none: no route rule
 * asked for a token, an `"optional"` route was called without one, or the caller did not come
 * through a gateway. Pass the handler's CallContext. The gateway drops these keys from what
 * its clients send, but a caller that reaches the service directly can set them: trust them
 * where the service is reachable only through the gateway (and services that call it on).
 */
export function gatewayClaims(context: { readonly metadata: Metadata }): GatewayClaims | undefined {
  const text = context.metadata[claimsMetadataKeys.claims];
  if (typeof text !== "string") return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) return undefined;
  const { sub } = claims as { sub?: unknown };
  return { subject: typeof sub === "string" ? sub : undefined, claims: claims as Record<string, unknown> };
}
