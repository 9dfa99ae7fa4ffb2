import { Code, TsmicroError } from "@tsmicro/runtime";
import {
  InvalidUserRecordError,
  UserRecordAlreadyExistsError,
  UserRecordReferenceError,
} from "../domain/model/user-record.js";
import { WrongPasswordError } from "../domain/service/user-record-data-service.js";
import { UserErrors } from "../gen/user/v1/user.micro.js";

/**
 * The user domain's errors as the proto's typed errors, which callers check
 * with isWrongPassword(error) and the like, any number of hops away;
 * anything else passes on and answers INTERNAL (logged with its stack, never
 * sent to the caller).
 */
export function userRecordTransportError(error: unknown): unknown {
  if (error instanceof WrongPasswordError) return UserErrors.wrongPassword(error.message);
  if (error instanceof UserRecordAlreadyExistsError) return UserErrors.userNameTaken("the user name is taken");
  if (error instanceof InvalidUserRecordError) return UserErrors.userInvalid(error.message, { field: error.field });
  // The proto has no reason for it: a foreign key a migration of yours adds.
  if (error instanceof UserRecordReferenceError) return new TsmicroError(Code.FAILED_PRECONDITION, error.message);
  return error;
}
