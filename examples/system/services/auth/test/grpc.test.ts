import {
  connect,
  createMemoryRegistry,
  createService,
  silentLogger,
  type Connection,
  type MicroService,
} from "@tsmicro/runtime";
import { openTestDatabase, type Database as DatabaseConnection } from "@tsmicro/runtime/database";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokedTokenOf } from "../src/domain/model/revoked-token.js";
import { SqlRevokedTokenRepository } from "../src/domain/repository/sql-revoked-token-repository.js";
import { AccessTokens } from "../src/domain/service/access-tokens.js";
import { RevokedTokenDataService } from "../src/domain/service/revoked-token-data-service.js";
import {
  AuthServiceDefinition,
  isTokenExpired,
  isTokenInvalid,
  isTokenRevoked,
  isUserMissing,
} from "../src/gen/auth/v1/auth.micro.js";
import type { Database } from "../src/gen/database.js";
import { createAuthServiceHandler } from "../src/handler/auth-service.js";

// The service as main.ts wires it, on a real gRPC server (127.0.0.1, a free port) and an in-memory registry.
const registry = createMemoryRegistry();
const jwt = { secret: "a-test-secret-of-at-least-32-characters", issuer: "test", ttl: 60 };
let service: MicroService;
let callers: Connection;
let database: DatabaseConnection<Database>;

beforeAll(async () => {
  database = await openTestDatabase<Database>({ url: process.env.DATABASE_URL });
  const options = { registry, args: [], env: {}, logger: silentLogger() };
  service = createService({ name: "auth", ...options });
  callers = connect(options);
  const deps = {
    revokedTokens: new RevokedTokenDataService(new SqlRevokedTokenRepository(database.db)),
    tokens: new AccessTokens(jwt),
  };
  service.handle(AuthServiceDefinition, createAuthServiceHandler(deps));
  await service.start();
});

afterAll(async () => {
  await callers?.stop();
  await service?.stop();
  await database?.close();
  await registry.stop();
});

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe("auth over gRPC", () => {
  const auth = () => callers.client(AuthServiceDefinition, "auth");

  it("makes a token that validates to its user until it expires", async () => {
    const before = Date.now();
    const made = await auth().makeAccessToken({ userId: "u1", userName: "micro" });
    expect(made.token.split(".")).toHaveLength(3);
    expect(made.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 59_000);
    const claims = await auth().validateToken({ token: made.token });
    expect(claims).toMatchObject({ userId: "u1", userName: "micro", expiresAt: made.expiresAt });
    expect(claims.tokenId).not.toBe("");
  });

  it("refuses a token that was revoked, expired, signed with another key, or is not a token", async () => {
    const { token } = await auth().makeAccessToken({ userId: "u2", userName: "ann" });
    await auth().revokeToken({ token });
    await auth().revokeToken({ token }); // again: nothing changes
    expect(isTokenRevoked(await failure(auth().validateToken({ token })))).toBe(true);

    const key = new TextEncoder().encode(jwt.secret);
    const sign = (secret: Uint8Array, expires: number) =>
      new SignJWT({ name: "ann" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("u2")
        .setIssuer(jwt.issuer)
        .setJti("t1")
        .setExpirationTime(expires)
        .sign(secret);
    const expired = await sign(key, Math.floor(Date.now() / 1000) - 10);
    expect(isTokenExpired(await failure(auth().validateToken({ token: expired })))).toBe(true);
    const forged = await sign(new TextEncoder().encode("another-secret-of-at-least-32-characters"), 2e9);
    expect(isTokenInvalid(await failure(auth().validateToken({ token: forged })))).toBe(true);
    expect(isTokenInvalid(await failure(auth().validateToken({ token: "nonsense" })))).toBe(true);
  });

  it("needs a user to make a token for", async () => {
    expect(isUserMissing(await failure(auth().makeAccessToken({ userName: "micro" })))).toBe(true);
  });
});

describe("the revoked-token repository", () => {
  it("names the field of a clash, never the token's id", async () => {
    const repository = new SqlRevokedTokenRepository(database.db);
    const token = revokedTokenOf({
      id: "jti-secret",
      expiresAt: new Date(Date.now() + 60_000),
      createdTime: new Date(),
    });
    await repository.create(token);
    const clash = await failure(repository.create(token));
    expect(clash).toMatchObject({
      name: "RevokedTokenAlreadyExistsError",
      message: "a revokedToken with the same id exists",
    });
  });
});
