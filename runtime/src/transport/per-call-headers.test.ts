import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream, sensitiveHeaders } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { createGrpcClientTransport } from "./grpc-client.js";
import { createH2ClientTransport } from "./h2-client.js";
import type { ClientTransport } from "./transport.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each<[string, () => ClientTransport]>([
  ["h2", () => createH2ClientTransport()],
  ["grpc-js", () => createGrpcClientTransport()],
])("the %s client", (_name, createClient) => {
  it("sends the deadline and trace context without HPACK indexing, and metadata that repeats indexed", async () => {
    // A plain HTTP/2 server: it sees how each header came (Node lists the never-indexed ones) and answers an empty message.
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer();
    server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      seen.push(headers);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.alloc(5));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const client = createClient();
    cleanups.push(() => client.close());
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (let i = 0; i < 2; i++) {
      await client.call(address, {
        service: "alpha",
        method: AlphaDefinition.methods.unary,
        request: { id: "x", payload: new Uint8Array() },
        metadata: { traceparent: `00-${"1".repeat(32)}-${String(i + 1).repeat(16)}-01`, tenant: "acme" },
        deadline: new Date(Date.now() + 5_000),
        signal: undefined,
      });
    }
    expect(
      seen.map((headers) => [...((headers as Record<symbol, unknown>)[sensitiveHeaders] as string[])].sort()),
    ).toEqual([
      ["grpc-timeout", "traceparent"],
      ["grpc-timeout", "traceparent"],
    ]);
    expect(seen[1]).toMatchObject({ tenant: "acme", traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01` });
  });
});
