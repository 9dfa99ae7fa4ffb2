import {
  Code,
  createMemoryRegistry,
  createService,
  isSetupError,
  silentLogger,
  type MicroService,
} from "@tsmicro/runtime";
import { resolveServiceSettings } from "@tsmicro/runtime/internal";
import { connect } from "node:http2";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Request, Response } from "./golden/10-services/services.js";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

describe("compression and message size flags", () => {
  it("parse in the flag style of the others, with sizes in bytes, KB or MB and gRPC's defaults", () => {
    const defaults = resolveServiceSettings({}, [], {});
    expect(defaults).toMatchObject({
      serverCompression: "identity",
      clientCompression: "identity",
      serverMaxRecvMsgSize: 4 * 1024 * 1024,
      serverMaxSendMsgSize: -1,
      clientMaxRecvMsgSize: 4 * 1024 * 1024,
      clientMaxSendMsgSize: -1,
      clientStreamTimeoutMs: undefined,
    });
    const set = resolveServiceSettings(
      {},
      [
        "--server_compression=gzip",
        "--client_compression=GZIP",
        "--server_max_recv_msg_size=16MB",
        "--server_max_send_msg_size=512KiB",
        "--client_max_send_msg_size=1048576",
        "--client_stream_timeout=1h",
      ],
      { TSMICRO_CLIENT_MAX_RECV_MSG_SIZE: "unlimited" },
    );
    expect(set).toMatchObject({
      serverCompression: "gzip",
      clientCompression: "gzip",
      serverMaxRecvMsgSize: 16 * 1024 * 1024,
      serverMaxSendMsgSize: 512 * 1024,
      clientMaxRecvMsgSize: -1,
      clientMaxSendMsgSize: 1024 * 1024,
      clientStreamTimeoutMs: 3_600_000,
    });
    expect(
      resolveServiceSettings({ clientStreamTimeoutMs: 5_000 }, ["--client_stream_timeout=none"], {}),
    ).toMatchObject({ clientStreamTimeoutMs: undefined });
    for (const bad of ["--server_compression=brotli", "--client_max_recv_msg_size=4 megs"]) {
      let thrown: unknown;
      try {
        resolveServiceSettings({}, [bad], {});
      } catch (error) {
        thrown = error;
      }
      expect(isSetupError(thrown), bad).toBe(true);
      expect((thrown as Error).message).toContain(bad.slice(0, bad.indexOf("=")));
    }
  });
});

describe("createService with --server_compression, --client_compression and message limits", () => {
  const registry = createMemoryRegistry();
  const services: MicroService[] = [];
  let server: MicroService;
  let caller: MicroService;

  const handler: AlphaHandler = {
    // `size:N` answers N zero bytes; the response's sequence is the request payload's length.
    async unary(request) {
      const size = request.id.startsWith("size:") ? Number(request.id.slice(5)) : 0;
      return { id: request.id, payload: new Uint8Array(size), sequence: request.payload.length };
    },
    serverStream: () => {
      throw new Error("unused");
    },
    clientStream: () => {
      throw new Error("unused");
    },
    bidiStream: () => {
      throw new Error("unused");
    },
  };

  beforeAll(async () => {
    server = createService({
      name: "alpha",
      registry,
      args: ["--server_compression=gzip", "--server_max_recv_msg_size=64KB"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    server.handle(AlphaDefinition, handler);
    await server.start();
    caller = createService({
      name: "caller",
      registry,
      args: ["--client_compression=gzip", "--client_max_recv_msg_size=8KB"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    services.push(server, caller);
  });

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await registry.stop();
  });

  it("gzip both ways between two services, within the limits", async () => {
    const alpha = caller.client(AlphaDefinition, "alpha");
    // 60 KB of zeros is far smaller compressed, but the limit counts it uncompressed.
    await expect(alpha.unary({ id: "size:4000", payload: new Uint8Array(60_000) })).resolves.toMatchObject({
      sequence: 60_000,
    });
  });

  it("the server's limit refuses a larger request, the client's a larger response: RESOURCE_EXHAUSTED", async () => {
    const alpha = caller.client(AlphaDefinition, "alpha");
    await expect(alpha.unary({ id: "x", payload: new Uint8Array(70_000) })).rejects.toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
    });
    await expect(alpha.unary({ id: "size:9000" })).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
  });

  it("the server's responses are gzip on the wire for any client", async () => {
    const session = connect(`http://${server.address!}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/fixtures.services.v1.Alpha/Unary",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-accept-encoding": "gzip",
      });
      const message = Request.encode({ id: "size:3000", payload: new Uint8Array() }).finish();
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      Buffer.from(message).copy(frame, 5);
      stream.end(frame);
      let encoding: unknown;
      stream.on("response", (headers) => (encoding = headers["grpc-encoding"]));
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      await new Promise((resolve) => stream.on("close", resolve));
      const body = Buffer.concat(chunks);
      expect(encoding).toBe("gzip");
      expect(body.readUInt8(0)).toBe(1);
      const response = Response.decode(gunzipSync(body.subarray(5, 5 + body.readUInt32BE(1))));
      expect(response.payload.length).toBe(3_000);
    } finally {
      session.close();
    }
  });
});
