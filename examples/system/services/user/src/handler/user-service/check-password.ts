import type { UserServiceHandler } from "../../gen/user/v1/user.micro.js";
import type { Dependencies } from "../dependencies.js";
import { userMessage } from "../user-message.js";
import { userRecordTransportError } from "../user-record-errors.js";

/** rpc user.v1.UserService/CheckPassword: the user when name and password match; WRONG_PASSWORD otherwise. */
export function checkPassword(deps: Dependencies): UserServiceHandler["checkPassword"] {
  return async (request) => {
    try {
      return userMessage(await deps.users.checkPassword(request.userName, request.pwd));
    } catch (error) {
      throw userRecordTransportError(error);
    }
  };
}
