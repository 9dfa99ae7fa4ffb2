/**
 * auth: builds the layers from the bottom up and serves them.
 * Flags and TSMICRO_* variables choose the registry, address and database;
 * see README.md.
 */
import { createService } from "@tsmicro/runtime";
import { databaseOptionsFrom, openDatabase } from "@tsmicro/runtime/database";
import { SqlRevokedTokenRepository } from "./domain/repository/sql-revoked-token-repository.js";
import { AccessTokens, jwtSettingsOf } from "./domain/service/access-tokens.js";
import { RevokedTokenDataService } from "./domain/service/revoked-token-data-service.js";
import type { Database } from "./gen/database.js";
import { ConfigServiceDefinition } from "./gen/config/v1/config.micro.js";
import { AuthServiceDefinition } from "./gen/auth/v1/auth.micro.js";
import { followJwtSettings } from "./follow-jwt-settings.js";
import { createAuthServiceHandler } from "./handler/auth-service.js";

const service = createService({ name: "auth", version: "0.1.0" });
// A bad flag, or a database that cannot open (in use, unreachable), stops the service with one line, as run()
// does; flags are checked first, so a bad one leaves the database untouched.
const { logger, fatal } = service;
await service.checkFlags().catch(fatal);
// The signing key and token lifetime come from the config service, as the settings at "auth.jwt". Waiting for
// it to register and answer may take a while on a machine busy starting the system: up to 30 s, not 5 s.
const config = service.client(ConfigServiceDefinition, "config");
const jwt = await config
  .read({ path: "auth.jwt" }, { timeoutMs: 30_000, waitForReady: true })
  .then((settings) => jwtSettingsOf(settings.value))
  .catch(fatal);
const database = await openDatabase<Database>({ ...databaseOptionsFrom(), logger }).catch(fatal);

const deps = {
  revokedTokens: new RevokedTokenDataService(new SqlRevokedTokenRepository(database.db)),
  tokens: new AccessTokens(jwt),
};
service.handle(AuthServiceDefinition, createAuthServiceHandler(deps));
// A handler missing a method of the proto stops the service here, before a migration changes the database.
await service.checkFlags().catch(fatal);
// PGlite migrates on start; with PostgreSQL run `npm run migrate` as a release step, or set TSMICRO_MIGRATE=on.
if (database.kind === "pglite" || process.env.TSMICRO_MIGRATE === "on") await database.migrate().catch(fatal);
// A rename or type change tsmicro generate left to a hand-written migration, not made, stops the service here.
await database.checkSchema().catch(fatal);

// New tokens follow a change of "auth.jwt" without a restart; the watch ends when the service is told to stop.
const following = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => following.abort());
const followed = followJwtSettings(config, deps.tokens, logger, following.signal);

await service.run(); // listen, register, heartbeat; on SIGTERM or SIGINT: deregister, drain, stop
following.abort();
await followed;
await database.close();
