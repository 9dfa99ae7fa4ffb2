import type { AuthServiceHandler } from "../../gen/auth/v1/auth.micro.js";
import type { Dependencies } from "../dependencies.js";
import { validClaims } from "../token-claims.js";

/** rpc auth.v1.AuthService/ValidateToken: the claims of a signed, current, unrevoked token. */
export function validateToken(deps: Dependencies): AuthServiceHandler["validateToken"] {
  return (request) => validClaims(deps, request.token);
}
