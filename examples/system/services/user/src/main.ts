/**
 * user: the system's users, in the database the config service names
 * ("user.database.url"; empty: the embedded PGlite in data/db). Seeds the
 * demo's user micro / 123 when it is missing.
 * Flags and TSMICRO_* variables choose the registry, address and database;
 * see README.md.
 */
import { createService } from "@tsmicro/runtime";
import { databaseOptionsFrom, openDatabase } from "@tsmicro/runtime/database";
import { SqlUserRecordRepository } from "./domain/repository/sql-user-record-repository.js";
import { UserRecordDataService } from "./domain/service/user-record-data-service.js";
import { ConfigServiceDefinition } from "./gen/config/v1/config.micro.js";
import type { Database } from "./gen/database.js";
import { UserEvents, UserServiceDefinition } from "./gen/user/v1/user.micro.js";
import { createUserServiceHandler } from "./handler/user-service.js";

const service = createService({ name: "user", version: "0.1.0" });
// A bad flag, or a database that cannot open (in use, unreachable), stops the service with one line, as run()
// does; flags are checked first, so a bad one leaves the database untouched.
const { logger, fatal } = service;
await service.checkFlags().catch(fatal);
// The database from the config service; --database_url or DATABASE_URL win over it. Waiting for it to register
// and answer may take a while on a machine busy starting the system: up to 30 s, not 5 s.
const config = service.client(ConfigServiceDefinition, "config");
const configured = await config
  .read({ path: "user.database.url" }, { timeoutMs: 30_000, waitForReady: true })
  .catch(fatal);
const local = databaseOptionsFrom();
const url =
  local.url ?? (typeof configured.value === "string" && configured.value !== "" ? configured.value : undefined);
const database = await openDatabase<Database>({ ...local, ...(url ? { url } : {}), logger }).catch(fatal);

const users = new UserRecordDataService(new SqlUserRecordRepository(database.db));
const deps = { users, events: service.publisher(UserEvents) };
service.handle(UserServiceDefinition, createUserServiceHandler(deps));
// A handler missing a method of the proto stops the service here, before a migration changes the database.
await service.checkFlags().catch(fatal);
// PGlite migrates on start; with PostgreSQL run `npm run migrate` as a release step, or set TSMICRO_MIGRATE=on.
if (database.kind === "pglite" || process.env.TSMICRO_MIGRATE === "on") await database.migrate().catch(fatal);
// A rename or type change tsmicro generate left to a hand-written migration, not made, stops the service here.
await database.checkSchema().catch(fatal);
if (await users.seed("micro", "123").catch(fatal)) logger.info({ user_name: "micro" }, "seeded the demo's user");

await service.run(); // listen, register, heartbeat; on SIGTERM or SIGINT: deregister, drain, stop
await database.close();
