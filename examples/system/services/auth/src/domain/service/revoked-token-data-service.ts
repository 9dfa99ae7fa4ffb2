import { randomUUID } from "node:crypto";
import {
  InvalidRevokedTokenError,
  RevokedTokenAlreadyExistsError,
  RevokedTokenNotFoundError,
  revokedTokenFieldNames,
  revokedTokenOf,
  type RevokedToken,
  type RevokedTokenFields,
} from "../model/revoked-token.js";
import type { RevokedTokenRepository } from "../repository/revoked-token-repository.js";

/** One page of revokedTokens, and the token of the next (empty on the last). */
export interface RevokedTokenPage {
  readonly items: RevokedToken[];
  readonly nextPageToken: string;
}

const defaultPageSize = 50;
const maxPageSize = 1000;

/** The revokedToken use cases: what the service does with revokedTokens, whatever the transport. */
export class RevokedTokenDataService {
  constructor(private readonly repository: RevokedTokenRepository) {}

  /** Stores a new revokedToken with a fresh id. */
  async create(fields: Partial<RevokedTokenFields>): Promise<RevokedToken> {
    return this.repository.create(
      revokedTokenOf({
        ...fields,
        id: randomUUID(),
      }),
    );
  }

  /** Records that the token with this id (its jti) is revoked; revoking it again changes nothing. */
  async revoke(tokenId: string, expiresAt: Date): Promise<void> {
    try {
      await this.repository.create(revokedTokenOf({ id: tokenId, expiresAt, createdTime: new Date() }));
    } catch (error) {
      if (!(error instanceof RevokedTokenAlreadyExistsError)) throw error;
    }
  }

  /** Whether the token with this id (its jti) was revoked. */
  async isRevoked(tokenId: string): Promise<boolean> {
    return (await this.repository.get(tokenId)) !== undefined;
  }

  /** The revokedToken with the id; RevokedTokenNotFoundError when there is none. */
  async get(id: string): Promise<RevokedToken> {
    const found = await this.repository.get(id);
    if (!found) throw new RevokedTokenNotFoundError(id);
    return found;
  }

  /** A page of at most `pageSize` revokedTokens (0: 50), after the one `pageToken` ends with. */
  async list(pageSize: number, pageToken: string): Promise<RevokedTokenPage> {
    if (pageSize < 0) throw new InvalidRevokedTokenError("page_size", "must not be negative");
    const limit = Math.min(pageSize || defaultPageSize, maxPageSize);
    const page = await this.repository.list(limit, pageToken === "" ? undefined : decodePageToken(pageToken));
    return { items: page.items, nextPageToken: page.last === undefined ? "" : encodePageToken(page.last) };
  }

  /**
   * Changes the fields `paths` names (proto or JSON names; all of them when
   * empty) to their values in `revokedToken`.
   */
  async update(revokedToken: RevokedToken, paths: readonly string[]): Promise<RevokedToken> {
    const fields = paths.length === 0 ? revokedTokenFieldNames : paths.map(fieldOfPath);
    const changed = Object.fromEntries(fields.map((field) => [field, revokedToken[field]]));
    const updated = await this.repository.update(revokedToken.id, (current) => ({
      ...current,
      ...changed,
    }));
    if (!updated) throw new RevokedTokenNotFoundError(revokedToken.id);
    return updated;
  }

  /** Removes the revokedToken; RevokedTokenNotFoundError when there is none. */
  async delete(id: string): Promise<void> {
    if (!(await this.repository.delete(id))) throw new RevokedTokenNotFoundError(id);
  }
}

/** `display_name` or `displayName` -> `displayName`, when callers may change it. */
function fieldOfPath(path: string): keyof RevokedTokenFields {
  const field = path.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const known = revokedTokenFieldNames.find((name) => name === field);
  if (!known) {
    throw new InvalidRevokedTokenError(
      "update_mask",
      `names ${JSON.stringify(path)}, which is not a field callers can change`,
    );
  }
  return known;
}

// Page tokens are opaque to callers: the last id of a page, base64url.
function encodePageToken(last: string): string {
  return Buffer.from(String(last)).toString("base64url");
}

function decodePageToken(token: string): string {
  const text = Buffer.from(token, "base64url").toString();
  if (text === "" || Buffer.from(text).toString("base64url") !== token) {
    throw new InvalidRevokedTokenError("page_token", "is not a token this service gave out");
  }
  return text;
}
