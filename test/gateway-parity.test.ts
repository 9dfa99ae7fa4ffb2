/**
 * The gateway where grpc-gateway users notice differences (issue 16, items 1-4), end to end:
 * real HTTP to a running gateway, real gRPC to a tsmicro service serving fixture 19's Profiles
 * (test/protos/19-gateway-parity), found through a local registry folder.
 * - PATCH fills an absent update mask from the fields the body sets; a mask in the query is
 *   taken in proto field names or lowerCamel.
 * - A path routed only under other methods answers 405 with `Allow`.
 * - Response header metadata comes back as `Grpc-Metadata-*`, trailer metadata as
 *   `Grpc-Trailer-*` (HTTP trailers for a client that sent `TE: trailers`); a request header
 *   gRPC cannot carry is dropped, not refused.
 * - Every 401 carries `WWW-Authenticate`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import http, { type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Code,
  createService,
  type CallContext,
  type Logger,
  type Metadata,
  type MicroService,
  silentLogger,
  TsmicroError,
} from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnnotateRequest, AnnotateResponse, Profile } from "./golden/19-gateway-parity/parity.js";
import { ProfilesDefinition, type ProfilesHandler } from "./golden/19-gateway-parity/parity.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const secret = "a-shared-secret-of-at-least-32-bytes!!";

/** An HTTP answer read to the end, with its trailers. */
interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly trailers: NodeJS.Dict<string>;
  readonly json: unknown;
}

/** Sends one request over node:http, which (unlike fetch) sends `TE` and reads trailers. */
function send(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
    });
    request.on("error", reject);
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          // An NDJSON stream becomes an array of its lines.
          const json = (response.headers["content-type"] ?? "").startsWith("application/json")
            ? (JSON.parse(text) as unknown)
            : text
                .trim()
                .split("\n")
                .map((line) => JSON.parse(line) as unknown);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, trailers: response.trailers, json });
        } catch (error) {
          reject(error);
        }
      });
    });
    request.end(body);
  });
}

/** Metadata from a map of strings: `-bin` keys take base64 values. */
function metadataOf(values: Readonly<Record<string, string>>): Metadata {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, key.endsWith("-bin") ? Buffer.from(value, "base64") : value]),
  );
}

function textOf(value: Metadata[string]): string {
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("base64"))).join(", ");
}

/** What Annotate answers: the request's `x-` metadata, as the service received it. */
function annotation(request: AnnotateRequest, context: CallContext, index: number): AnnotateResponse {
  context.setTrailer(metadataOf(request.trailers));
  const metadata = Object.fromEntries(
    Object.entries(context.metadata)
      .filter(([key]) => key.startsWith("x-"))
      .map(([key, value]) => [key, textOf(value)]),
  );
  return { metadata, index };
}

