import { connect, createServer, type ServerHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Request, Response } from "../../../test/golden/10-services/services.js";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { createDirectCaller } from "../client/direct-caller.js";
import { createRpcCaller } from "../client/rpc-client.js";
import type { Compression } from "../definition/call.js";
import { createClient } from "../definition/client.js";
import { Code } from "../errors/tsmicro-error.js";
import { silentLogger } from "../logging/logger.js";
import type { Selector } from "../selector/selector.js";
import type { GrpcClientTransportOptions } from "./grpc-client.js";
import type { GrpcServerTransportOptions } from "./grpc-server.js";
import { pairs, transports, use } from "./testdata/transport-pairs.js";
import type { ServerCall } from "./transport.js";

const cleanups: (() => Promise<void>)[] = [];
/** How many calls the servers' handler has run. */
let handled = 0;
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Unary Alpha answering `size:N` with N zero bytes of payload, and echoing the
 * request's payload length; a `gzip/` or `identity/` prefix sets the call's compression.
 */
async function echo(call: ServerCall): Promise<Response> {
  handled++;
  const request = call.request as Request;
  const [compression, id] = request.id.includes("/") ? request.id.split("/") : [undefined, request.id];
  if (compression === "gzip" || compression === "identity") call.context.setCompression(compression);
  const size = id!.startsWith("size:") ? Number(id!.slice(5)) : 0;
  return { id: request.id, payload: new Uint8Array(size), sequence: request.payload.length };
}

async function startServer(options: GrpcServerTransportOptions = {}): Promise<string> {
  const server = transports.server({ logger: silentLogger(), ...options });
  server.add(AlphaDefinition, echo as (call: ServerCall) => Promise<unknown>);
  const address = await server.listen("127.0.0.1:0");
  cleanups.push(() => server.stop(0));
  return address;
}

function clientOf(address: string, options: GrpcClientTransportOptions = {}) {
  const transport = transports.client(options);
  cleanups.push(() => transport.close());
  return createClient(AlphaDefinition, createDirectCaller({ transport, address }));
}

/** One length-prefixed gRPC message; gzip-compressed with flag 1 when asked. */
function frame(message: Uint8Array, gzip: boolean): Buffer {
  const body = gzip ? gzipSync(message) : Buffer.from(message);
  const header = Buffer.alloc(5);
  header.writeUInt8(gzip ? 1 : 0, 0);
  header.writeUInt32BE(body.byteLength, 1);
  return Buffer.concat([header, body]);
}

/** The message of one frame, whichever its compression. */
function unframe(bytes: Buffer): { compressed: boolean; message: Buffer } {
  const compressed = bytes.readUInt8(0) === 1;
  const body = bytes.subarray(5, 5 + bytes.readUInt32BE(1));
  return { compressed, message: compressed ? gunzipSync(body) : body };
}

/** A bare HTTP/2 gRPC server that records how each request arrived and answers OK. */
async function startRecordingServer() {
  const received: { encoding: string | undefined; compressed: boolean; request: Request }[] = [];
  const server = createServer();
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const { compressed, message } = unframe(Buffer.concat(chunks));
      received.push({
        encoding: headers["grpc-encoding"] as string | undefined,
        compressed,
        request: Request.decode(message),
      });
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame(Response.encode({ id: "ok", payload: new Uint8Array(), sequence: 0 }).finish(), false));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { address: `127.0.0.1:${port}`, received };
}

/** Calls Alpha/Unary with a bare HTTP/2 client; returns the response's encoding header and its one frame. */
async function rawUnary(address: string, request: Request, gzipRequest: boolean) {
  const session = connect(`http://${address}`);
  cleanups.push(() => new Promise<void>((resolve) => session.close(() => resolve())));
  const stream = session.request({
    ":method": "POST",
    ":path": "/fixtures.services.v1.Alpha/Unary",
    "content-type": "application/grpc",
    te: "trailers",
    "grpc-accept-encoding": "identity,gzip",
    ...(gzipRequest ? { "grpc-encoding": "gzip" } : {}),
  });
  stream.end(frame(Request.encode(request).finish(), gzipRequest));
  const chunks: Buffer[] = [];
  let encoding: string | undefined;
  let status: string | undefined;
  stream.on("response", (headers) => (encoding = headers["grpc-encoding"] as string | undefined));
  stream.on("trailers", (trailers) => (status = trailers["grpc-status"] as string | undefined));
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => stream.on("close", resolve));
  const { compressed, message } = unframe(Buffer.concat(chunks));
  return { encoding, status, compressed, response: Response.decode(message) };
}

