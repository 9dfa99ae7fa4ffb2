/**
 * The gateway's `/healthz`, for Kubernetes' probes, Docker's HEALTHCHECK and load balancers:
 * real HTTP to in-process gateways (and to `tsmicro api` for SIGTERM), real gRPC to fixture 16's
 * Library node (test/fixtures/gateway-node.ts), found through a local registry folder.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { create, createFileRegistry, fromBinary, type DescExtension, setExtension, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  type ServiceDefinition,
  silentLogger,
} from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibraryDefinition } from "./golden/16-gateway/gateway.micro.js";
import { killAllNodes, loggedBy, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

/** What `/healthz` answers while the gateway serves, as grpc-gateway's does. */
const serving = { status: "SERVING" };

/** What `/healthz` answers once the gateway is stopping. */
const stopping = { code: 14, message: "the gateway is shutting down; send requests to another instance", details: [] };

/** `definition` as built from its proto edited: Ping bound to `GET /healthz` instead of `GET /v1/ping`. */
function withPingOnHealthz<S extends ServiceDefinition>(definition: S): S {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(definition.fileDescriptorSet, "base64"));
  const registry = createFileRegistry(set);
  const http = registry.getExtension("google.api.http") as DescExtension;
  const ping = registry.getService(definition.typeName)!.methods.find((method) => method.name === "Ping")!;
  const rule = create(registry.getMessage("google.api.HttpRule")!, { pattern: { case: "get", value: "/healthz" } });
  setExtension(ping.proto.options!, http, rule as never);
  return { ...definition, fileDescriptorSet: Buffer.from(toBinary(FileDescriptorSetSchema, set)).toString("base64") };
}

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the gateway's /healthz", () => {
  let dir = "";
  let flags: string[] = [];
  const gateways: Gateway[] = [];
  let gateway: Gateway;

  /** A gateway on the suite's registry with `args`, started; stopped after the suite. */
  async function startGateway(
    args: readonly string[] = [],
    options: { definitions?: ServiceDefinition[]; lines?: Record<string, unknown>[] } = {},
  ): Promise<Gateway> {
    const lines = options.lines;
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines?.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const started = createGateway({
      args: [...flags, "--address=127.0.0.1:0", ...args],
      env: suiteEnv(),
      logger: lines ? createLogger({ destination }) : silentLogger(),
      ...(options.definitions ? { definitions: options.definitions } : {}),
    });
    gateways.push(started);
    await started.start();
    return started;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-health-"));
    flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    gateway = await startGateway();
  });

  afterAll(async () => {
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  describe("while the gateway serves", () => {
    it("answers GET and HEAD with 200 and grpc-gateway's body, never from a cache, and the index names it", async () => {
      const answer = await fetch(`${gateway.url}/healthz`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
      expect(answer.headers.get("cache-control")).toBe("no-store");
      expect(await answer.json()).toEqual(serving);
      const head = await fetch(`${gateway.url}/healthz`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe("");
      expect(await (await fetch(`${gateway.url}/`)).json()).toMatchObject({ health: "/healthz" });
    });

    it("is no one's request: neither counted in http_requests_total nor traced, as a scrape of /metrics", async () => {
      for (let i = 0; i < 3; i++)
        expect((await fetch(`${gateway.url}/healthz`)).headers.get("traceresponse")).toBeNull();
      const routed = await fetch(`${gateway.url}/v1/ping`);
      expect(routed.status).toBe(200);
      // A routed request is traced and counted, so the absence below is the probes' own.
      expect(routed.headers.get("traceresponse")).not.toBeNull();
      const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
      expect(metrics).toMatch(/^http_requests_total\{[^}]*route="\/v1\/ping"/m);
      expect(metrics).not.toMatch(/route="\/healthz"/);
    });

    it("takes GET and HEAD only: another method gets 405 with Allow: GET, HEAD", async () => {
      const answer = await fetch(`${gateway.url}/healthz`, { method: "POST", body: "{}" });
      expect(answer.status).toBe(405);
      expect(answer.headers.get("allow")).toBe("GET, HEAD");
      expect(await answer.json()).toMatchObject({
        code: 12,
        message: "POST is not allowed on /healthz; it takes GET, HEAD",
      });
    });

    it("refuses grpc-gateway's ?service=NAME, which it would answer for the gateway alone, saying where a service's health is", async () => {
      const answer = await fetch(`${gateway.url}/healthz?service=library`);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({
        code: 3,
        message: expect.stringMatching(
          /^\/healthz answers for the gateway itself, not for a service \(service="library"\): ask .* tsmicro health NAME/,
        ),
      });
    });

    it("gives way to a service's own GET /healthz route, which the index then does not name as the gateway's", async () => {
      const owned = await startGateway([], { definitions: [withPingOnHealthz(LibraryDefinition)] });
      await until("the gateway routes library", async () => (await fetch(`${owned.url}/v1/shelves/s1`)).ok);
      const answer = await fetch(`${owned.url}/healthz`);
      expect(answer.status).toBe(200);
      // Ping's answer, not the gateway's.
      expect(await answer.json()).toEqual({ status: "ok" });
      expect(await (await fetch(`${owned.url}/`)).json()).not.toHaveProperty("health");
    });

    it("stays at /healthz under --prefix, as /metrics does, and PREFIX/healthz is the services'", async () => {
      const prefixed = await startGateway(["--prefix=/api"]);
      expect(await (await fetch(`${prefixed.url}/healthz`)).json()).toEqual(serving);
      expect((await fetch(`${prefixed.url}/api/healthz`)).status).toBe(404);
      expect(await (await fetch(`${prefixed.url}/api/`)).json()).toMatchObject({ health: "/healthz" });
      const posted = await fetch(`${prefixed.url}/healthz`, { method: "POST", body: "{}" });
      expect(posted.status).toBe(405);
      expect(posted.headers.get("allow")).toBe("GET, HEAD");
    });
  });

  describe("--handler web and event", () => {
    it("answers /healthz in front of web services too: one is reached by /NAME/…", async () => {
      const web = createGateway({
        registry: createMemoryRegistry(),
        args: ["--handler=web", "--address=127.0.0.1:0", "--metrics_address=off"],
        env: suiteEnv(),
        logger: silentLogger(),
      });
      gateways.push(web);
      await web.start();
      const answer = await fetch(`${web.url}/healthz`);
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual(serving);
    });

    it("answers GET /healthz beside POST /healthz, which publishes to the topic healthz", async () => {
      const events = createGateway({
        registry: createMemoryRegistry(),
        broker: createMemoryBroker(),
        args: ["--handler=event", "--address=127.0.0.1:0", "--metrics_address=off"],
        env: suiteEnv(),
        logger: silentLogger(),
      });
      gateways.push(events);
      await events.start();
      expect(await (await fetch(`${events.url}/healthz`)).json()).toEqual(serving);
      const published = await fetch(`${events.url}/healthz`, { method: "POST", body: "{}" });
      expect(published.status).toBe(202);
      // A publish is someone's request, traced as any other: only GET and HEAD on /healthz are probes.
      expect(published.headers.get("traceresponse")).not.toBeNull();
      const put = await fetch(`${events.url}/healthz`, { method: "PUT", body: "{}" });
      expect(put.status).toBe(405);
      expect(put.headers.get("allow")).toBe("GET, HEAD, POST");
    });
  });

  describe("once the gateway is stopping", () => {
    it("answers 503 through --shutdown_delay while every other request is still served, then stops listening", async () => {
      const lines: Record<string, unknown>[] = [];
      const draining = await startGateway(["--shutdown_delay=5s", "--metrics_address=off"], { lines });
      const url = draining.url!;
      // A connection of its own per request: a load balancer's health check opens one each time.
      const fresh = { headers: { connection: "close" } };
      expect((await fetch(`${url}/healthz`, fresh)).status).toBe(200);
      const stopped = draining.stop();
      const probe = await fetch(`${url}/healthz`, fresh);
      expect(probe.status).toBe(503);
      expect(probe.headers.get("cache-control")).toBe("no-store");
      expect(await probe.json()).toEqual(stopping);
      expect((await fetch(`${url}/v1/ping`, fresh)).status).toBe(200);
      expect(lines.map((line) => line.msg)).toContain(
        "stopping: /healthz answers 503, and requests are still served for 5 s (--shutdown_delay) before the gateway stops taking connections",
      );
      await stopped;
      await expect(fetch(`${url}/healthz`, fresh)).rejects.toThrow();
    });

    it("answers 503 through --shutdown_delay where a service routes GET /healthz too: the probe is of the gateway, which is going", async () => {
      const owned = await startGateway(["--shutdown_delay=5s", "--metrics_address=off"], {
        definitions: [withPingOnHealthz(LibraryDefinition)],
      });
      const url = owned.url!;
      await until("the gateway routes library", async () => (await fetch(`${url}/v1/shelves/s1`)).ok);
      const fresh = { headers: { connection: "close" } };
      expect(await (await fetch(`${url}/healthz`, fresh)).json()).toEqual({ status: "ok" });
      const stopped = owned.stop();
      const probe = await fetch(`${url}/healthz`, fresh);
      expect(probe.status).toBe(503);
      expect(await probe.json()).toEqual(stopping);
      expect((await fetch(`${url}/v1/shelves/s1`, fresh)).status).toBe(200);
      await stopped;
    });

    it("tsmicro api on SIGTERM: /healthz answers 503 while it drains, then the process exits 0", async () => {
      const api = await startNode("bin/tsmicro.ts", [
        "api",
        ...flags,
        "--address=127.0.0.1:0",
        "--metrics_address=off",
        // Room for a loaded machine to answer the probes while it drains.
        "--shutdown_delay=8s",
      ]);
      const healthz = `http://${api.address}/healthz`;
      expect((await fetch(healthz)).status).toBe(200);
      api.kill("SIGTERM");
      let answer: Response | undefined;
      await until("/healthz answers otherwise than 200", async () => {
        answer = await fetch(healthz, { headers: { connection: "close" } });
        return answer.status !== 200;
      });
      expect(answer!.status).toBe(503);
      expect(await answer!.json()).toEqual(stopping);
      expect(await api.exited, api.output()).toBe(0);
      expect(loggedBy(api, "gateway stopped")).toHaveLength(1);
    });
  });
});