describe("grpc-gateway parity: field masks, 405, metadata both ways, WWW-Authenticate", () => {
  let dir = "";
  let service: MicroService;
  let gateway: Gateway;
  let base = "";
  let flags: string[] = [];
  /** The update masks UpdateProfile received, in order. */
  const masks: (string[] | undefined)[] = [];
  /** What the gateway logged at debug level. */
  const debugLines: { fields: object | string; message: string | undefined }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-parity-"));
    flags = ["--registry=local", `--registry_address=${dir}`];
    service = createService({ name: "profiles", args: flags, env: suiteEnv(), logger: silentLogger() });
    const profile = (name: string): Profile => ({
      name,
      displayName: "",
      address: undefined,
      tags: [],
      labels: {},
      settings: undefined,
      birthday: undefined,
    });
    const handler: ProfilesHandler = {
      async getProfile(request) {
        return profile(request.name);
      },
      async updateProfile(request) {
        masks.push(request.updateMask);
        return { profile: request.profile, updateMask: request.updateMask };
      },
      async deleteProfile(request) {
        return profile(request.name);
      },
      async listProfiles() {
        return { profiles: [] };
      },
      async createProfile(request) {
        if (request.profile === undefined) throw new TsmicroError(Code.INVALID_ARGUMENT, "profile is required");
        return request.profile;
      },
      async annotate(request, context) {
        context.setHeader(metadataOf(request.headers));
        const answer = annotation(request, context, 0);
        if (request.code !== 0) throw new TsmicroError(request.code as Code, request.message);
        return answer;
      },
      async *streamAnnotated(request, context) {
        context.setHeader(metadataOf(request.headers));
        for (let i = 0; i < request.count; i++) yield annotation(request, context, i);
      },
    };
    service.handle(ProfilesDefinition, handler);
    await service.start();

    const recording: Logger = {
      trace() {},
      debug(fields, message) {
        debugLines.push({ fields, message });
      },
      info() {},
      warn() {},
      error() {},
      child: () => recording,
    };
    gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--metrics_address=off"],
      env: suiteEnv(),
      logger: recording,
      definitions: [ProfilesDefinition],
      jwt: { secret, issuer: "parity-tests" },
      routes: [{ match: "fixtures.parity.v1.Profiles.DeleteProfile", auth: true }],
    });
    await gateway.start();
    base = gateway.url ?? "";
  });

  afterAll(async () => {
    await gateway?.stop();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe("PATCH and field masks", () => {
    it("fills an absent update mask from the body: nested messages, Struct keys, lists, maps and well-known types", async () => {
      const answer = await send(base, "PATCH", "/v1/profiles/p1", {
        body: {
          displayName: "Ada",
          address: { city: "Zürich", geo: { lat: 47.4 } },
          tags: ["a"],
          labels: { team: "core" },
          settings: { theme: { color: "dark", layered: { depth: 2 } }, beta: true },
          birthday: "1990-12-10T00:00:00Z",
        },
      });
      expect(answer.status).toBe(200);
      const paths = [
        "address.city",
        "address.geo.lat",
        "birthday",
        "display_name",
        "labels",
        "settings.beta",
        "settings.theme.color",
        "settings.theme.layered.depth",
        "tags",
      ];
      expect(masks.at(-1)).toEqual(paths);
      expect(answer.json).toMatchObject({
        profile: { name: "profiles/p1", displayName: "Ada", address: { city: "Zürich", geo: { lat: 47.4 } } },
        updateMask:
          "address.city,address.geo.lat,birthday,displayName,labels,settings.beta,settings.theme.color,settings.theme.layered.depth,tags",
      });
    });

    it("takes body keys in proto names, and an empty message or null as a whole field", async () => {
      const answer = await send(base, "PATCH", "/v1/profiles/p2", {
        body: { display_name: "Grace", address: {}, birthday: null },
      });
      expect(answer.status).toBe(200);
      expect(masks.at(-1)).toEqual(["address", "birthday", "display_name"]);
    });

    it("keeps a mask sent in the query, in proto field names or lowerCamel", async () => {
      const body = { displayName: "Ada", address: { city: "Bern", zipCode: "3000" }, tags: ["b"] };
      for (const query of ["update_mask=address.zip_code,display_name", "updateMask=address.zipCode,displayName"]) {
        const answer = await send(base, "PATCH", `/v1/profiles/p3?${query}`, { body });
        expect(answer.status, query).toBe(200);
        expect(masks.at(-1), query).toEqual(["address.zip_code", "display_name"]);
        expect(answer.json).toMatchObject({ updateMask: "address.zipCode,displayName" });
      }
    });

    it("sends an empty mask for an empty body, and refuses a body field the message lacks with 400", async () => {
      expect((await send(base, "PATCH", "/v1/profiles/p4", { body: {} })).status).toBe(200);
      expect(masks.at(-1)).toEqual([]);
      const refused = await send(base, "PATCH", "/v1/profiles/p4", { body: { nickname: "x" } });
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /nickname/ });
    });
  });

  describe("empty bodies", () => {
    it("calls with an empty body as grpc-gateway does: no fields set for body *, the body field unset", async () => {
      // An empty body is `{}` to grpc-gateway (its decoder's io.EOF is no error): the call is made.
      const annotated = await send(base, "POST", "/v1/annotate");
      expect(annotated.status).toBe(200);
    });

    it("says in the service's refusal of a call made without a body that it was empty, and what the route takes", async () => {
      const message =
        "profile is required; the request body was empty, so CreateProfile was called without profile: " +
        "POST /v1/profiles takes a JSON object of fixtures.parity.v1.Profile's fields " +
        "(name, displayName, address, tags, labels, settings, birthday) as its body";
      for (const headers of [{}, { "content-type": "application/json" }] as Record<string, string>[]) {
        const refused = await send(base, "POST", "/v1/profiles", { headers });
        expect(refused.status).toBe(400);
        expect(refused.json).toMatchObject({ code: Code.INVALID_ARGUMENT, message });
      }
      // A body that was sent stays the service's refusal alone.
      const withBody = await send(base, "POST", "/v1/annotate", {
        body: { code: Code.INVALID_ARGUMENT, message: "no" },
      });
      expect(withBody.json).toMatchObject({ code: Code.INVALID_ARGUMENT, message: "no" });
    });
  });

  describe("method mismatch", () => {
    it.each([
      // Every GET route takes HEAD (RFC 9110), so Allow names it too.
      ["PUT", "/v1/profiles/p1", "DELETE, GET, HEAD, PATCH"],
      ["POST", "/v1/profiles/p1", "DELETE, GET, HEAD, PATCH"],
      ["DELETE", "/v1/profiles", "GET, HEAD, POST"],
      ["PATCH", "/v1/profiles", "GET, HEAD, POST"],
      ["GET", "/v1/annotate", "POST"],
      ["GET", "/rpc", "POST"],
    ])("%s %s answers 405 with Allow: %s", async (method, path, allow) => {
      const answer = await send(base, method, path);
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe(allow);
      expect(answer.json).toMatchObject({
        code: Code.UNIMPLEMENTED,
        message: `${method} is not allowed on ${path}; it takes ${allow}`,
      });
    });

    it("still answers 404 for a path no method routes, and 200 under the right method", async () => {
      const missing = await send(base, "GET", "/v1/nowhere");
      expect(missing.status).toBe(404);
      expect(missing.headers.allow).toBeUndefined();
      expect((await send(base, "GET", "/v1/profiles")).status).toBe(200);
      expect((await send(base, "POST", "/v1/profiles", { body: { name: "profiles/new" } })).status).toBe(200);
    });
  });

  describe("metadata both ways", () => {
    const asked = {
      headers: { "x-color": "blue", "x-blob-bin": "AQL+/w==" },
      trailers: { "x-done": "yes", "x-sum-bin": "/w==" },
    };

    it("answers header metadata as Grpc-Metadata-* and trailer metadata as Grpc-Trailer-* headers", async () => {
      const answer = await send(base, "POST", "/v1/annotate", { body: asked });
      expect(answer.status).toBe(200);
      expect(answer.headers).toMatchObject({
        "grpc-metadata-x-color": "blue",
        "grpc-metadata-x-blob-bin": "AQL+/w==",
        "grpc-trailer-x-done": "yes",
        "grpc-trailer-x-sum-bin": "/w==",
      });
      // gRPC's and HTTP/2's own keys stay behind.
      const names = Object.keys(answer.headers).filter((n) => n.startsWith("grpc-"));
      expect(names.sort()).toEqual([
        "grpc-metadata-x-blob-bin",
        "grpc-metadata-x-color",
        "grpc-trailer-x-done",
        "grpc-trailer-x-sum-bin",
      ]);
      expect(answer.trailers).toEqual({});
    });

    it("names the metadata headers in Access-Control-Expose-Headers of a cross-origin answer, so a page's script reads them", async () => {
      const cors = createGateway({
        args: [...flags, "--address=127.0.0.1:0", "--metrics_address=off", "--cors_origins=https://app.example.com"],
        env: suiteEnv(),
        logger: silentLogger(),
      });
      await cors.start();
      try {
        const origin = { Origin: "https://app.example.com" };
        const exposed = (answer: Answer) => String(answer.headers["access-control-expose-headers"]).split(/,\s*/);
        const unary = await send(cors.url!, "POST", "/v1/annotate", { body: asked, headers: origin });
        expect(unary.status).toBe(200);
        expect(exposed(unary)).toEqual(
          expect.arrayContaining(["grpc-metadata-x-color", "grpc-metadata-x-blob-bin", "grpc-trailer-x-done"]),
        );
        const stream = await send(cors.url!, "POST", "/v1/annotate:stream", {
          body: { ...asked, count: 1 },
          headers: origin,
        });
        // A stream's trailer metadata goes as trailers only: its header metadata is named.
        expect(exposed(stream)).toEqual(expect.arrayContaining(["grpc-metadata-x-color", "grpc-metadata-x-blob-bin"]));
      } finally {
        await cors.stop();
      }
    });

    it("sends trailer metadata as HTTP trailers to a client that sent TE: trailers", async () => {
      const answer = await send(base, "POST", "/v1/annotate", { body: asked, headers: { TE: "trailers" } });
      expect(answer.status).toBe(200);
      expect(answer.headers["grpc-metadata-x-color"]).toBe("blue");
      expect(answer.headers["grpc-trailer-x-done"]).toBeUndefined();
      expect(answer.trailers).toEqual({ "grpc-trailer-x-done": "yes", "grpc-trailer-x-sum-bin": "/w==" });
    });

    it("forwards a failed call's metadata with its error", async () => {
      // As a service passing on another's failure sends it: tsmicro's own key naming that service stays behind.
      const trailers = { ...asked.trailers, "tsmicro-failed-service": "ledger" };
      const answer = await send(base, "POST", "/v1/annotate", {
        body: { ...asked, trailers, code: Code.FAILED_PRECONDITION, message: "not now" },
      });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ code: Code.FAILED_PRECONDITION, message: "not now" });
      expect(answer.headers).toMatchObject({ "grpc-trailer-x-done": "yes", "grpc-trailer-x-sum-bin": "/w==" });
      expect(answer.headers).not.toHaveProperty(["grpc-trailer-tsmicro-failed-service"]);
    });

    it("streams with header metadata as headers and trailer metadata as trailers", async () => {
      const answer = await send(base, "POST", "/v1/annotate:stream", {
        body: { ...asked, count: 2 },
        headers: { TE: "trailers" },
      });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/x-ndjson");
      expect(answer.headers["grpc-metadata-x-color"]).toBe("blue");
      const metadata = { "x-forwarded-for": "127.0.0.1" };
      expect(answer.json).toEqual([{ result: { metadata } }, { result: { metadata, index: 1 } }]);
      expect(answer.trailers).toEqual({ "grpc-trailer-x-done": "yes", "grpc-trailer-x-sum-bin": "/w==" });
    });

    it("drops a request header gRPC cannot carry (non-ASCII) with a debug line, and forwards the rest", async () => {
      const answer = await send(base, "POST", "/v1/annotate", {
        body: {},
        headers: { "Grpc-Metadata-X-City": "Zürich", "Grpc-Metadata-X-Ok": "1" },
      });
      expect(answer.status).toBe(200);
      const metadata = (answer.json as { metadata: Record<string, string> }).metadata;
      expect(metadata["x-ok"]).toBe("1");
      expect(metadata).not.toHaveProperty("x-city");
      expect(debugLines.map((line) => line.fields)).toContainEqual(
        expect.objectContaining({ header: "grpc-metadata-x-city" }),
      );
    });
  });

  describe("WWW-Authenticate on 401", () => {
    const token = (issuer: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("ada")
        .setIssuer(issuer)
        .setExpirationTime("5m")
        .sign(new TextEncoder().encode(secret));

    it("challenges a request without a token on a route that needs one", async () => {
      const answer = await send(base, "DELETE", "/v1/profiles/p1");
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="api"');
      expect(answer.json).toMatchObject({ code: Code.UNAUTHENTICATED, message: /missing Authorization header/ });
    });

    it("names an invalid token in the challenge (RFC 6750)", async () => {
      const answer = await send(base, "DELETE", "/v1/profiles/p1", {
        headers: { authorization: `Bearer ${await token("someone-else")}` },
      });
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe(
        `Bearer realm="api", error="invalid_token", error_description="the token's issuer (iss claim) is not accepted"`,
      );
      const admitted = await send(base, "DELETE", "/v1/profiles/p1", {
        headers: { authorization: `Bearer ${await token("parity-tests")}` },
      });
      expect(admitted.status).toBe(200);
      expect(admitted.headers["www-authenticate"]).toBeUndefined();
    });

    it("challenges when the backend answers UNAUTHENTICATED, with the backend's own challenge when it sends one", async () => {
      const plain = await send(base, "POST", "/v1/annotate", {
        body: { code: Code.UNAUTHENTICATED, message: "who are you?" },
      });
      expect(plain.status).toBe(401);
      expect(plain.headers["www-authenticate"]).toBe('Bearer realm="api"');
      expect(plain.json).toMatchObject({ code: Code.UNAUTHENTICATED, message: "who are you?" });

      const own = await send(base, "POST", "/v1/annotate", {
        body: { code: Code.UNAUTHENTICATED, trailers: { "www-authenticate": 'Basic realm="profiles"' } },
      });
      expect(own.status).toBe(401);
      expect(own.headers["www-authenticate"]).toBe('Basic realm="profiles"');
    });
  });
});