describe.each(pairs)("%s client, %s server", (client, server) => {
  beforeAll(() => {
    use(client, server);
  });

  describe("gzip on the wire", () => {
    it("the client compresses requests per call, or by default, and a call can opt out", async () => {
      const { address, received } = await startRecordingServer();
      const payload = new Uint8Array(2_000);
      const plain = clientOf(address);
      await plain.unary({ id: "plain", payload });
      await plain.unary({ id: "per call", payload }, { compression: "gzip" });
      const gzipped = clientOf(address, { compression: "gzip" });
      await gzipped.unary({ id: "default", payload });
      await gzipped.unary({ id: "opted out", payload }, { compression: "identity" satisfies Compression });
      expect(received.map((r) => [r.request.id, r.encoding ?? "identity", r.compressed])).toEqual([
        ["plain", "identity", false],
        ["per call", "gzip", true],
        ["default", "gzip", true],
        ["opted out", "identity", false],
      ]);
      expect(received.every((r) => r.request.payload.length === 2_000)).toBe(true);
    });

    it("a gzip server compresses responses and reads gzip requests from any client", async () => {
      const address = await startServer({ compression: "gzip" });
      const raw = await rawUnary(address, { id: "size:5000", payload: new Uint8Array(3_000) }, true);
      expect(raw).toMatchObject({ encoding: "gzip", status: "0", compressed: true });
      expect(raw.response.payload.length).toBe(5_000);
      expect(raw.response.sequence).toBe(3_000);
      // The client under test reads it too.
      await expect(clientOf(address).unary({ id: "size:5000" })).resolves.toMatchObject({ id: "size:5000" });
    });

    it("a server without compression answers uncompressed, even to a gzip request", async () => {
      const address = await startServer();
      const raw = await rawUnary(address, { id: "size:10", payload: new Uint8Array(100) }, true);
      expect(raw).toMatchObject({ status: "0", compressed: false });
      expect(raw.encoding ?? "identity").toBe("identity");
      expect(raw.response.sequence).toBe(100);
    });

    it("a handler sets its call's compression over the server's: setCompression", async () => {
      const plain = await startServer();
      const upgraded = await rawUnary(plain, { id: "gzip/size:2000", payload: new Uint8Array() }, false);
      expect(upgraded).toMatchObject({ encoding: "gzip", status: "0", compressed: true });
      expect(upgraded.response.payload.length).toBe(2_000);
      const gzipped = await startServer({ compression: "gzip" });
      const downgraded = await rawUnary(gzipped, { id: "identity/size:2000", payload: new Uint8Array() }, false);
      expect(downgraded).toMatchObject({ status: "0", compressed: false });
      expect(downgraded.encoding ?? "identity").toBe("identity");
    });
  });

  describe("message size limits", () => {
    it("server and client limits fail oversized messages with RESOURCE_EXHAUSTED, each way", async () => {
      const small = await startServer({ maxReceiveMessageBytes: 1_024, maxSendMessageBytes: 1_024 });
      const client = clientOf(small);
      await expect(client.unary({ id: "x", payload: new Uint8Array(2_000) })).rejects.toMatchObject({
        code: Code.RESOURCE_EXHAUSTED,
      });
      await expect(client.unary({ id: "size:2000" })).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
      await expect(client.unary({ id: "size:100", payload: new Uint8Array(100) })).resolves.toMatchObject({
        sequence: 100,
      });

      const open = await startServer();
      const strict = clientOf(open, { maxReceiveMessageBytes: 1_024, maxSendMessageBytes: 1_024 });
      await expect(strict.unary({ id: "size:2000" })).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
      await expect(strict.unary({ id: "x", payload: new Uint8Array(2_000) })).rejects.toMatchObject({
        code: Code.RESOURCE_EXHAUSTED,
      });
    });

    it("a message far over the other side's limit fails RESOURCE_EXHAUSTED, and the client's next calls go through", async () => {
      const address = await startServer();
      const client = clientOf(address);
      // 12 MiB is over node's HTTP/2 session memory allowance (10 MB), which once refused the answer.
      for (const size of [5 * 1024 * 1024, 12 * 1024 * 1024]) {
        const error = await client.unary({ id: "x", payload: new Uint8Array(size) }).catch((e: unknown) => e);
        expect(error, String(error)).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
        // The size, the limit and the flag that sets it, whichever transport; none of grpc-js's own words.
        expect((error as Error).message).toMatch(
          new RegExp(`\\b${size + 8} bytes.* limit of 4194304 \\(--server_max_recv_msg_size\\b`),
        );
        await expect(client.unary({ id: "size:10" })).resolves.toMatchObject({ id: "size:10" });
      }
      const together = await Promise.all(
        [1, 2, 3].map(() =>
          client.unary({ id: "x", payload: new Uint8Array(6 * 1024 * 1024) }).catch((e: unknown) => e),
        ),
      );
      for (const error of together) expect(error, String(error)).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
      await expect(client.unary({ id: "size:10" })).resolves.toMatchObject({ id: "size:10" });
      // And the other way: answers over the client's limit.
      for (const size of [5 * 1024 * 1024, 12 * 1024 * 1024]) {
        const error = await client.unary({ id: `size:${size}` }).catch((e: unknown) => e);
        expect(error, String(error)).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
        expect((error as Error).message).toMatch(/ limit of 4194304 \(.*--client_max_recv_msg_size\b/);
        await expect(client.unary({ id: "size:10" })).resolves.toMatchObject({ id: "size:10" });
      }
    });

    it("a message over a size limit is never sent to another node: a method with side effects runs once", async () => {
      const nodes = await Promise.all(
        ["a", "b", "c"].map(async (id) => ({ id, address: await startServer(), metadata: {} })),
      );
      const selector: Selector = {
        select: async (_service, options) => () => nodes.find((n) => !options?.exclude?.has(n.id)) ?? nodes[0]!,
        mark: () => {},
        start: async () => {},
        stop: async () => {},
      };
      const transport = transports.client({ maxReceiveMessageBytes: 1_024 });
      cleanups.push(() => transport.close());
      // Alpha.Unary has side effects (idempotency unknown); two retries are allowed.
      const client = createClient(AlphaDefinition, createRpcCaller("alpha", { selector, transport, retries: 2 }));
      handled = 0;
      // The answer is over the client's limit: node a has run the call, and no other node runs it again.
      const answer = await client.unary({ id: "size:2000" }).catch((e: unknown) => e);
      expect(answer, String(answer)).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, retryable: false });
      expect(handled).toBe(1);
      // The request is over the server's limit: the same on every node, so not sent again.
      const small = await startServer({ maxReceiveMessageBytes: 1_024 });
      nodes.splice(0, 3, ...["d", "e"].map((id) => ({ id, address: small, metadata: {} })));
      handled = 0;
      const request = await client.unary({ id: "x", payload: new Uint8Array(2_000) }).catch((e: unknown) => e);
      expect(request, String(request)).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, retryable: false });
      expect(handled).toBe(0);
    });

    it("messages of tens of MiB pass both ways where the limits allow them", async () => {
      const big = 24 * 1024 * 1024;
      const limits = { maxReceiveMessageBytes: 64 * 1024 * 1024 };
      const client = clientOf(await startServer(limits), limits);
      const echoed = await client.unary({ id: `size:${big}`, payload: new Uint8Array(big).fill(7) });
      expect(echoed.payload.length).toBe(big);
      expect(echoed.sequence).toBe(big);
    });

    it("the default is gRPC's: 4 MiB received, no limit sent", async () => {
      const address = await startServer();
      const client = clientOf(address);
      const justUnder = 4 * 1024 * 1024 - 64;
      await expect(client.unary({ id: `size:${justUnder}` })).resolves.toMatchObject({ id: `size:${justUnder}` });
      await expect(client.unary({ id: "x", payload: new Uint8Array(4 * 1024 * 1024 + 1) })).rejects.toMatchObject({
        code: Code.RESOURCE_EXHAUSTED,
      });
    });
  });
});
