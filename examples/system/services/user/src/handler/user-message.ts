import type { UserRecord } from "../domain/model/user-record.js";
import type { User } from "../gen/user/v1/user.js";

/** A stored user as callers see it: without the password's hash. */
export function userMessage(record: UserRecord): User {
  return { userId: record.userId, userName: record.userName, createdTime: record.createdTime };
}
