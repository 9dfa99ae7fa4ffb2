import {
  connect,
  createConfig,
  createMemoryRegistry,
  createMemorySource,
  createService,
  silentLogger,
  type Connection,
  type MicroService,
} from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigServiceDefinition, isSettingNotFound } from "../src/gen/config/v1/config.micro.js";
import { createConfigServiceHandler } from "../src/handler/config-service.js";
import { systemSettings } from "../src/settings.js";

// The service as main.ts wires it, on a real gRPC server (127.0.0.1, a free port) and an in-memory registry,
// its settings from a source the test changes.
const registry = createMemoryRegistry();
const source = createMemorySource({
  auth: { jwt: { secret: "a-test-secret-of-at-least-32-characters", issuer: "test", ttl: 60 } },
  user: { database: { url: "" } },
});
const settings = createConfig({ schema: systemSettings, sources: [source] });
let service: MicroService;
let callers: Connection;

beforeAll(async () => {
  await settings.start();
  const options = { registry, args: [], env: {}, logger: silentLogger() };
  service = createService({ name: "config", ...options });
  callers = connect(options);
  service.handle(ConfigServiceDefinition, createConfigServiceHandler({ settings }));
  await service.start();
});

afterAll(async () => {
  await callers?.stop();
  await service?.stop();
  await settings.stop();
  await registry.stop();
});

describe("config over gRPC", () => {
  const client = () => callers.client(ConfigServiceDefinition, "config");

  it("reads the settings under a path, and all of them under the empty path", async () => {
    expect(await client().read({ path: "auth.jwt.ttl" })).toEqual({ path: "auth.jwt.ttl", value: 60 });
    expect((await client().read({ path: "user" })).value).toEqual({ database: { url: "" } });
    expect(Object.keys((await client().read({ path: "" })).value)).toEqual(["auth", "user"]);
  });

  it("answers SETTING_NOT_FOUND for a path nothing is set under", async () => {
    const error = await client()
      .read({ path: "auth.nope" })
      .catch((caught: unknown) => caught);
    expect(isSettingNotFound(error)).toBe(true);
  });

  it("streams the settings under a path now and again after each change to them", async () => {
    const stream = client().watch({ path: "auth.jwt.ttl" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.value).toBe(60);
    // A change elsewhere sends nothing; the next change under the path does.
    source.put("user.database.url", "postgres://db/users");
    source.put("auth.jwt.ttl", 600);
    expect((await stream.next()).value?.value).toBe(600);
    await stream.return?.();
  });

  it("sends null when a change removes what a watch follows", async () => {
    source.put("extra", { flag: true });
    const stream = client().watch({ path: "extra.flag" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.value).toBe(true);
    source.set({ ...(await source.read()), extra: {} });
    expect((await stream.next()).value?.value).toBeNull();
    await stream.return?.();
  });
});
