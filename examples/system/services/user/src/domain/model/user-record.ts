import { UserRecord as UserRecordMessage } from "../../gen/user/v1/user.js";

/**
 * A userRecord: the proto's UserRecord entity, so a field added there is
 * here after `npm run generate` (which also writes its migration).
 */
export type UserRecord = UserRecordMessage;

/** A userRecord with the given fields and proto3's defaults for the others. */
export function userRecordOf(fields: Partial<UserRecord> = {}): UserRecord {
  return UserRecordMessage.fromPartial(fields);
}

/** The fields callers set; the data service assigns the others. */
export type UserRecordFields = Omit<UserRecord, never>;

const assigned: readonly string[] = [];

/** The names of UserRecordFields, for update masks. */
export const userRecordFieldNames = Object.keys(UserRecordMessage.fromPartial({})).filter(
  (field) => !assigned.includes(field),
) as (keyof UserRecordFields)[];

/** No userRecord has the id. */
export class UserRecordNotFoundError extends Error {
  constructor(readonly id: bigint) {
    super(`no userRecord has id ${id}`);
    this.name = "UserRecordNotFoundError";
  }
}

/** Another userRecord already has a value that must be unique. */
export class UserRecordAlreadyExistsError extends Error {
  constructor(readonly detail: string) {
    super(`a userRecord with ${detail} exists`);
    this.name = "UserRecordAlreadyExistsError";
  }
}

/** A userRecord request is not valid: names the field and why. */
export class InvalidUserRecordError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field} ${reason}`);
    this.name = "InvalidUserRecordError";
  }
}

/**
 * A write would break a reference between rows (a foreign key of your migrations): it names a row
 * that does not exist, or deletes or changes one that other rows still name. Names the field.
 */
export class UserRecordReferenceError extends Error {
  constructor(
    readonly field: string,
    reason: string,
    subject = field,
  ) {
    super(`${subject} ${reason}`);
    this.name = "UserRecordReferenceError";
  }
}
