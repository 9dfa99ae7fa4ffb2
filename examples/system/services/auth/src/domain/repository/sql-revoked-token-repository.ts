import type { Kysely } from "kysely";
import type { Database } from "../../gen/database.js";
import { revokedTokenFromRow, revokedTokenToRow } from "../../gen/auth/v1/auth.entity.js";
import { RevokedTokenAlreadyExistsError, type RevokedToken } from "../model/revoked-token.js";
import type { RevokedTokenRepository, RevokedTokenRows } from "./revoked-token-repository.js";

/** RevokedTokenRepository on SQL through Kysely: the same code on PGlite and PostgreSQL. */
export class SqlRevokedTokenRepository implements RevokedTokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(revokedToken: RevokedToken): Promise<RevokedToken> {
    try {
      const row = await this.db
        .insertInto("revoked_token")
        .values(revokedTokenToRow(revokedToken))
        .returningAll()
        .executeTakeFirstOrThrow();
      return revokedTokenFromRow(row);
    } catch (error) {
      throw uniqueViolation(error) ?? error;
    }
  }

  async get(id: string): Promise<RevokedToken | undefined> {
    const row = await this.db.selectFrom("revoked_token").selectAll().where("id", "=", id).executeTakeFirst();
    return row && revokedTokenFromRow(row);
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
    try {
      return await this.db.transaction().execute(async (tx) => {
        const row = await tx
          .selectFrom("revoked_token")
          .selectAll()
          .where("id", "=", id)
          .forUpdate()
          .executeTakeFirst();
        if (!row) return undefined;
        const changed = { ...change(revokedTokenFromRow(row)), id };
        const saved = await tx
          .updateTable("revoked_token")
          .set(revokedTokenToRow(changed))
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return revokedTokenFromRow(saved);
      });
    } catch (error) {
      throw uniqueViolation(error) ?? error;
    }
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("revoked_token").where("id", "=", id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

/** PostgreSQL's unique_violation (23505, also from PGlite) as the domain's error, naming the column and value. */
function uniqueViolation(error: unknown): RevokedTokenAlreadyExistsError | undefined {
  if (typeof error !== "object" || error === null || (error as { code?: unknown }).code !== "23505") return undefined;
  const detail = String((error as { detail?: unknown }).detail ?? "");
  // PostgreSQL says: Key (name)=(ann) already exists.
  const [, column, value] = /^Key \((.+)\)=\((.*)\) already exists/.exec(detail) ?? [];
  return new RevokedTokenAlreadyExistsError(column ? `${column} ${JSON.stringify(value)}` : "unique value");
}
