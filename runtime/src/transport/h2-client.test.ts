import { spawn } from "node:child_process";
import { once } from "node:events";
import { constants, createServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { AlphaDefinition } from "../../../test/golden/10-services/services.micro.js";
import { Code, type TsmicroError } from "../errors/tsmicro-error.js";
import { silentLogger } from "../logging/logger.js";
import { createH2ClientTransport } from "./h2-client.js";
import { createH2ServerTransport } from "./h2-server.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("h2 client transport", () => {
  it("keeps a program alive while a call is open or closing, and not once it is closed", async () => {
    const server = createH2ServerTransport({ logger: silentLogger() });
    server.add(AlphaDefinition, async () => {
      await sleep(50);
      return { id: "answered", payload: new Uint8Array(), sequence: 1 };
    });
    const address = await server.listen("127.0.0.1:0");
    cleanups.push(() => server.stop(0));
    const program = fileURLToPath(new URL("./testdata/h2-one-call.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", program, address], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await Promise.race([once(child, "exit"), sleep(20_000).then(() => ["timed out"])])) as [unknown];
    if (code === "timed out") child.kill("SIGKILL");
    const answer = '{"id":"answered","payload":{},"sequence":1}';
    expect({ code, output: output.trim() }).toEqual({
      code: 0,
      output: [...Array(5).fill(answer), "closed"].join("\n"),
    });
  });

  it("opens a new connection after a stream reset with ENHANCE_YOUR_CALM, and says what happened", async () => {
    // A plain HTTP/2 server that resets the first call with ENHANCE_YOUR_CALM and answers the next NOT_FOUND.
    const sessions = new Set<unknown>();
    let streams = 0;
    const server = createServer();
    server.on("stream", (stream: ServerHttp2Stream) => {
      sessions.add(stream.session);
      if (streams++ === 0) {
        // Node reports a stream it resets with an error code as an error of its own.
        stream.on("error", () => {});
        stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "5" }, { endStream: true });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const client = createH2ClientTransport();
    cleanups.push(() => client.close());
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const call = () =>
      Promise.resolve(
        client.call(address, {
          service: "alpha",
          method: AlphaDefinition.methods.unary,
          request: { id: "x", payload: new Uint8Array() },
          metadata: {},
          deadline: undefined,
          signal: undefined,
        }),
      ).catch((error: unknown) => error as TsmicroError);
    const reset = await call();
    expect(reset).toMatchObject({ code: Code.UNAVAILABLE, retryable: true });
    expect((reset as Error).message).toBe(
      `/fixtures.services.v1.Alpha/Unary on ${address} was reset with ENHANCE_YOUR_CALM (one side of the connection ` +
        "went over its memory or flood limits); the next call opens a new connection",
    );
    expect(await call()).toMatchObject({ code: Code.NOT_FOUND });
    expect(sessions.size).toBe(2);
  });
});
