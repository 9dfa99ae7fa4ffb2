import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import type { Request, Response } from "../../../test/golden/10-services/services.js";
import { Code } from "../errors/tsmicro-error.js";
import { silentLogger } from "../logging/logger.js";
import { createH2ClientTransport } from "./h2-client.js";
import { startFaultProxy } from "../../../test/support/fault-proxy.js";
import { pairs, transports, use } from "./testdata/transport-pairs.js";
import type { ClientCall, ServerCall } from "./transport.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Unary `wait` holds the call until it is cancelled; any other id is answered with the caller's address. */
function handle(call: ServerCall): Promise<Response> {
  const request = call.request as Request;
  if (request.id !== "wait") return Promise.resolve({ id: call.context.peer, payload: new Uint8Array(), sequence: 0 });
  return new Promise((resolve) =>
    call.context.signal.addEventListener("abort", () => resolve({ id: "", payload: new Uint8Array(), sequence: 0 })),
  );
}

async function startServer(): Promise<string> {
  const server = transports.server({ logger: silentLogger() });
  server.add(AlphaDefinition, handle);
  const address = await server.listen("127.0.0.1:0");
  cleanups.push(() => server.stop(0));
  return address;
}

function unary(id: string, timeoutMs: number): ClientCall {
  return {
    service: "alpha",
    method: AlphaDefinition.methods.unary,
    request: { id, payload: new Uint8Array(), sequence: 0 },
    metadata: {},
    deadline: new Date(Date.now() + timeoutMs),
    signal: undefined,
  };
}

/** How a call ends and after how long. */
async function outcome(result: unknown): Promise<{ code: unknown; ms: number }> {
  const start = performance.now();
  const code = await Promise.resolve(result).then(
    () => "answered",
    (error: { code?: unknown }) => error.code,
  );
  return { code, ms: performance.now() - start };
}

describe.each(pairs)("client keepalive, %s client -> %s server", (client, server) => {
  beforeAll(() => use(client, server));

  it("fails a call to a peer gone silent with UNAVAILABLE once a ping goes unanswered, long before its deadline", async () => {
    const proxy = await startFaultProxy(await startServer());
    cleanups.push(() => proxy.close());
    const transport = transports.client({ keepaliveMs: 100, keepaliveTimeoutMs: 200 });
    cleanups.push(() => transport.close());
    // The connection works, and a call is open on it when the link goes dark.
    await expect(transport.call(proxy.address, unary("x", 5_000))).resolves.toBeDefined();
    const pending = transport.call(proxy.address, unary("wait", 20_000));
    await new Promise((resolve) => setTimeout(resolve, 150));
    proxy.freeze();
    const { code, ms } = await outcome(pending);
    expect(code).toBe(Code.UNAVAILABLE);
    expect(ms).toBeLessThan(5_000);
  });

  it("without keepalive, the same call waits out its deadline", async () => {
    const proxy = await startFaultProxy(await startServer());
    cleanups.push(() => proxy.close());
    const transport = transports.client();
    cleanups.push(() => transport.close());
    await expect(transport.call(proxy.address, unary("x", 5_000))).resolves.toBeDefined();
    const pending = transport.call(proxy.address, unary("wait", 800));
    await new Promise((resolve) => setTimeout(resolve, 150));
    proxy.freeze();
    expect((await outcome(pending)).code).toBe(Code.DEADLINE_EXCEEDED);
  });
});

describe.each(pairs)("server keepalive, %s client -> %s server", (client, server) => {
  beforeAll(() => use(client, server));

  it("cancels the calls of a client gone silent once a ping goes unanswered", async () => {
    let cancelled: (() => void) | undefined;
    const cancelledCall = new Promise<void>((resolve) => (cancelled = resolve));
    const grpc = transports.server({ logger: silentLogger(), keepaliveMs: 100, keepaliveTimeoutMs: 200 });
    grpc.add(AlphaDefinition, (call) => {
      call.context.signal.addEventListener("abort", () => cancelled?.());
      return handle(call);
    });
    const proxy = await startFaultProxy(await grpc.listen("127.0.0.1:0"));
    cleanups.push(() => grpc.stop(0));
    cleanups.push(() => proxy.close());
    const transport = transports.client();
    cleanups.push(() => transport.close());
    const pending = outcome(transport.call(proxy.address, unary("wait", 20_000)));
    await new Promise((resolve) => setTimeout(resolve, 150));
    proxy.freeze();
    const start = performance.now();
    await cancelledCall;
    expect(performance.now() - start).toBeLessThan(5_000);
    await transport.close();
    await pending;
  });
});

describe("h2 client connections", () => {
  beforeAll(() => use("h2", "h2"));

  it("are replaced after callsPerConnection calls, each call answered", async () => {
    const address = await startServer();
    const transport = createH2ClientTransport({ callsPerConnection: 3 });
    cleanups.push(() => transport.close());
    const peers: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = (await transport.call(address, unary("x", 5_000))) as Response;
      peers.push(response.id);
    }
    // Three calls a connection: 3 + 3 + 3 + 1, each connection from a port of its own.
    expect(new Set(peers).size).toBe(4);
    expect(peers.slice(0, 3).every((peer) => peer === peers[0])).toBe(true);
  });
});
