import { createMemoryRegistry, silentLogger } from "@tsmicro/runtime";
import { describe, expect, it } from "vitest";
import { createGateway } from "./gateway.js";

describe("createGateway's start and stop", () => {
  it("work handed on by themselves, as a signal handler or a test harness takes them", async () => {
    const gateway = createGateway({
      registry: createMemoryRegistry(),
      args: ["--address=127.0.0.1:0", "--metrics_address=off"],
      env: {},
      logger: silentLogger(),
    });
    const { start, stop } = gateway;
    await start();
    const healthz = `${gateway.url}/healthz`;
    expect(await (await fetch(healthz)).json()).toEqual({ status: "SERVING" });
    await stop();
    await expect(fetch(healthz, { headers: { connection: "close" } })).rejects.toThrow();
  });
});
