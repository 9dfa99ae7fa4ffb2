import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Http2Stream } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { silentLogger } from "../logging/logger.js";
import { createH2ClientTransport } from "./h2-client.js";
import { createH2ServerTransport } from "./h2-server.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The streams node opens from now on, on either end (its diagnostics channels name them). */
function watchStreams(): Http2Stream[] {
  const streams: Http2Stream[] = [];
  const onCreated = (message: unknown) => streams.push((message as { stream: Http2Stream }).stream);
  for (const channel of ["http2.client.stream.created", "http2.server.stream.created"]) {
    subscribe(channel, onCreated);
    cleanups.push(() => void unsubscribe(channel, onCreated));
  }
  return streams;
}

// Under load a scavenge keeps HTTP/2 streams that closed a moment before (node still holds them)
// and moves them to the old generation with all they reach: listeners left on a closed stream
// would drag the call's state, messages and span along with it.
it("leaves no listener of the call on either end's stream once the call is over", async () => {
  const server = createH2ServerTransport({ logger: silentLogger() });
  server.add(AlphaDefinition, async () => ({ id: "answered", payload: new Uint8Array(), sequence: 1 }));
  const address = await server.listen("127.0.0.1:0");
  const client = createH2ClientTransport();
  cleanups.push(
    () => server.stop(0),
    () => client.close(),
  );
  const streams = watchStreams();
  await client.call(address, {
    service: "alpha",
    method: AlphaDefinition.methods.unary,
    request: { id: "x", payload: new Uint8Array(), sequence: 0 },
    metadata: {},
    deadline: new Date(Date.now() + 5_000),
    signal: undefined,
  });
  await sleep(50); // Both ends' streams close.
  const events = ["response", "trailers", "wantTrailers", "data", "drain", "end", "close", "error"];
  const listeners = streams.map((stream) => ({
    closed: stream.closed,
    listeners: Object.fromEntries(events.map((event) => [event, stream.listenerCount(event)])),
  }));
  const released = { response: 0, trailers: 0, wantTrailers: 0, data: 0, drain: 0, end: 0, close: 0, error: 1 };
  expect(listeners).toEqual([
    { closed: true, listeners: released },
    { closed: true, listeners: released },
  ]);
});
