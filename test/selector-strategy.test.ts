import { createMemoryRegistry, createService, type MicroService, silentLogger, type Strategy } from "@tsmicro/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { suiteEnv } from "./support/suite-env.js";

describe("a selector strategy of the program's own", () => {
  const services: MicroService[] = [];
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("picks every node a call goes to, in place of --selector, reading the nodes' metadata", async () => {
    const registry = createMemoryRegistry();
    const common = { registry, env: suiteEnv(), logger: silentLogger() };
    for (const zone of ["eu", "us"]) {
      // A key of tsmicro's own (metrics: where Prometheus scrapes) is not the service's to set on its node.
      const metadata = { zone, metrics: "192.0.2.1:9" };
      const node = createService({ name: "zoned", args: ["--metrics_address=off"], metadata, ...common });
      node.handle(
        AlphaDefinition,
        { unary: async () => ({ id: zone, payload: new Uint8Array(), sequence: 0 }) },
        { partial: true },
      );
      await node.start();
      services.push(node);
    }
    const seen: string[] = [];
    // Prefers the caller's zone, as a strategy reading node metadata would.
    const sameZone: Strategy = () => (nodes) => {
      seen.push(
        nodes
          .map((state) => `${state.node.metadata.zone}${state.node.metadata.metrics ?? ""}`)
          .sort()
          .join(","),
      );
      return nodes.find((state) => state.node.metadata.zone === "us") ?? nodes[0]!;
    };
    const caller = createService({ name: "caller", args: ["--selector=roundrobin"], strategy: sameZone, ...common });
    services.push(caller);
    const zoned = caller.client(AlphaDefinition, "zoned");
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await zoned.unary({ id: "", payload: new Uint8Array() })).id);
    expect(answers).toEqual(["us", "us", "us", "us", "us", "us"]);
    // The service's metadata is on each of its nodes, as go-micro registers it.
    expect(seen).toEqual(Array(6).fill("eu,us"));
  });
});
