import {
  Code,
  createMemoryRegistry,
  createService,
  silentLogger,
  TsmicroError,
  type CallContext,
  type ClientMiddleware,
  type Metadata,
  type MicroService,
  type ServerMiddleware,
} from "@tsmicro/runtime";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Chunk, Request, Response, UploadSummary } from "./golden/10-services/services.js";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const bytes = (...values: number[]) => Buffer.from(values);

/**
 * Alpha answering with response metadata, steered by the request id:
 * `plain` sets a header and a `-bin` trailer; `fail` sets a trailer and
 * throws an error carrying its own; `late` sets a header after sending it.
 */
const handler: AlphaHandler = {
  async unary(request: Request, context: CallContext): Promise<Response> {
    context.setHeader({ "x-header": `unary ${request.id}` });
    context.setTrailer({ "x-trailer-bin": bytes(0xab, 0xab, 0xab), "x-internal": "not for callers" });
    if (request.id === "fail") {
      throw new TsmicroError(Code.NOT_FOUND, "no such thing", { metadata: { "x-error": "from the error" } });
    }
    if (request.id === "late") {
      context.sendHeader();
      context.setHeader({ "x-too-late": "yes" });
    }
    return { id: request.id, payload: new Uint8Array(), sequence: 0 };
  },
  async *serverStream(request: Request, context: CallContext): AsyncIterable<Response> {
    // The header goes out before the first message, which waits.
    context.sendHeader({ "x-header": "stream" });
    await sleep(50);
    yield { id: request.id, payload: new Uint8Array(), sequence: 1 };
    context.setTrailer({ "x-count": "1" });
  },
  async clientStream(requests: AsyncIterable<Chunk>, context: CallContext): Promise<UploadSummary> {
    let chunkCount = 0;
    for await (const _ of requests) chunkCount++;
    context.setHeader({ "x-header": "upload" });
    context.setTrailer({ "x-chunks": String(chunkCount) });
    return { totalBytes: 0n, chunkCount };
  },
  async *bidiStream(requests: AsyncIterable<Request>, context: CallContext): AsyncIterable<Response> {
    const echo = context.metadata["x-echo-initial"];
    if (typeof echo === "string") context.setHeader({ "x-echo-initial": echo });
    const trailing = context.metadata["x-echo-trailing-bin"];
    if (trailing instanceof Uint8Array) context.setTrailer({ "x-echo-trailing-bin": trailing });
    let sequence = 0;
    for await (const request of requests) yield { id: request.id, payload: new Uint8Array(), sequence: ++sequence };
  },
};

/** Server middleware that reads what the handler set and changes it: proof middleware sees both. */
const stamp: ServerMiddleware = (next) => (call) => {
  if (call.method.kind !== "unary") return next(call);
  return (async () => {
    const response = await (next(call) as Promise<unknown>);
    const header = call.context.responseHeader["x-header"];
    call.context.setTrailer({ "x-seen-header": String(header) });
    delete call.context.responseTrailer["x-internal"];
    return response;
  })();
};

