/**
 * `tsmicro call` and proto2 required fields, against running services of fixture 07's
 * LegacyService: a JSON request (or one request of a stream's array) that leaves out a required
 * field is refused before any call, naming the field; a response that lacks one fails the call.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Code,
  createService,
  silentLogger,
  TsmicroError,
  type MicroService,
  type ServiceDefinition,
} from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Account, type GetAccountRequest } from "./golden/07-proto2/legacy.js";
import { LegacyServiceDefinition, type LegacyServiceHandler } from "./golden/07-proto2/legacy.micro.js";
import { bins, run } from "./support/cli.js";
import { rawCodec as raw } from "./support/raw-codec.js";
import { suiteEnv } from "./support/suite-env.js";

describe("tsmicro call with proto2 required fields", () => {
  let dir = "";
  const services: MicroService[] = [];
  /** Every request the legacy service's handlers received. */
  const received: string[] = [];
  const tsmicro = (...args: string[]) =>
    run("node", [bins.tsmicro, ...args, "--registry", "local", "--registry_address", dir]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-cli-required-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    const legacy = createService({ name: "legacy", args: flags, env: suiteEnv(), logger: silentLogger() });
    const handler: LegacyServiceHandler = {
      async getAccount(request) {
        received.push(`get ${request.id}`);
        return Account.fromPartial({ id: request.id });
      },
      async *watchAccount(request) {
        received.push(`watch ${request.id}`);
        yield Account.fromPartial({ id: request.id });
      },
      async importAccounts(accounts) {
        let count = 0;
        for await (const account of accounts) {
          received.push(`import ${account.id}`);
          count++;
        }
        return { count };
      },
      async *syncAccounts(requests: AsyncIterable<GetAccountRequest>) {
        for await (const request of requests) yield Account.fromPartial({ id: request.id });
      },
    };
    legacy.handle(LegacyServiceDefinition, handler);
    // GetAccount answers an Account with id "a" and no created_at, a required field.
    const incomplete = createService({ name: "incomplete", args: flags, env: suiteEnv(), logger: silentLogger() });
    const methods = LegacyServiceDefinition.methods;
    const definition = {
      ...LegacyServiceDefinition,
      methods: { ...methods, getAccount: { ...methods.getAccount, output: raw } },
    } as unknown as ServiceDefinition;
    const unimplemented = () => {
      throw new TsmicroError(Code.UNIMPLEMENTED, "not here");
    };
    incomplete.handle(definition, {
      getAccount: async () => Uint8Array.of(0x0a, 0x01, 0x61),
      watchAccount: unimplemented,
      importAccounts: unimplemented,
      syncAccounts: unimplemented,
    } as never);
    for (const service of [legacy, incomplete]) {
      await service.start();
      services.push(service);
    }
  });

  afterAll(async () => {
    for (const service of services) await service.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["LegacyService.GetAccount", "{}", "the request lacks id (fixtures.legacy.GetAccountRequest.id)"],
    [
      "LegacyService.WatchAccount",
      '{"id":"a","scope":{"level":1,"token":""}}',
      "the request lacks scope.status (fixtures.legacy.Scope.status)",
    ],
    [
      "LegacyService.ImportAccounts",
      '[{"id":"a","createdAt":"1"},{"id":"b"}]',
      "request 1 lacks created_at (fixtures.legacy.Account.created_at)",
    ],
    ["LegacyService.SyncAccounts", '[{"statusFilter":"CLOSED"}]', "request 0 lacks id"],
  ])("%s %s is refused before any call, naming the field", async (method, json, named) => {
    const before = received.length;
    const result = await tsmicro("call", "legacy", method, json);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^tsmicro: /);
    expect(result.stderr).toContain(`${named}`);
    expect(result.stderr).toMatch(/, a required field of fixtures\.legacy\.\w+: give it, even at its zero value\n$/);
    expect(result.stdout).toBe("");
    expect(received.length).toBe(before);
  });

  it("sends required fields given at their zero values", async () => {
    const result = await tsmicro("call", "legacy", "LegacyService.ImportAccounts", '[{"id":"","createdAt":"0"}]');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ count: 1 });
    expect(received.at(-1)).toBe("import ");
  });

  it("fails a call whose response lacks a required field, naming it", async () => {
    const result = await tsmicro("call", "incomplete", "LegacyService.GetAccount", '{"id":"a"}');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "tsmicro: call failed: INTERNAL: incomplete LegacyService.GetAccount: the response lacks created_at (fixtures.legacy.Account.created_at), a required field: the server sent an incomplete message\n",
    );
  });
});
