import { AuthErrors, type AuthServiceHandler } from "../../gen/auth/v1/auth.micro.js";
import type { Dependencies } from "../dependencies.js";

/** rpc auth.v1.AuthService/MakeAccessToken: a token for the user, lasting auth.jwt.ttl seconds. */
export function makeAccessToken(deps: Dependencies): AuthServiceHandler["makeAccessToken"] {
  return async (request) => {
    if (request.userId === "") throw AuthErrors.userMissing("user_id is required");
    return deps.tokens.make(request.userId, request.userName);
  };
}
