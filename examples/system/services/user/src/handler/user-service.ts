import type { UserServiceHandler } from "../gen/user/v1/user.micro.js";
import type { Dependencies } from "./dependencies.js";
import { register } from "./user-service/register.js";
import { checkPassword } from "./user-service/check-password.js";
import { getUser } from "./user-service/get-user.js";

/**
 * The UserService handler: one function per rpc, each in its own file in
 * src/handler/user-service/. When the proto gains an rpc, `npm run generate`
 * writes its file there and the type checker asks for it here.
 */
export function createUserServiceHandler(deps: Dependencies): UserServiceHandler {
  return {
    register: register(deps),
    checkPassword: checkPassword(deps),
    getUser: getUser(deps),
  };
}
