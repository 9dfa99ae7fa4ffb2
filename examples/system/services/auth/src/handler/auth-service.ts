import type { AuthServiceHandler } from "../gen/auth/v1/auth.micro.js";
import type { Dependencies } from "./dependencies.js";
import { makeAccessToken } from "./auth-service/make-access-token.js";
import { validateToken } from "./auth-service/validate-token.js";
import { revokeToken } from "./auth-service/revoke-token.js";

/**
 * The AuthService handler: one function per rpc, each in its own file in
 * src/handler/auth-service/. When the proto gains an rpc, `npm run generate`
 * writes its file there and the type checker asks for it here.
 */
export function createAuthServiceHandler(deps: Dependencies): AuthServiceHandler {
  return {
    makeAccessToken: makeAccessToken(deps),
    validateToken: validateToken(deps),
    revokeToken: revokeToken(deps),
  };
}
