import { RevokedToken as RevokedTokenMessage } from "../../gen/auth/v1/auth.js";

/**
 * A revokedToken: the proto's RevokedToken entity, so a field added there is
 * here after `npm run generate` (which also writes its migration).
 */
export type RevokedToken = RevokedTokenMessage;

/** A revokedToken with the given fields and proto3's defaults for the others. */
export function revokedTokenOf(fields: Partial<RevokedToken> = {}): RevokedToken {
  return RevokedTokenMessage.fromPartial(fields);
}

/** The fields callers set; the data service assigns the others. */
export type RevokedTokenFields = Omit<RevokedToken, "id">;

const assigned: readonly string[] = ["id"];

/** The names of RevokedTokenFields, for update masks. */
export const revokedTokenFieldNames = Object.keys(RevokedTokenMessage.fromPartial({})).filter(
  (field) => !assigned.includes(field),
) as (keyof RevokedTokenFields)[];

/** No revokedToken has the id. */
export class RevokedTokenNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no revokedToken has id ${id}`);
    this.name = "RevokedTokenNotFoundError";
  }
}

/** Another revokedToken already has a value that must be unique. */
export class RevokedTokenAlreadyExistsError extends Error {
  constructor(readonly detail: string) {
    super(`a revokedToken with ${detail} exists`);
    this.name = "RevokedTokenAlreadyExistsError";
  }
}

/** A revokedToken request is not valid: names the field and why. */
export class InvalidRevokedTokenError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field} ${reason}`);
    this.name = "InvalidRevokedTokenError";
  }
}

/**
 * A write would break a reference between rows (a foreign key of your migrations): it names a row
 * that does not exist, or deletes or changes one that other rows still name. Names the field.
 */
export class RevokedTokenReferenceError extends Error {
  constructor(
    readonly field: string,
    reason: string,
    subject = field,
  ) {
    super(`${subject} ${reason}`);
    this.name = "RevokedTokenReferenceError";
  }
}
