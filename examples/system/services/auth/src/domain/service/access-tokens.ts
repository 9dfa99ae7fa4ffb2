import { randomUUID } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";

/** How tokens are signed: the config service's "auth.jwt". */
export interface JwtSettings {
  /** The HMAC key (HS256), at least 32 characters. */
  readonly secret: string;
  readonly issuer: string;
  /** How long a token lasts, in seconds. */
  readonly ttl: number;
}

/** What a valid token says. */
export interface TokenClaims {
  readonly userId: string;
  readonly userName: string;
  /** The token's own id (its jti), by which it is revoked. */
  readonly tokenId: string;
  readonly expiresAt: Date;
}

/** The token has expired. */
export class TokenExpiredError extends Error {
  constructor() {
    super("the access token has expired: log in again");
    this.name = "TokenExpiredError";
  }
}

/** Not a token these settings signed, or not a token at all. */
export class TokenInvalidError extends Error {
  constructor() {
    super("not a valid access token");
    this.name = "TokenInvalidError";
  }
}

/** Makes and checks HS256 JWT access tokens (jose). */
export class AccessTokens {
  #settings: JwtSettings;
  #key: Uint8Array;

  constructor(settings: JwtSettings) {
    this.#settings = settings;
    this.#key = new TextEncoder().encode(settings.secret);
  }

  /** Signs and checks with `settings` from now on: a new key ends the tokens the old one signed. */
  use(settings: JwtSettings): void {
    this.#settings = settings;
    this.#key = new TextEncoder().encode(settings.secret);
  }

  /** A token for the user that lasts the configured time, and when it expires. */
  async make(userId: string, userName: string): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + this.#settings.ttl) * 1000);
    const token = await new SignJWT({ name: userName })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(userId)
      .setIssuer(this.#settings.issuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(this.#key);
    return { token, expiresAt };
  }

  /** The token's claims; TokenExpiredError or TokenInvalidError when it is not good now. */
  async verify(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.#key, { issuer: this.#settings.issuer, algorithms: ["HS256"] });
      if (!payload.sub || !payload.jti || payload.exp === undefined) throw new TokenInvalidError();
      return {
        userId: payload.sub,
        userName: typeof payload.name === "string" ? payload.name : "",
        tokenId: payload.jti,
        expiresAt: new Date(payload.exp * 1000),
      };
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new TokenExpiredError();
      if (error instanceof TokenInvalidError || error instanceof errors.JOSEError) throw new TokenInvalidError();
      throw error;
    }
  }
}

/** The "auth.jwt" settings from the config service, checked: a missing or short secret stops auth at start. */
export function jwtSettingsOf(value: unknown): JwtSettings {
  const { secret, issuer, ttl } = (value ?? {}) as Partial<Record<keyof JwtSettings, unknown>>;
  if (typeof secret !== "string" || secret.length < 32)
    throw new Error("auth.jwt.secret from the config service must be a string of at least 32 characters");
  if (typeof issuer !== "string" || issuer === "")
    throw new Error("auth.jwt.issuer from the config service must be a non-empty string");
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl <= 0)
    throw new Error("auth.jwt.ttl from the config service must be a whole number of seconds above 0");
  return { secret, issuer, ttl };
}
