/**
 * A service's /metrics endpoint: on by default on a free port of the
 * server's host, advertised in the registry as node metadata `metrics`,
 * serving the RPC metrics of the calls it handled and of the calls its
 * clients made; `--metrics_address=off` turns it off; a taken address is
 * the setup error naming the flag. A gateway and a web service serve it on
 * their own HTTP port, or at `--metrics_address` when that names an address.
 */
import { createServer } from "node:net";
import { createMemoryRegistry, createService, isSetupError, silentLogger, type MicroService } from "@tsmicro/runtime";
import { createGateway, createWebService } from "@tsmicro/gateway";
import { afterEach, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaHandler } from "./golden/10-services/services.micro.js";
import { run } from "./support/cli.js";
import { promtoolProgram } from "./support/prometheus.js";
import { suiteEnv } from "./support/suite-env.js";

const handler = {
  async unary(request: { id: string; payload: Uint8Array }) {
    return { id: request.id, payload: request.payload, sequence: 1 };
  },
} as unknown as AlphaHandler;

const started: MicroService[] = [];

async function startEcho(args: string[], registry = createMemoryRegistry()): Promise<MicroService> {
  const service = createService({ name: "echo", args, env: suiteEnv(), logger: silentLogger(), registry });
  service.handle(AlphaDefinition, handler, { partial: true });
  started.push(service);
  await service.start();
  return service;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((service) => service.stop()));
});

describe("a service's /metrics", () => {
  it("is served on the server's host by default, advertised in the registry, and counts calls both ways", async () => {
    const registry = createMemoryRegistry();
    const service = await startEcho([], registry);
    expect(service.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const [record] = await registry.getService("echo");
    expect(record?.nodes[0]?.metadata.metrics).toBe(service.metricsAddress);

    const client = service.client(AlphaDefinition, "echo");
    for (let i = 0; i < 3; i++) await client.unary({ id: `${i}` });
    const response = await fetch(`http://${service.metricsAddress}/metrics`);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const series = 'grpc_type="unary",grpc_service="fixtures.services.v1.Alpha",grpc_method="Unary"';
    expect(text).toContain(`grpc_server_handled_total{${series},grpc_code="OK"} 3`);
    expect(text).toContain(`grpc_client_handled_total{${series},grpc_code="OK"} 3`);
    expect(text).toContain('tsmicro_registry_nodes{service="echo"} 1');
    expect(text).toContain('tsmicro_breaker_state{service="echo",method="/fixtures.services.v1.Alpha/Unary"} 0');
    expect(text).toContain("nodejs_eventloop_lag_seconds");
    expect((await fetch(`http://${service.metricsAddress}/other`)).status).toBe(404);
  });

  it.skipIf(!promtoolProgram)("passes promtool check metrics, its lint included", async () => {
    const service = await startEcho([]);
    const client = service.client(AlphaDefinition, "echo");
    await client.unary({ id: "1" });
    const text = await (await fetch(`http://${service.metricsAddress}/metrics`)).text();
    expect(text).toContain("nodejs_active_handles");
    const result = await run(promtoolProgram!, ["check", "metrics"], { input: Buffer.from(text) });
    expect(`${result.code} ${result.stdout}${result.stderr}`.trim()).toBe("0");
  });

  it("is off with --metrics_address=off: no endpoint, nothing advertised", async () => {
    const registry = createMemoryRegistry();
    const service = await startEcho(["--metrics_address=off"], registry);
    expect(service.metricsAddress).toBeUndefined();
    const [record] = await registry.getService("echo");
    expect(record?.nodes[0]?.metadata.metrics).toBeUndefined();
  });

  it("stops with the service", async () => {
    const service = await startEcho([]);
    const url = `http://${service.metricsAddress}/metrics`;
    expect((await fetch(url)).status).toBe(200);
    await service.stop();
    await expect(fetch(url)).rejects.toThrow();
  });

  it("refuses an address another process holds, naming --metrics_address", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const { port } = holder.address() as { port: number };
    try {
      const error = await startEcho([`--metrics_address=127.0.0.1:${port}`]).catch((e: unknown) => e);
      expect(isSetupError(error) && error.code).toBe("TSM_ERR_ADDRESS_IN_USE");
      expect(String(error)).toContain("--metrics_address");
    } finally {
      holder.close();
    }
  });
});

