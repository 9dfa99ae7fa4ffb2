import {
  connect,
  createMemoryBroker,
  createMemoryRegistry,
  createService,
  silentLogger,
  type Connection,
  type MicroService,
} from "@tsmicro/runtime";
import { openTestDatabase, type Database as DatabaseConnection } from "@tsmicro/runtime/database";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SqlUserRecordRepository } from "../src/domain/repository/sql-user-record-repository.js";
import { UserRecordDataService } from "../src/domain/service/user-record-data-service.js";
import type { Database } from "../src/gen/database.js";
import type { UserRegistered } from "../src/gen/user/v1/user.js";
import {
  isUserInvalid,
  isUserNameTaken,
  isUserNotFound,
  isWrongPassword,
  UserEvents,
  UserServiceDefinition,
} from "../src/gen/user/v1/user.micro.js";
import { createUserServiceHandler } from "../src/handler/user-service.js";

// The service as main.ts wires it, on a real gRPC server (127.0.0.1, a free port), an in-memory registry and broker.
const registry = createMemoryRegistry();
const broker = createMemoryBroker();
const registered: UserRegistered[] = [];
let service: MicroService;
let callers: Connection;
let database: DatabaseConnection<Database>;
let users: UserRecordDataService;

beforeAll(async () => {
  database = await openTestDatabase<Database>({ url: process.env.DATABASE_URL });
  const options = { registry, args: [], env: {}, logger: silentLogger() };
  service = createService({ name: "user", broker, ...options });
  callers = connect(options);
  users = new UserRecordDataService(new SqlUserRecordRepository(database.db));
  service.handle(UserServiceDefinition, createUserServiceHandler({ users, events: service.publisher(UserEvents) }));
  service.subscribe(UserEvents, {
    async userRegistered(event) {
      registered.push(event);
    },
  });
  await service.start();
});

afterAll(async () => {
  await callers?.stop();
  await service?.stop();
  await database?.close();
  await broker.stop();
  await registry.stop();
});

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe("user over gRPC", () => {
  const user = () => callers.client(UserServiceDefinition, "user");

  it("registers a user, stores only a hash of the password, and publishes UserRegistered", async () => {
    const ann = await user().register({ userName: "ann", pwd: "s3cret" });
    expect(ann).toMatchObject({ userName: "ann" });
    expect(ann.userId).toMatch(/^[0-9a-f-]{36}$/);
    const row = await database.db
      .selectFrom("user")
      .selectAll()
      .where("user_name", "=", "ann")
      .executeTakeFirstOrThrow();
    expect(row.pwd).toMatch(/^scrypt\$/);
    expect(row.pwd).not.toContain("s3cret");
    await vi.waitFor(() => expect(registered).toContainEqual({ userId: ann.userId, userName: "ann" }));
    expect(await user().getUser({ userId: ann.userId })).toEqual(ann);
  });

  it("checks passwords: the right one gives the user, a wrong one or an unknown name WRONG_PASSWORD", async () => {
    const bob = await user().register({ userName: "bob", pwd: "hunter2" });
    expect(await user().checkPassword({ userName: "bob", pwd: "hunter2" })).toEqual(bob);
    expect(isWrongPassword(await failure(user().checkPassword({ userName: "bob", pwd: "hunter3" })))).toBe(true);
    expect(isWrongPassword(await failure(user().checkPassword({ userName: "nobody", pwd: "x" })))).toBe(true);
  });

  it("refuses a taken name, a bad name or password, and an unknown user_id", async () => {
    await user().register({ userName: "cy", pwd: "123" });
    expect(isUserNameTaken(await failure(user().register({ userName: "cy", pwd: "456" })))).toBe(true);
    expect(isUserInvalid(await failure(user().register({ userName: "c y", pwd: "456" })))).toBe(true);
    expect(isUserInvalid(await failure(user().register({ userName: "dee", pwd: "12" })))).toBe(true);
    expect(isUserNotFound(await failure(user().getUser({ userId: "nope" })))).toBe(true);
  });

  it("says a name is taken without echoing it, and refuses a NUL in a name or user_id looked up as USER_INVALID", async () => {
    await user().register({ userName: "dora-secret", pwd: "123" });
    const clash = await failure(users.register("dora-secret", "456"));
    expect(clash).toMatchObject({
      name: "UserRecordAlreadyExistsError",
      message: "a userRecord with the same user_name exists",
    });
    const answered = await failure(user().register({ userName: "dora-secret", pwd: "456" }));
    expect(isUserNameTaken(answered)).toBe(true);
    expect((answered as Error).message).not.toContain("dora-secret");
    // PostgreSQL's text holds no NUL: the lookup's refusal names the field, not INTERNAL.
    const login = await failure(user().checkPassword({ userName: "dora\0secret", pwd: "123" }));
    expect(isUserInvalid(login)).toBe(true);
    expect((login as Error).message).toMatch(/^user_name cannot be looked up: .*NUL/);
    expect(isUserInvalid(await failure(user().getUser({ userId: "dora\0secret" })))).toBe(true);
  });

  it("seeds the demo's user once", async () => {
    expect(await users.seed("micro", "123")).toBe(true);
    expect(await users.seed("micro", "other")).toBe(false);
    expect((await user().checkPassword({ userName: "micro", pwd: "123" })).userName).toBe("micro");
  });
});
