import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { checkHealth, createMemoryRegistry, createService, silentLogger } from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpNodeHealth } from "../runtime/src/health/check-health.js";

describe("checkHealth, the scaffolded HEALTHCHECK's probe", () => {
  let silent: Server;
  let silentAddress = "";
  /** The connections the silent port accepted, destroyed at the end. */
  const accepted: Socket[] = [];

  beforeAll(async () => {
    // A port whose connections are accepted and never read nor answered, as a frozen process's are.
    silent = createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const bound = silent.address();
    silentAddress = typeof bound === "object" && bound ? `127.0.0.1:${bound.port}` : "";
  });
  afterAll(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it.each(["h2", "grpc"])(
    "reads a service on --transport=%s as SERVING while it runs, and not once it stopped",
    async (transport) => {
      const service = createService({
        name: "probed",
        registry: createMemoryRegistry(),
        args: [`--transport=${transport}`, "--metrics_address=off"],
        env: { OTEL_SDK_DISABLED: "true" },
        logger: silentLogger(),
      });
      await service.start();
      const address = service.address!;
      try {
        expect(await checkHealth(address)).toBe(true);
        expect(await checkHealth(address, { service: "nothing.Here" })).toBe(false);
        // A dependency down: the service says so, and says when it is back.
        service.setServing(false);
        expect(await checkHealth(address)).toBe(false);
        service.setServing(true);
        expect(await checkHealth(address)).toBe(true);
      } finally {
        await service.stop();
      }
      expect(await checkHealth(address, { timeoutMs: 1_000 })).toBe(false);
    },
  );

  it("reads a web service's node as SERVING on any HTTP answer to GET /metrics, which it counts and traces no request of", async () => {
    const paths: string[] = [];
    const web = createHttpServer((request, response) => {
      paths.push(request.url ?? "");
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    const bound = web.address();
    const address = typeof bound === "object" && bound ? `127.0.0.1:${bound.port}` : "";
    try {
      expect(await httpNodeHealth(address, 1_000)).toBe("SERVING");
      expect(paths).toEqual(["/metrics"]);
    } finally {
      await new Promise<void>((resolve) => web.close(() => resolve()));
    }
    expect(await httpNodeHealth(address, 1_000)).toMatch(/^UNAVAILABLE: cannot reach /);
  });

  it("answers false for a port that never answers, once its timeout has passed", async () => {
    // Before the h2 client stopped waiting on the peer to close its side of the connection, this never returned.
    expect(await checkHealth(silentAddress, { timeoutMs: 300 })).toBe(false);
    expect(accepted).toHaveLength(1);
  });
});
