import { UserErrors, type UserServiceHandler } from "../../gen/user/v1/user.micro.js";
import type { Dependencies } from "../dependencies.js";
import { userMessage } from "../user-message.js";
import { userRecordTransportError } from "../user-record-errors.js";

/** rpc user.v1.UserService/GetUser: one user by user_id; USER_NOT_FOUND when there is none. */
export function getUser(deps: Dependencies): UserServiceHandler["getUser"] {
  return async (request) => {
    const user = await deps.users.find(request.userId).catch((error: unknown) => {
      throw userRecordTransportError(error);
    });
    if (!user) throw UserErrors.userNotFound(`no user has user_id ${JSON.stringify(request.userId)}`);
    return userMessage(user);
  };
}
