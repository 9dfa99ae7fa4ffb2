import type { AuthServiceHandler } from "../../gen/auth/v1/auth.micro.js";
import type { Dependencies } from "../dependencies.js";
import { claimsOf } from "../token-claims.js";

/** rpc auth.v1.AuthService/RevokeToken: the token stops being valid now, not at its expiry. */
export function revokeToken(deps: Dependencies): AuthServiceHandler["revokeToken"] {
  return async (request) => {
    const claims = await claimsOf(deps, request.token);
    await deps.revokedTokens.revoke(claims.tokenId, claims.expiresAt);
    return {};
  };
}