describe("a web service's /metrics", () => {
  it("is served on its own port, as the gateway's, advertised in the registry, counting requests by route and status", async () => {
    const registry = createMemoryRegistry();
    const web = createWebService({ name: "site", registry, args: [], env: suiteEnv(), logger: silentLogger() });
    web.app.get("/site-metrics/:who", async () => ({ ok: true }));
    await web.start();
    try {
      const [record] = await registry.getService("site");
      expect(record?.nodes[0]?.metadata.metrics).toBe(web.address);
      for (const who of ["ada", "bob"])
        expect((await fetch(`http://${web.address}/site-metrics/${who}`)).status).toBe(200);
      const text = await (await fetch(`http://${web.address}/metrics`)).text();
      expect(text).toContain('http_requests_total{method="GET",route="/site-metrics/:who",code="200"} 2');
      expect(text).toContain("nodejs_eventloop_lag_seconds");
    } finally {
      await web.stop();
    }
  });

  it("is off with --metrics_address=off: no endpoint, nothing advertised", async () => {
    const registry = createMemoryRegistry();
    const web = createWebService({
      name: "site",
      registry,
      args: ["--metrics_address=off"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await web.start();
    try {
      const [record] = await registry.getService("site");
      expect(record?.nodes[0]?.metadata).not.toHaveProperty("metrics");
      expect((await fetch(`http://${web.address}/metrics`)).status).toBe(404);
    } finally {
      await web.stop();
    }
  });
});

describe("/metrics at an address of its own, off the HTTP port the public reaches", () => {
  it("a gateway serves it at --metrics_address and not on its own port", async () => {
    const registry = createMemoryRegistry();
    await startEcho([], registry);
    const gateway = createGateway({
      registry,
      definitions: [AlphaDefinition],
      args: ["--address=127.0.0.1:0", "--metrics_address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await gateway.start();
    try {
      expect(gateway.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      const call = await fetch(`${gateway.url}/echo/Alpha/Unary`, {
        method: "POST",
        body: JSON.stringify({ id: "x" }),
      });
      expect(call.status).toBe(200);
      const text = await (await fetch(`http://${gateway.metricsAddress}/metrics`)).text();
      expect(text).toContain('grpc_client_handled_total{grpc_type="unary",grpc_service="fixtures.services.v1.Alpha"');
      expect(text).toContain("http_requests_total{");
      const onPublicPort = await fetch(`${gateway.url}/metrics`);
      expect(await onPublicPort.text()).not.toContain("grpc_client_handled_total");
    } finally {
      await gateway.stop();
    }
    // Stopped, it listens there no more.
    await expect(fetch(`http://${gateway.metricsAddress}/metrics`)).rejects.toThrow();
  });

  it("a web service serves it at --metrics_address and advertises that address", async () => {
    const registry = createMemoryRegistry();
    const web = createWebService({
      name: "site",
      registry,
      args: ["--metrics_address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    web.app.get("/hello", async () => ({ ok: true }));
    await web.start();
    try {
      const [record] = await registry.getService("site");
      const advertisedAt = record?.nodes[0]?.metadata.metrics;
      expect(advertisedAt).toMatch(/:\d+$/);
      expect(advertisedAt).not.toBe(web.address);
      expect((await fetch(`http://${web.address}/hello`)).status).toBe(200);
      const port = advertisedAt!.slice(advertisedAt!.lastIndexOf(":") + 1);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toContain('http_requests_total{method="GET",route="/hello",code="200"} 1');
      expect((await fetch(`http://${web.address}/metrics`)).status).toBe(404);
    } finally {
      await web.stop();
    }
  });
});
