import type { UserServiceHandler } from "../../gen/user/v1/user.micro.js";
import type { Dependencies } from "../dependencies.js";
import { userMessage } from "../user-message.js";
import { userRecordTransportError } from "../user-record-errors.js";

/** rpc user.v1.UserService/Register: stores the user, then publishes UserRegistered. */
export function register(deps: Dependencies): UserServiceHandler["register"] {
  return async (request) => {
    const user = await deps.users.register(request.userName, request.pwd).catch((error: unknown) => {
      throw userRecordTransportError(error);
    });
    await deps.events.userRegistered({ userId: user.userId, userName: user.userName });
    return userMessage(user);
  };
}
