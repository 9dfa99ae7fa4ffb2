import type { UserRecord } from "../model/user-record.js";

/** One page of userRecords in id order, and the id to continue after. */
export interface UserRecordRows {
  readonly items: UserRecord[];
  readonly last: bigint | undefined;
}

/**
 * Where userRecords are kept. SqlUserRecordRepository keeps them in
 * PostgreSQL or the embedded PGlite; a test may use any other.
 */
export interface UserRecordRepository {
  /**
   * Stores a new userRecord; UserRecordAlreadyExistsError when a unique column clashes,
   * InvalidUserRecordError naming the field whose value the database refuses,
   * UserRecordReferenceError naming one that refers to no row (a foreign key).
   */
  create(userRecord: UserRecord): Promise<UserRecord>;
  /** The userRecord with the id, if any. */
  get(id: bigint): Promise<UserRecord | undefined>;
  /** The userRecord with this user_name, if any. */
  findByUserName(userName: string): Promise<UserRecord | undefined>;
  /** The userRecord with this user_id, if any. */
  findByUserId(userId: string): Promise<UserRecord | undefined>;
  /** At most `limit` userRecords whose id comes after `after`; `last` is set when more follow. */
  list(limit: number, after: bigint | undefined): Promise<UserRecordRows>;
  /** Applies `change` to the stored userRecord in one transaction; undefined when there is none. */
  update(id: bigint, change: (current: UserRecord) => UserRecord): Promise<UserRecord | undefined>;
  /** Removes the userRecord; false when there was none, UserRecordReferenceError while rows still refer to it. */
  delete(id: bigint): Promise<boolean>;
}
