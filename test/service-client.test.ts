import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createClient,
  createDirectCaller,
  createGrpcClientTransport,
  createService,
  silentLogger,
  type MicroService,
} from "@tsmicro/runtime";
import { HealthCheckResponse_ServingStatus, HealthDefinition } from "@tsmicro/runtime/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaClient } from "./golden/10-services/services.micro.js";
import { bins, run } from "./support/cli.js";
import { closedPort } from "./support/etcd.js";
import { killAllNodes, startNode, type NodeProcess } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

describe("service.client against a service process, all four kinds", () => {
  let dir = "";
  let caller: MicroService;
  let client: AlphaClient;
  let node: NodeProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-kinds-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    node = await startNode("test/fixtures/echo-node.ts", flags);
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
    client = caller.client(AlphaDefinition, "echo");
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("unary", async () => {
    const reply = await client.unary({ id: "u", payload: new Uint8Array([9]) });
    expect(reply.id).toBe(node.id);
    expect([...reply.payload]).toEqual([9]);
  });

  it("server streaming", async () => {
    const seen: number[] = [];
    for await (const reply of client.serverStream({ id: "s" })) seen.push(reply.sequence);
    expect(seen).toEqual([1, 2, 3]);
  });

  it("client streaming", async () => {
    expect(await client.clientStream([{ data: new Uint8Array(2) }, { data: new Uint8Array(5) }])).toEqual({
      totalBytes: 7n,
      chunkCount: 2,
    });
  });

  it("bidirectional streaming", async () => {
    async function* requests() {
      for (const id of ["a", "b", "c"]) yield { id };
    }
    const replies: string[] = [];
    for await (const reply of client.bidiStream(requests())) replies.push(`${reply.id}${reply.sequence}`);
    expect(replies).toEqual(["a1", "b2", "c3"]);
  });

  it("health turns NOT_SERVING while the node drains on SIGTERM", async () => {
    const transport = createGrpcClientTransport();
    const health = createClient(HealthDefinition, createDirectCaller({ transport, address: node.address }));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const inFlight = client.unary({ id: "sleep:1500" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    node.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    await expect(inFlight).resolves.toMatchObject({ id: node.id });
    expect(await node.exited).toBe(0);
    await transport.close();
  });
});

describe("an unreachable registry is a loud error at start", () => {
  it("createService().start() names the etcd address", async () => {
    const port = await closedPort();
    const service = createService({
      name: "lonely",
      args: ["--registry=etcd", `--registry_address=127.0.0.1:${port}`],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await expect(service.start()).rejects.toThrow(`127.0.0.1:${port}`);
  });

  it("tsmicro list services exits 1 naming the address", async () => {
    const port = await closedPort();
    const result = await run("node", [
      bins.tsmicro,
      "list",
      "services",
      "--registry",
      "etcd",
      "--registry_address",
      `127.0.0.1:${port}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
    expect(result.stderr).not.toContain("    at ");
  });
});
