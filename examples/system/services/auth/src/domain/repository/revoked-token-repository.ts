import type { RevokedToken } from "../model/revoked-token.js";

/** One page of revokedTokens in id order, and the id to continue after. */
export interface RevokedTokenRows {
  readonly items: RevokedToken[];
  readonly last: string | undefined;
}

/**
 * Where revokedTokens are kept. SqlRevokedTokenRepository keeps them in
 * PostgreSQL or the embedded PGlite; a test may use any other.
 */
export interface RevokedTokenRepository {
  /**
   * Stores a new revokedToken; RevokedTokenAlreadyExistsError when a unique column clashes,
   * InvalidRevokedTokenError naming the field whose value the database refuses,
   * RevokedTokenReferenceError naming one that refers to no row (a foreign key).
   */
  create(revokedToken: RevokedToken): Promise<RevokedToken>;
  /** The revokedToken with the id, if any. */
  get(id: string): Promise<RevokedToken | undefined>;
  /** At most `limit` revokedTokens whose id comes after `after`; `last` is set when more follow. */
  list(limit: number, after: string | undefined): Promise<RevokedTokenRows>;
  /** Applies `change` to the stored revokedToken in one transaction; undefined when there is none. */
  update(id: string, change: (current: RevokedToken) => RevokedToken): Promise<RevokedToken | undefined>;
  /** Removes the revokedToken; false when there was none, RevokedTokenReferenceError while rows still refer to it. */
  delete(id: string): Promise<boolean>;
}