describe("response metadata: handlers set header and trailer, clients read them", () => {
  const registry = createMemoryRegistry();
  const services: MicroService[] = [];
  let typed: ReturnType<typeof clientOf>;
  const seen: { header: Metadata[]; trailer: Metadata[] } = { header: [], trailer: [] };

  /** Client middleware that sees every header and adds a key the caller then reads. */
  const rewrite: ClientMiddleware = (next) => (call) =>
    next({
      ...call,
      onHeader: (metadata) => {
        seen.header.push(metadata);
        call.onHeader?.({ ...metadata, "x-client-middleware": "was here" });
      },
      // Passes the trailer on without the key the middleware keeps for itself.
      onTrailer: (metadata) => {
        seen.trailer.push(metadata);
        const { "x-seen-header": _kept, ...rest } = metadata;
        call.onTrailer?.({ ...rest, "x-client-trailer": "rewritten" });
      },
    });

  function clientOf(service: MicroService) {
    return service.client(AlphaDefinition, "alpha");
  }

  beforeAll(async () => {
    const server = createService({
      name: "alpha",
      registry,
      args: [],
      env: suiteEnv(),
      serverMiddleware: [stamp],
      logger: silentLogger(),
    });
    server.handle(AlphaDefinition, handler);
    await server.start();
    const caller = createService({
      name: "caller",
      registry,
      args: [],
      env: suiteEnv(),
      logger: silentLogger(),
      clientMiddleware: [rewrite],
    });
    services.push(server, caller);
    typed = clientOf(caller);
  });

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await registry.stop();
  });

  it("unary: header and a -bin trailer reach onHeader and onTrailer; middleware on both sides saw them", async () => {
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const response = await typed.unary(
      { id: "plain" },
      { onHeader: (m) => (header = m), onTrailer: (m) => (trailer = m) },
    );
    expect(response.id).toBe("plain");
    expect(header).toMatchObject({ "x-header": "unary plain", "x-client-middleware": "was here" });
    // The server middleware added x-seen-header and removed x-internal; the client middleware took x-seen-header.
    expect(trailer).toMatchObject({ "x-client-trailer": "rewritten" });
    expect(trailer).not.toHaveProperty("x-seen-header");
    expect(trailer).not.toHaveProperty("x-internal");
    expect(Buffer.from(trailer!["x-trailer-bin"] as Uint8Array)).toEqual(bytes(0xab, 0xab, 0xab));
    expect(seen.header.at(-1)).toMatchObject({ "x-header": "unary plain" });
    expect(seen.trailer.at(-1)).toMatchObject({ "x-seen-header": "unary plain" });
  });

  it("a failure carries the trailers: the handler's and its error's, on the error and in onTrailer", async () => {
    let trailer: Metadata | undefined;
    const error = await typed.unary({ id: "fail" }, { onTrailer: (m) => (trailer = m) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TsmicroError);
    expect(error).toMatchObject({ code: Code.NOT_FOUND, message: "no such thing" });
    const metadata = (error as TsmicroError).metadata;
    expect(metadata["x-error"]).toBe("from the error");
    expect(Buffer.from(metadata["x-trailer-bin"] as Uint8Array)).toEqual(bytes(0xab, 0xab, 0xab));
    expect(trailer?.["x-error"]).toBe("from the error");
    // Only what the application set, and the failed service's name the client adds: no HTTP or gRPC keys.
    expect(Object.keys(metadata).sort()).toEqual(["tsmicro-failed-service", "x-error", "x-internal", "x-trailer-bin"]);
    expect(trailer).not.toHaveProperty("tsmicro-failed-service");
  });

  it("setHeader after the header went out fails the call with INTERNAL (a handler bug)", async () => {
    await expect(typed.unary({ id: "late" })).rejects.toMatchObject({ code: Code.INTERNAL });
  });

  it("server streaming: sendHeader delivers the header before the first message; the trailer follows the last", async () => {
    const events: string[] = [];
    for await (const response of typed.serverStream(
      { id: "s" },
      {
        onHeader: (m) => events.push(`header ${String(m["x-header"])}`),
        onTrailer: (m) => events.push(`trailer ${String(m["x-count"])}`),
      },
    )) {
      events.push(`message ${response.sequence}`);
    }
    expect(events).toEqual(["header stream", "message 1", "trailer 1"]);
  });

  it("client streaming: header and trailer set after reading every request", async () => {
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const summary = await typed.clientStream([{ data: bytes(1) }, { data: bytes(2) }], {
      onHeader: (m) => (header = m),
      onTrailer: (m) => (trailer = m),
    });
    expect(summary.chunkCount).toBe(2);
    expect(header?.["x-header"]).toBe("upload");
    expect(trailer?.["x-chunks"]).toBe("2");
  });

  it("bidi streaming: echoes request metadata as header and -bin trailer (the interop custom_metadata shape)", async () => {
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const responses: number[] = [];
    for await (const response of typed.bidiStream([{ id: "a" }, { id: "b" }], {
      metadata: { "x-echo-initial": "test_initial_metadata_value", "x-echo-trailing-bin": bytes(0xab, 0xab, 0xab) },
      onHeader: (m) => (header = m),
      onTrailer: (m) => (trailer = m),
    })) {
      responses.push(response.sequence);
    }
    expect(responses).toEqual([1, 2]);
    expect(header?.["x-echo-initial"]).toBe("test_initial_metadata_value");
    expect(Buffer.from(trailer!["x-echo-trailing-bin"] as Uint8Array)).toEqual(bytes(0xab, 0xab, 0xab));
  });

  it("an onHeader that throws fails the call with what it threw", async () => {
    const thrown = new Error("caller rejected the header");
    await expect(
      typed.unary(
        { id: "plain" },
        {
          onHeader: () => {
            throw thrown;
          },
          onTrailer: () => {},
        },
      ),
    ).rejects.toBe(thrown);
    // Without an onTrailer too.
    await expect(
      typed.unary(
        { id: "plain" },
        {
          onHeader: () => {
            throw thrown;
          },
        },
      ),
    ).rejects.toBe(thrown);
  });
});
