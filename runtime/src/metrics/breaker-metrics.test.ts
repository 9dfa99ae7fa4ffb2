import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { breakerMiddleware } from "../middleware/breaker.js";
import type { ClientCall } from "../transport/transport.js";
import { registryNodesGauge } from "./registry-node-metrics.js";

const method = { name: "Login", path: "/user.v1.Users/Login", kind: "unary" } as MethodDefinition;
const call: ClientCall = { service: "user", method, request: {}, metadata: {}, deadline: undefined, signal: undefined };
const labels = 'service="user",method="/user.v1.Users/Login"';

async function sample(registry: Registry, series: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("breaker metrics", () => {
  it("follow a breaker from closed to open, half-open and closed again", async () => {
    const registry = new Registry();
    const breaker = breakerMiddleware({
      volumeThreshold: 2,
      errorThresholdPercentage: 50,
      resetTimeoutMs: 50,
      metrics: registry,
    });
    let healthy = false;
    const send = breaker(async () => {
      if (healthy) return "ok";
      throw new TsmicroError(Code.UNAVAILABLE, "down");
    });
    try {
      await (send(call) as Promise<unknown>).catch(() => 0);
      expect(await sample(registry, `tsmicro_breaker_state{${labels}}`)).toBe(0);
      await (send(call) as Promise<unknown>).catch(() => 0);
      expect(await sample(registry, `tsmicro_breaker_state{${labels}}`)).toBe(2);
      expect(await sample(registry, `tsmicro_breaker_transitions_total{${labels},state="open"}`)).toBe(1);

      healthy = true;
      // The reset timeout half-opens it on a timer; then the probe's success closes it.
      while ((await sample(registry, `tsmicro_breaker_state{${labels}}`)) !== 1)
        await new Promise((resolve) => setTimeout(resolve, 10));
      await send(call);
      expect(await sample(registry, `tsmicro_breaker_state{${labels}}`)).toBe(0);
      expect(await sample(registry, `tsmicro_breaker_transitions_total{${labels},state="half_open"}`)).toBe(1);
      expect(await sample(registry, `tsmicro_breaker_transitions_total{${labels},state="closed"}`)).toBe(1);
    } finally {
      breaker.stop();
    }
  });

  it("share one gauge of registry nodes per registry", async () => {
    const registry = new Registry();
    registryNodesGauge(registry)("user", 3);
    // A second client set in the process reuses the registered gauge instead of failing to register it.
    registryNodesGauge(registry)("auth", 1);
    expect(await sample(registry, 'tsmicro_registry_nodes{service="user"}')).toBe(3);
    expect(await sample(registry, 'tsmicro_registry_nodes{service="auth"}')).toBe(1);
  });
});
