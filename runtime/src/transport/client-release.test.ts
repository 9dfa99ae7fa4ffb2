/**
 * What the client transports let go of: channels to nodes that left (grpc-js keeps and redials
 * them otherwise), and the listeners a wait-for-ready call adds to its caller's signal.
 */
import { getEventListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { Code } from "../errors/tsmicro-error.js";
import { silentLogger } from "../logging/logger.js";
import { createGrpcClientTransport } from "./grpc-client.js";
import { createH2ClientTransport } from "./h2-client.js";
import { createH2ServerTransport } from "./h2-server.js";
import type { ClientCall } from "./transport.js";

const { unary } = AlphaDefinition.methods;
const request = { id: "x", payload: new Uint8Array() };
const callOf = (extra: Partial<ClientCall> = {}): ClientCall => ({
  service: "alpha",
  method: unary,
  request,
  metadata: {},
  deadline: undefined,
  signal: undefined,
  ...extra,
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startNode(): Promise<{ address: string; stop: () => Promise<void> }> {
  const server = createH2ServerTransport({ logger: silentLogger() });
  server.add(AlphaDefinition, async () => ({ ...request, sequence: 1 }));
  const address = await server.listen("127.0.0.1:0");
  return { address, stop: () => server.stop(0) };
}

describe("the grpc-js client transport", () => {
  it("closes the channels of a node that left once unused a while, and keeps those of a node in use", async () => {
    const closed = vi.spyOn(Client.prototype, "close");
    const transport = createGrpcClientTransport({ releaseUnusedAfterMs: 200 });
    cleanups.push(() => transport.close());
    const gone = await startNode();
    const live = await startNode();
    cleanups.push(live.stop);
    await transport.call(gone.address, callOf());
    await transport.call(live.address, callOf());
    await gone.stop();
    // The live node stays in use; the one that left is released within two sweeps.
    for (let i = 0; i < 10 && closed.mock.calls.length === 0; i++) {
      await transport.call(live.address, callOf());
      await sleep(100);
    }
    expect(closed).toHaveBeenCalledTimes(1);
    await transport.call(live.address, callOf());
    expect(closed).toHaveBeenCalledTimes(1);
  });
});

describe("the grpc-js client transport, waiting for a node", () => {
  it("keeps the channel a wait-for-ready call waits on, however long it waits, and lets it go after", async () => {
    const closed = vi.spyOn(Client.prototype, "close");
    const transport = createGrpcClientTransport({ releaseUnusedAfterMs: 200 });
    cleanups.push(() => transport.close());
    const down = await startNode();
    await down.stop();
    const waiting = transport.call(
      down.address,
      callOf({ waitForReady: true, deadline: new Date(Date.now() + 1_500) }),
    ) as Promise<unknown>;
    // Several sweeps pass while it waits: it ends at its deadline, not with its channel closed under it.
    await expect(waiting).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(closed).not.toHaveBeenCalled();
    for (let i = 0; i < 10 && closed.mock.calls.length === 0; i++) await sleep(100);
    expect(closed).toHaveBeenCalledTimes(1);
  });
});

describe("the h2 client transport", () => {
  it("leaves no listener on the caller's signal after a wait-for-ready call that backed off", async () => {
    const transport = createH2ClientTransport();
    cleanups.push(() => transport.close());
    const nobody = await startNode();
    await nobody.stop();
    const signal = new AbortController().signal;
    const call = callOf({ signal, waitForReady: true, deadline: new Date(Date.now() + 1_000) });
    await expect(transport.call(nobody.address, call)).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });
});
