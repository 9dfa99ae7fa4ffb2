import { storageFault } from "@tsmicro/runtime/database";
import type { Kysely } from "kysely";
import type { Database } from "../../gen/database.js";
import { userRecordColumns, userRecordFromRow, userRecordToRow } from "../../gen/user/v1/user.entity.js";
import {
  InvalidUserRecordError,
  type UserRecord,
  UserRecordAlreadyExistsError,
  UserRecordReferenceError,
} from "../model/user-record.js";
import type { UserRecordRepository, UserRecordRows } from "./user-record-repository.js";

/** UserRecordRepository on SQL through Kysely: the same code on PGlite and PostgreSQL. */
export class SqlUserRecordRepository implements UserRecordRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(userRecord: UserRecord): Promise<UserRecord> {
    const values = userRecordToRow(userRecord);
    try {
      const row = await this.db.insertInto("user").values(values).returningAll().executeTakeFirstOrThrow();
      return userRecordFromRow(row);
    } catch (error) {
      throw await domainError(this.db, error, values);
    }
  }

  async get(id: bigint): Promise<UserRecord | undefined> {
    try {
      const row = await this.db.selectFrom("user").selectAll().where("id", "=", id).executeTakeFirst();
      return row && userRecordFromRow(row);
    } catch (error) {
      throw await domainError(this.db, error, { id }, "looked up");
    }
  }

  async findByUserName(userName: string): Promise<UserRecord | undefined> {
    try {
      const row = await this.db.selectFrom("user").selectAll().where("user_name", "=", userName).executeTakeFirst();
      return row && userRecordFromRow(row);
    } catch (error) {
      throw await domainError(this.db, error, { user_name: userName }, "looked up");
    }
  }

  async findByUserId(userId: string): Promise<UserRecord | undefined> {
    try {
      const row = await this.db.selectFrom("user").selectAll().where("user_id", "=", userId).executeTakeFirst();
      return row && userRecordFromRow(row);
    } catch (error) {
      throw await domainError(this.db, error, { user_id: userId }, "looked up");
    }
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
    // The key until the row is read, then what is written: what a refusal is about.
    let values: Readonly<Record<string, unknown>> = { id };
    let doing = "looked up";
    try {
      return await this.db.transaction().execute(async (tx) => {
        const row = await tx.selectFrom("user").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
        if (!row) return undefined;
        const changed = userRecordToRow({ ...change(userRecordFromRow(row)), id });
        values = changed;
        doing = "stored";
        const saved = await tx
          .updateTable("user")
          .set(changed)
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return userRecordFromRow(saved);
      });
    } catch (error) {
      throw await domainError(this.db, error, values, doing);
    }
  }

  async delete(id: bigint): Promise<boolean> {
    try {
      const result = await this.db.deleteFrom("user").where("id", "=", id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (error) {
      throw await domainError(this.db, error, { id }, "looked up");
    }
  }
}

/**
 * A database error the caller's values caused as the domain's error, naming the fields at fault by
 * their proto names, without PostgreSQL's text or the values (a user name, a password hash); any
 * other as it came. A foreign key of your migrations is UserRecordReferenceError: a row it names is
 * missing, or rows still refer to the one deleted or changed.
 */
async function domainError(
  db: Kysely<Database>,
  error: unknown,
  values: Readonly<Record<string, unknown>>,
  doing?: string,
): Promise<unknown> {
  const fault = await storageFault(db, error, "user", values, doing);
  if (!fault) return error;
  const fields = fieldsOf(fault.columns);
  if (fault.kind === "unique")
    return new UserRecordAlreadyExistsError(
      fields.length > 0 ? `the same ${fields.join(" and ")}` : "the same unique value",
    );
  if (fault.kind === "referenced") {
    // Rows referring to the key refer to the userRecord itself, which a delete removes.
    const itself = fault.columns.every((column) => column === "id");
    const field = fields.length > 0 ? fields.join(" and ") : "userRecord";
    return new UserRecordReferenceError(field, fault.reason, itself ? "the userRecord" : field);
  }
  // Columns of no field, which callers cannot set: not the caller's doing.
  if (fault.columns.length > 0 && fields.length === 0) return error;
  if (fault.kind === "dangling")
    return new UserRecordReferenceError(fields.length > 0 ? fields.join(" and ") : "userRecord", fault.reason);
  return new InvalidUserRecordError(fields.length > 0 ? fields.join(" and ") : "userRecord", fault.reason);
}

/** The proto names of the fields stored in `columns`, leaving out columns of no field. */
function fieldsOf(columns: readonly string[]): string[] {
  // The generated map lists each field's proto name before its JSON name.
  const entries = Object.entries(userRecordColumns);
  return columns.flatMap((column) => entries.find(([, stored]) => stored === column)?.[0] ?? []);
}
