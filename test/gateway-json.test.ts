/**
 * Content negotiation and JSON options as grpc-gateway has them (issue 16, item 6), end to end:
 * real HTTP to running gateways, real gRPC to a tsmicro service serving fixture 19's Profiles
 * (test/protos/19-gateway-parity), found through a local registry folder.
 * - `application/json` with or without a charset, as the request's Content-Type and as Accept,
 *   gets the same UTF-8 JSON answer.
 * - `--json_emit_unpopulated` and `--json_use_proto_names` (or createGateway's settings) write
 *   zero values and proto field names, as grpc-gateway's `EmitUnpopulated` and `UseProtoNames`;
 *   by default neither.
 * - A key written twice in one object of a body is refused, as grpc-gateway's protojson does.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createService, type MicroService, silentLogger } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Profile } from "./golden/19-gateway-parity/parity.js";
import { ProfilesDefinition, type ProfilesHandler } from "./golden/19-gateway-parity/parity.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const emptyProfile: Profile = {
  name: "",
  displayName: "",
  address: undefined,
  tags: [],
  labels: {},
  settings: undefined,
  birthday: undefined,
};

describe("gateway content negotiation and JSON options", () => {
  let dir = "";
  let service: MicroService;
  const gateways: Gateway[] = [];
  /** The default gateway, one with both flags on, one with both set through createGateway's settings. */
  let plain = "";
  let flagged = "";
  let embedded = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-json-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    service = createService({ name: "profiles", args: flags, env: suiteEnv(), logger: silentLogger() });
    const handler: ProfilesHandler = {
      async getProfile(request) {
        return { ...emptyProfile, name: request.name, displayName: "Zürich ☕" };
      },
      async updateProfile(request) {
        return { profile: request.profile, updateMask: request.updateMask };
      },
      async deleteProfile() {
        throw new Error("not used");
      },
      async listProfiles() {
        return { profiles: [] };
      },
      async createProfile(request) {
        return request.profile ?? emptyProfile;
      },
      async annotate() {
        return { metadata: {}, index: 0 };
      },
      async *streamAnnotated() {},
    };
    service.handle(ProfilesDefinition, handler);
    await service.start();
    const start = async (args: string[], settings = {}): Promise<string> => {
      const gateway = createGateway({
        args: [...flags, "--address=127.0.0.1:0", "--metrics_address=off", ...args],
        env: suiteEnv(),
        logger: silentLogger(),
        definitions: [ProfilesDefinition],
        settings,
      });
      gateways.push(gateway);
      await gateway.start();
      return gateway.url ?? "";
    };
    plain = await start([]);
    flagged = await start(["--json_emit_unpopulated=on", "--json_use_proto_names=on"]);
    embedded = await start([], { jsonEmitUnpopulated: true, jsonUseProtoNames: true });
  });

  afterAll(async () => {
    for (const gateway of gateways) await gateway.stop();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["application/json", "application/json"],
    ["application/json; charset=utf-8", "application/json; charset=utf-8"],
    ["application/json;charset=UTF-8", "application/json"],
    ["application/json", "application/json;charset=UTF-8"],
  ])("Content-Type %s with Accept %s: the body is read and the answer is UTF-8 JSON", async (type, accept) => {
    const body = Buffer.from(JSON.stringify({ name: "p1", displayName: "Gödel ✓" }), "utf8");
    const response = await fetch(`${plain}/v1/profiles`, {
      method: "POST",
      headers: { "content-type": type, accept },
      body,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json(; ?charset=utf-8)?$/i);
    expect(await response.json()).toEqual({ name: "p1", displayName: "Gödel ✓" });
  });

  it("GET with Accept: application/json, with or without charset, answers the same JSON", async () => {
    for (const accept of ["application/json", "application/json; charset=utf-8"]) {
      const response = await fetch(`${plain}/v1/profiles/p2`, { headers: { accept } });
      expect(response.status, accept).toBe(200);
      expect(response.headers.get("content-type"), accept).toMatch(/^application\/json/);
      expect(await response.json(), accept).toEqual({ name: "profiles/p2", displayName: "Zürich ☕" });
    }
  });

  it("by default leaves zero values out and writes lowerCamel names", async () => {
    const answer = await (await fetch(`${plain}/v1/profiles/p3`)).json();
    expect(answer).toEqual({ name: "profiles/p3", displayName: "Zürich ☕" });
  });

  it.each([
    ["flags --json_emit_unpopulated=on --json_use_proto_names=on", () => flagged],
    ["createGateway settings jsonEmitUnpopulated, jsonUseProtoNames", () => embedded],
  ])("with %s: zero values written, proto field names", async (_how, url) => {
    const answer = await (await fetch(`${url()}/v1/profiles/p4`)).json();
    expect(answer).toEqual({ name: "profiles/p4", display_name: "Zürich ☕", tags: [], labels: {} });
    const updated = await fetch(`${url()}/v1/profiles/p5`, {
      method: "PATCH",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ display_name: "Ada" }),
    });
    expect(await updated.json()).toEqual({
      profile: { name: "profiles/p5", display_name: "Ada", tags: [], labels: {} },
      update_mask: "displayName",
    });
  });

  it.each([
    // The fast transcoder's path: plain fields.
    ["a field", "/v1/profiles", '{"name":"a","displayName":"x","name":"b"}', "name"],
    // protobuf-es's path: a Struct's and a map's keys, as protojson refuses a duplicate map key.
    ["a Struct's key", "/v1/profiles", '{"name":"a","settings":{"k":1,"k":2}}', "k"],
    ["a map's key", "/v1/profiles", '{"labels":{"env":"a","env":"b"}}', "env"],
    [
      "a field of /rpc's request",
      "/rpc",
      '{"service":"profiles","method":"Profiles.Annotate","request":{"count":1,"count":2}}',
      "count",
    ],
  ])(
    "refuses %s written twice: 400 naming it, as grpc-gateway does, where JSON.parse kept the last",
    async (_what, path, body, key) => {
      const response = await fetch(`${plain}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(400);
      const answer = (await response.json()) as { code: number; message: string };
      expect(answer.code).toBe(3);
      expect(answer.message).toMatch(
        new RegExp(
          `^the request body has the key "${key}" twice in one object, at line 1, column \\d+ and first at line 1, column \\d+; only one would count: send it once$`,
        ),
      );
    },
  );

  it("refuses a flag value that is not on or off, naming the flag", () => {
    expect(() =>
      createGateway({ args: ["--json_use_proto_names=yes"], env: suiteEnv(), logger: silentLogger() }),
    ).toThrow(/--json_use_proto_names.*"yes".*use on or off/);
  });
});
