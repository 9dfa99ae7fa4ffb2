import type { Kysely } from "kysely";
import type { Database } from "../../gen/database.js";
import { userRecordFromRow, userRecordToRow } from "../../gen/user/v1/user.entity.js";
import { UserRecordAlreadyExistsError, type UserRecord } from "../model/user-record.js";
import type { UserRecordRepository, UserRecordRows } from "./user-record-repository.js";

/** UserRecordRepository on SQL through Kysely: the same code on PGlite and PostgreSQL. */
export class SqlUserRecordRepository implements UserRecordRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(userRecord: UserRecord): Promise<UserRecord> {
    try {
      const row = await this.db
        .insertInto("user")
        .values(userRecordToRow(userRecord))
        .returningAll()
        .executeTakeFirstOrThrow();
      return userRecordFromRow(row);
    } catch (error) {
      throw uniqueViolation(error) ?? error;
    }
  }

  async get(id: bigint): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom("user").selectAll().where("id", "=", id).executeTakeFirst();
    return row && userRecordFromRow(row);
  }

  async findByUserName(userName: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom("user").selectAll().where("user_name", "=", userName).executeTakeFirst();
    return row && userRecordFromRow(row);
  }

  async findByUserId(userId: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom("user").selectAll().where("user_id", "=", userId).executeTakeFirst();
    return row && userRecordFromRow(row);
  }

  async list(limit: number, after: bigint | undefined): Promise<UserRecordRows> {
    let query = this.db
      .selectFrom("user")
      .selectAll()
      .orderBy("id")
      .limit(limit + 1);
    if (after !== undefined) query = query.where("id", ">", after);
    const rows = await query.execute();
    const items = rows.slice(0, limit).map(userRecordFromRow);
    return { items, last: rows.length > limit ? items.at(-1)?.id : undefined };
  }

  async update(id: bigint, change: (current: UserRecord) => UserRecord): Promise<UserRecord | undefined> {
    try {
      return await this.db.transaction().execute(async (tx) => {
        const row = await tx.selectFrom("user").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
        if (!row) return undefined;
        const changed = { ...change(userRecordFromRow(row)), id };
        const saved = await tx
          .updateTable("user")
          .set(userRecordToRow(changed))
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return userRecordFromRow(saved);
      });
    } catch (error) {
      throw uniqueViolation(error) ?? error;
    }
  }

  async delete(id: bigint): Promise<boolean> {
    const result = await this.db.deleteFrom("user").where("id", "=", id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

/** PostgreSQL's unique_violation (23505, also from PGlite) as the domain's error, naming the column and value. */
function uniqueViolation(error: unknown): UserRecordAlreadyExistsError | undefined {
  if (typeof error !== "object" || error === null || (error as { code?: unknown }).code !== "23505") return undefined;
  const detail = String((error as { detail?: unknown }).detail ?? "");
  // PostgreSQL says: Key (name)=(ann) already exists.
  const [, column, value] = /^Key \((.+)\)=\((.*)\) already exists/.exec(detail) ?? [];
  return new UserRecordAlreadyExistsError(column ? `${column} ${JSON.stringify(value)}` : "unique value");
}
