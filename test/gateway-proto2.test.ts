/**
 * proto2 required fields (issue 16, item 5), end to end: real HTTP to a running gateway, real
 * gRPC to a tsmicro service serving fixture 07's LegacyService (test/protos/07-proto2) on its
 * default route, found through a local registry folder.
 * - A required field at its zero value (`""`, `0`, `0n`, an enum's 0, empty bytes) is written by
 *   the generated encoder, so a proto2 decoder (protobuf-es in the gateway) sees it set.
 * - A request missing a required field, at the top or nested, is a 400 naming the field, not a
 *   500 "Request message serialization failure"; over gRPC (bytes from a plain grpc-js client,
 *   as another language's client sends them) it is INVALID_ARGUMENT naming the field.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileRegistry, fromBinary, isFieldSet, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { Code, createService, type MicroService, silentLogger, TsmicroError } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Account, GetAccountRequest, Scope } from "./golden/07-proto2/legacy.js";
import { LegacyServiceDefinition } from "./golden/07-proto2/legacy.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const files = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(LegacyServiceDefinition.fileDescriptorSet, "base64")),
);

function messageDesc(typeName: string): DescMessage {
  const desc = files.getMessage(typeName);
  if (!desc) throw new Error(`${typeName} is not in fixture 07's descriptors`);
  return desc;
}

describe("proto2 required fields in generated code", () => {
  it("writes required fields at their zero values, so a proto2 decoder sees them set", () => {
    const bytes = Scope.encode({ level: 0, status: 0, token: new Uint8Array(0) }).finish();
    const desc = messageDesc("fixtures.legacy.Scope");
    const decoded = fromBinary(desc, bytes);
    for (const field of desc.fields) expect(isFieldSet(decoded, field), field.name).toBe(true);
    const account = fromBinary(
      messageDesc("fixtures.legacy.Account"),
      Account.encode(Account.fromPartial({})).finish(),
    );
    expect(account).toMatchObject({ id: "", createdAt: 0n });
    expect(Account.toJSON(Account.fromPartial({}))).toEqual({ id: "", createdAt: "0" });
  });
});

function unimplemented(): never {
  throw new TsmicroError(Code.UNIMPLEMENTED, "not served here");
}

describe("proto2 required fields through the gateway", () => {
  let dir = "";
  let service: MicroService;
  let gateway: Gateway;
  let url = "";
  const received: GetAccountRequest[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-proto2-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    service = createService({ name: "legacy", args: flags, env: suiteEnv(), logger: silentLogger() });
    service.handle(LegacyServiceDefinition, {
      async getAccount(request) {
        received.push(request);
        return Account.fromPartial({ id: request.id, createdAt: 0n, scope: request.scope });
      },
      // The streaming methods are runtime/src/transport/required-fields.test.ts's.
      watchAccount: unimplemented,
      importAccounts: unimplemented,
      syncAccounts: unimplemented,
    });
    await service.start();
    gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--metrics_address=off"],
      env: suiteEnv(),
      logger: silentLogger(),
      definitions: [LegacyServiceDefinition],
    });
    await gateway.start();
    url = `${gateway.url ?? ""}/legacy/LegacyService/GetAccount`;
  });

  afterAll(async () => {
    await gateway?.stop();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const post = async (body: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(url, { method: "POST", body: JSON.stringify(body) });
    return { status: response.status, json: await response.json() };
  };

  it("carries required fields at their zero values both ways", async () => {
    const answer = await post({ id: "", scope: { level: 0, status: "UNKNOWN", token: "" } });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ id: "", createdAt: "0", scope: { level: 0, status: "UNKNOWN", token: "" } });
    expect(received.at(-1)).toMatchObject({ id: "", scope: { level: 0, status: 0 } });
    expect(received.at(-1)?.scope?.token.length).toBe(0);
  });

  it.each([
    [{}, "id (fixtures.legacy.GetAccountRequest.id)"],
    [{ id: "a", scope: { level: 0, token: "" } }, "scope.status (fixtures.legacy.Scope.status)"],
    [{ id: "a", scope: {} }, "scope.level (fixtures.legacy.Scope.level)"],
  ])("a request %j lacking a required field is a 400 naming it", async (body, named) => {
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message: `the request lacks ${named}, a required field: send it, even at its zero value`,
    });
  });

  it("over gRPC, a request lacking a required field is INVALID_ARGUMENT naming it; zero values pass", async () => {
    const client = new Client(service.address ?? "", credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
    });
    const call = (bytes: Uint8Array): Promise<Account> =>
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(
          LegacyServiceDefinition.methods.getAccount.path,
          (b: Buffer) => b,
          (b: Buffer) => Account.decode(b),
          Buffer.from(bytes),
          (error: ServiceError | null, value?: Account) => (error ? reject(error) : resolve(value as Account)),
        ),
      );
    try {
      // Field 2 (status_filter) alone: id is missing.
      await expect(call(Uint8Array.of(0x10, 0x01))).rejects.toMatchObject({
        code: Code.INVALID_ARGUMENT,
        details:
          "the request lacks id (fixtures.legacy.GetAccountRequest.id), a required field: send it, even at its zero value",
      });
      const zero = GetAccountRequest.encode({ id: "", scope: { level: 0, status: 0, token: new Uint8Array(0) } });
      await expect(call(zero.finish())).resolves.toMatchObject({ id: "", scope: { level: 0, status: 0 } });
    } finally {
      client.close();
    }
  });
});
