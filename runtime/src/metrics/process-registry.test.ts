import { Counter } from "prom-client";
import { describe, expect, it } from "vitest";
import { MetricsServer } from "./metrics-server.js";
import {
  collectDefaultMetricsNow,
  createMetricsRegistry,
  deferDefaultMetrics,
  promClient,
} from "./process-registry.js";

const hasDefaults = async (registry: ReturnType<typeof createMetricsRegistry>) =>
  (await registry.metrics()).includes("nodejs_eventloop_lag_seconds");

describe("the process's metrics registry", () => {
  it("makes metrics with prom-client's own classes", () => {
    expect(promClient().Counter).toBe(Counter);
  });

  it("collects the Node.js defaults on the next turn", async () => {
    const registry = createMetricsRegistry();
    expect(await hasDefaults(registry)).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await hasDefaults(registry)).toBe(true);
  });

  it("collects deferred defaults only when asked, once", async () => {
    const registry = createMetricsRegistry();
    const collect = deferDefaultMetrics(registry);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await hasDefaults(registry)).toBe(false);
    collect();
    collect();
    collectDefaultMetricsNow(registry);
    expect(await hasDefaults(registry)).toBe(true);
  });

  it("serves deferred defaults on the first scrape", async () => {
    const registry = createMetricsRegistry();
    deferDefaultMetrics(registry);
    const server = new MetricsServer(registry);
    const address = await server.listen("127.0.0.1:0");
    try {
      const text = await (await fetch(`http://${address}/metrics`)).text();
      expect(text).toContain("nodejs_eventloop_lag_seconds");
    } finally {
      await server.stop();
    }
  });
});
