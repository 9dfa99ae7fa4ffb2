import { silentLogger, type CallContext, type Caller, type MethodDefinition } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import type { Chunk, Request, Response, UploadSummary } from "./golden/10-services/services.js";
import { AlphaDefinition, createAlphaClient, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { FunctionDefinition, createFunctionClient } from "./golden/11-reserved-names/default/v1/names.micro.js";
import { LibraryServiceDefinition } from "./golden/12-http/http.micro.js";

/**
 * A caller that puts every message through the codecs, as the wire would,
 * and hands it to a handler: generated client -> bytes -> generated handler.
 */
function loopback(handler: object): Caller {
  const context = (method: MethodDefinition): CallContext => ({
    method,
    metadata: {},
    deadline: undefined,
    signal: new AbortController().signal,
    peer: "loopback",
    logger: silentLogger(),
    responseHeader: {},
    responseTrailer: {},
    setHeader: () => {},
    sendHeader: () => {},
    setTrailer: () => {},
    setCompression: () => {},
  });
  const wire = <T>(codec: MethodDefinition<T, T>["input"], message: T): T =>
    codec.decode(codec.encode(message).finish());
  const serve = (method: MethodDefinition) =>
    (handler as Record<string, (...args: unknown[]) => unknown>)[localName(method)]!.bind(handler);
  const localName = (method: MethodDefinition) =>
    Object.entries(AlphaDefinition.methods).find(([, m]) => m.path === method.path)?.[0] ?? "";
  async function* wireAll<T>(codec: MethodDefinition<T, T>["input"], items: AsyncIterable<T>): AsyncIterable<T> {
    for await (const item of items) yield wire(codec, item);
  }
  return {
    async unary(method, request, options) {
      void options;
      return wire(method.output, await (serve(method)(wire(method.input, request), context(method)) as Promise<never>));
    },
    serverStreaming(method, request) {
      return wireAll(
        method.output,
        serve(method)(wire(method.input, request), context(method)) as AsyncIterable<never>,
      );
    },
    async clientStreaming(method, requests) {
      return wire(
        method.output,
        await (serve(method)(wireAll(method.input, requests), context(method)) as Promise<never>),
      );
    },
    bidiStreaming(method, requests) {
      return wireAll(
        method.output,
        serve(method)(wireAll(method.input, requests), context(method)) as AsyncIterable<never>,
      );
    },
  };
}

const handler: AlphaHandler = {
  async unary(request: Request): Promise<Response> {
    return { id: request.id.toUpperCase(), payload: request.payload, sequence: 1 };
  },
  async *serverStream(request: Request): AsyncIterable<Response> {
    for (let sequence = 1; sequence <= 3; sequence++)
      yield { id: request.id, payload: new Uint8Array([sequence]), sequence };
  },
  async clientStream(requests: AsyncIterable<Chunk>): Promise<UploadSummary> {
    let totalBytes = 0n;
    let chunkCount = 0;
    for await (const chunk of requests) {
      totalBytes += BigInt(chunk.data.length);
      chunkCount++;
    }
    return { totalBytes, chunkCount };
  },
  async *bidiStream(requests: AsyncIterable<Request>): AsyncIterable<Response> {
    let sequence = 0;
    for await (const request of requests)
      yield { id: `echo:${request.id}`, payload: request.payload, sequence: ++sequence };
  },
};

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe("a generated client calls a generated handler through the codecs", () => {
  const client = createAlphaClient(loopback(handler));

  it("unary, filling in the fields the caller left out", async () => {
    expect(await client.unary({ id: "abc" })).toEqual({ id: "ABC", payload: new Uint8Array(0), sequence: 1 });
  });

  it("server streaming", async () => {
    const replies = await collect(client.serverStream({ id: "s" }));
    expect(replies.map((r) => r.sequence)).toEqual([1, 2, 3]);
    expect(replies[2]?.payload).toEqual(new Uint8Array([3]));
  });

  it("client streaming, from a plain array of partial messages", async () => {
    const summary = await client.clientStream([{ data: new Uint8Array(3) }, { data: new Uint8Array(4), offset: 3n }]);
    expect(summary).toEqual({ totalBytes: 7n, chunkCount: 2 });
  });

  it("bidirectional streaming, from an async generator", async () => {
    async function* requests() {
      yield { id: "a" };
      yield { id: "b" };
    }
    const replies = await collect(client.bidiStream(requests()));
    expect(replies.map((r) => [r.id, r.sequence])).toEqual([
      ["echo:a", 1],
      ["echo:b", 2],
    ]);
  });
});

describe("generated definitions", () => {
  it("carry the gRPC path, kind and idempotency of each method", () => {
    expect(AlphaDefinition.methods.bidiStream).toMatchObject({
      name: "BidiStream",
      path: "/fixtures.services.v1.Alpha/BidiStream",
      kind: "bidi_streaming",
      inputType: "fixtures.services.v1.Request",
    });
  });

  it("escape method names that would break objects and classes", () => {
    expect(Object.keys(FunctionDefinition.methods)).toEqual(
      expect.arrayContaining(["delete", "new", "constructor$", "then$"]),
    );
    const client = createFunctionClient(loopback({}));
    // A client with a `then` method would be swallowed by `await` as a thenable.
    expect("then" in client).toBe(false);
    expect(typeof client.then$).toBe("function");
  });

  it("carry google.api.http bindings, additional bindings flattened", () => {
    expect(LibraryServiceDefinition.methods.listBooks.http).toEqual([
      { method: "GET", path: "/v1/shelves/{shelf}/books", responseBody: "books" },
      { method: "GET", path: "/v2/shelves/{shelf}/books" },
      { method: "POST", path: "/v2/shelves/{shelf}/books:search", body: "*" },
    ]);
    expect(LibraryServiceDefinition.methods.ping.http).toEqual([{ method: "HEAD", path: "/v1/ping" }]);
  });
});
