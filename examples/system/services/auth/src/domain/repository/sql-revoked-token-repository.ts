import { storageFault } from "@tsmicro/runtime/database";
import type { Kysely } from "kysely";
import type { Database } from "../../gen/database.js";
import { revokedTokenColumns, revokedTokenFromRow, revokedTokenToRow } from "../../gen/auth/v1/auth.entity.js";
import {
  InvalidRevokedTokenError,
  type RevokedToken,
  RevokedTokenAlreadyExistsError,
  RevokedTokenReferenceError,
} from "../model/revoked-token.js";
import type { RevokedTokenRepository, RevokedTokenRows } from "./revoked-token-repository.js";

/** RevokedTokenRepository on SQL through Kysely: the same code on PGlite and PostgreSQL. */
export class SqlRevokedTokenRepository implements RevokedTokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(revokedToken: RevokedToken): Promise<RevokedToken> {
    const values = revokedTokenToRow(revokedToken);
    try {
      const row = await this.db.insertInto("revoked_token").values(values).returningAll().executeTakeFirstOrThrow();
      return revokedTokenFromRow(row);
    } catch (error) {
      throw await domainError(this.db, error, values);
    }
  }

  async get(id: string): Promise<RevokedToken | undefined> {
    try {
      const row = await this.db.selectFrom("revoked_token").selectAll().where("id", "=", id).executeTakeFirst();
      return row && revokedTokenFromRow(row);
    } catch (error) {
      throw await domainError(this.db, error, { id }, "looked up");
    }
  }

  async list(limit: number, after: string | undefined): Promise<RevokedTokenRows> {
    let query = this.db
      .selectFrom("revoked_token")
      .selectAll()
      .orderBy("id")
      .limit(limit + 1);
    if (after !== undefined) query = query.where("id", ">", after);
    const rows = await query.execute();
    const items = rows.slice(0, limit).map(revokedTokenFromRow);
    return { items, last: rows.length > limit ? items.at(-1)?.id : undefined };
  }

  async update(id: string, change: (current: RevokedToken) => RevokedToken): Promise<RevokedToken | undefined> {
    // The key until the row is read, then what is written: what a refusal is about.
    let values: Readonly<Record<string, unknown>> = { id };
    let doing = "looked up";
    try {
      return await this.db.transaction().execute(async (tx) => {
        const row = await tx
          .selectFrom("revoked_token")
          .selectAll()
          .where("id", "=", id)
          .forUpdate()
          .executeTakeFirst();
        if (!row) return undefined;
        const changed = revokedTokenToRow({ ...change(revokedTokenFromRow(row)), id });
        values = changed;
        doing = "stored";
        const saved = await tx
          .updateTable("revoked_token")
          .set(changed)
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return revokedTokenFromRow(saved);
      });
    } catch (error) {
      throw await domainError(this.db, error, values, doing);
    }
  }

  async delete(id: string): Promise<boolean> {
    try {
      const result = await this.db.deleteFrom("revoked_token").where("id", "=", id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    } catch (error) {
      throw await domainError(this.db, error, { id }, "looked up");
    }
  }
}

/**
 * A database error the caller's values caused as the domain's error, naming the fields at fault by
 * their proto names, without PostgreSQL's text or the values (a token's id); any other as it came.
 * A foreign key of your migrations is RevokedTokenReferenceError: a row it names is missing, or rows
 * still refer to the one deleted or changed.
 */
async function domainError(
  db: Kysely<Database>,
  error: unknown,
  values: Readonly<Record<string, unknown>>,
  doing?: string,
): Promise<unknown> {
  const fault = await storageFault(db, error, "revoked_token", values, doing);
  if (!fault) return error;
  const fields = fieldsOf(fault.columns);
  if (fault.kind === "unique")
    return new RevokedTokenAlreadyExistsError(
      fields.length > 0 ? `the same ${fields.join(" and ")}` : "the same unique value",
    );
  if (fault.kind === "referenced") {
    // Rows referring to the key refer to the revokedToken itself, which a delete removes.
    const itself = fault.columns.every((column) => column === "id");
    const field = fields.length > 0 ? fields.join(" and ") : "revokedToken";
    return new RevokedTokenReferenceError(field, fault.reason, itself ? "the revokedToken" : field);
  }
  // Columns of no field, which callers cannot set: not the caller's doing.
  if (fault.columns.length > 0 && fields.length === 0) return error;
  if (fault.kind === "dangling")
    return new RevokedTokenReferenceError(fields.length > 0 ? fields.join(" and ") : "revokedToken", fault.reason);
  return new InvalidRevokedTokenError(fields.length > 0 ? fields.join(" and ") : "revokedToken", fault.reason);
}

/** The proto names of the fields stored in `columns`, leaving out columns of no field. */
function fieldsOf(columns: readonly string[]): string[] {
  // The generated map lists each field's proto name before its JSON name.
  const entries = Object.entries(revokedTokenColumns);
  return columns.flatMap((column) => entries.find(([, stored]) => stored === column)?.[0] ?? []);
}
