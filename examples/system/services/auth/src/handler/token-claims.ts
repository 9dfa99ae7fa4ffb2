import { AuthErrors } from "../gen/auth/v1/auth.micro.js";
import { type TokenClaims, TokenExpiredError, TokenInvalidError } from "../domain/service/access-tokens.js";
import type { Dependencies } from "./dependencies.js";

/** A token's claims once it is signed, current and not revoked; the typed auth errors otherwise. */
export async function validClaims(deps: Dependencies, token: string): Promise<TokenClaims> {
  const claims = await claimsOf(deps, token);
  if (await deps.revokedTokens.isRevoked(claims.tokenId)) throw AuthErrors.tokenRevoked("the access token was revoked");
  return claims;
}

/** A token's claims, its expiry and signature checked; TOKEN_EXPIRED or TOKEN_INVALID otherwise. */
export async function claimsOf(deps: Dependencies, token: string): Promise<TokenClaims> {
  try {
    return await deps.tokens.verify(token);
  } catch (error) {
    if (error instanceof TokenExpiredError) throw AuthErrors.tokenExpired(error.message);
    if (error instanceof TokenInvalidError) throw AuthErrors.tokenInvalid(error.message);
    throw error;
  }
}
