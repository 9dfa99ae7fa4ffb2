import { describe, expect, it } from "vitest";
import { createMemoryRegistry } from "./memory-registry.js";
import { collectEvents, describeRegistryConformance, waitFor } from "./registry-conformance.js";
import type { Service } from "./registry.js";

describeRegistryConformance("memory", async () => {
  const registry = createMemoryRegistry();
  await registry.start();
  return { registry, cleanup: async () => {} };
});

describe("memory registry", () => {
  const service: Service = {
    name: "greeter",
    version: "1.0.0",
    metadata: {},
    endpoints: [],
    nodes: [{ id: "greeter-1", address: "127.0.0.1:50051", metadata: {} }],
  };

  it("measures TTLs on the clock it is given", async () => {
    let time = 1_000_000;
    const registry = createMemoryRegistry({ now: () => time });
    const collected = collectEvents(registry.watch());
    await registry.register(service, { ttlMs: 5_000 });

    time += 4_999;
    expect(await registry.getService("greeter")).toHaveLength(1);
    time += 1;
    expect(await registry.getService("greeter")).toEqual([]);
    await waitFor("the delete event", () => collected.events.some((e) => e.action === "delete"), 1_000);
    await registry.stop();
  });

  it("keeps its own copy of a registration, so later edits by the caller change nothing", async () => {
    const registry = createMemoryRegistry();
    const metadata: Record<string, string> = { region: "eu" };
    await registry.register({ ...service, metadata }, { ttlMs: 10_000 });
    metadata["region"] = "us";

    expect((await registry.getService("greeter"))[0]?.metadata).toEqual({ region: "eu" });
    await registry.stop();
  });
});
