import { connect, type Socket } from "node:net";
import { createMemoryRegistry, createService, silentLogger } from "@tsmicro/runtime";
import { afterEach, describe, expect, it } from "vitest";

/** HTTP/2's client preface and an empty SETTINGS frame: a peer that spoke once, then froze. */
const preface = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

describe("a peer that stops answering", () => {
  const frozen: Socket[] = [];
  afterEach(() => {
    for (const socket of frozen.splice(0)) socket.destroy();
  });

  it.each(["h2", "grpc"])(
    "does not hold up the stop of a service on --transport=%s past its --shutdown_grace",
    async (transport) => {
      const service = createService({
        name: "stopping",
        registry: createMemoryRegistry(),
        args: [`--transport=${transport}`, "--metrics_address=off", "--shutdown_grace=300ms"],
        env: { OTEL_SDK_DISABLED: "true" },
        logger: silentLogger(),
      });
      await service.start();
      const address = service.address!;
      const colon = address.lastIndexOf(":");
      // A client connection that greets the server, then never reads, answers or closes, as a frozen process's.
      const socket = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
      frozen.push(socket);
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(preface);
      socket.pause();
      // Before the h2 server destroyed the connections still open once the grace was over, this never returned.
      await service.stop();
      const refused = await new Promise<string>((resolve) => {
        const late = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
        late.once("connect", () => resolve("connected"));
        late.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      expect(refused).toBe("ECONNREFUSED");
    },
  );
});
