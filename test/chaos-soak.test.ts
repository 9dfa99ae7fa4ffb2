/**
 * A chaos soak (issue 17), bounded and on loopback: three echo nodes on a
 * three-member etcd cluster, the HTTP gateway in front, and steady load
 * through a service's client (8 calls in flight) and through the gateway
 * (4 requests in flight), all of an idempotent method (Beta.Get). A calm
 * run first, then the same length of chaos:
 * - node A SIGKILLed and started again every 10 s;
 * - node B frozen with SIGSTOP for 5 s;
 * - an etcd member stopped and started again;
 * - node C reached through a TCP proxy that delays every chunk 150 ms for a
 *   while and resets every connection once;
 * then a calm tail. It prints calls, failures by code and p50/p99 of each
 * phase, and holds the system to: nothing fails when calm, almost nothing
 * fails in the chaos, and everything has recovered in the tail.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createService, silentLogger } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { BetaDefinition } from "./golden/10-services/services.micro.js";
import { startEtcdCluster, type EtcdCluster, etcdProgram } from "./support/etcd.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { killAllNodes, type NodeProcess, startNode } from "./support/nodes.js";

const calmMs = 15_000;
const chaosMs = 30_000;
const tailMs = 6_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAllNodes();
});

/** One call: when it started, how long it took, and how it ended ("OK", a gRPC code, or an HTTP status). */
interface Sample {
  readonly at: number;
  readonly ms: number;
  readonly outcome: string;
}

/** Keeps `concurrency` calls going until `stop()`; records every call. */
function keepCalling(call: () => Promise<string>, concurrency: number): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      const at = performance.now();
      const outcome = await call().catch((error: { code?: unknown }) => String(error.code ?? error));
      samples.push({ at, ms: performance.now() - at, outcome });
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return samples;
    },
  };
}

interface Phase {
  readonly calls: number;
  readonly failures: Record<string, number>;
  readonly p50: number;
  readonly p99: number;
}

function phase(samples: readonly Sample[], from: number, to: number): Phase {
  const inside = samples.filter((s) => s.at >= from && s.at < to);
  const failures: Record<string, number> = {};
  for (const s of inside) if (s.outcome !== "OK") failures[s.outcome] = (failures[s.outcome] ?? 0) + 1;
  const sorted = inside.map((s) => s.ms).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  return { calls: inside.length, failures, p50: at(0.5), p99: at(0.99) };
}

const failed = (p: Phase) => Object.values(p.failures).reduce((a, b) => a + b, 0);
const line = (name: string, p: Phase) =>
  `  ${name.padEnd(16)} ${String(p.calls).padStart(6)} calls, ${String(failed(p)).padStart(4)} failed ` +
  `${JSON.stringify(p.failures)}, p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it.skipIf(!etcdProgram)(
  "keeps an idempotent method answering through node kills, a freeze, an etcd member restart and a bad link",
  async () => {
    const etcd: EtcdCluster = await startEtcdCluster({ members: 3 });
    cleanups.push(() => etcd.stop());
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-chaos-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const registry = ["--registry=etcd", `--registry_address=${etcd.endpoints.join(",")}`, "--register_ttl=6s"];
    const nodeFlags = [...registry, "--register_interval=2s", "--metrics_address=off"];
    const beta = { ECHO_BETA: "1", OTEL_SDK_DISABLED: "true" };

    // Node A keeps its port across restarts; node C is reached through the proxy, which it advertises.
    const portA = await freePort();
    const startA = () =>
      startNode("test/fixtures/echo-node.ts", [...nodeFlags, `--server_address=127.0.0.1:${portA}`], beta);
    const portC = await freePort();
    const proxy: FaultProxy = await startFaultProxy(`127.0.0.1:${portC}`);
    cleanups.push(() => proxy.close());
    let nodeA: NodeProcess = await startA();
    const nodeB = await startNode("test/fixtures/echo-node.ts", nodeFlags, beta);
    await startNode(
      "test/fixtures/echo-node.ts",
      [...nodeFlags, `--server_address=127.0.0.1:${portC}`, `--server_advertise=${proxy.address}`],
      beta,
    );

    const caller = createService({
      name: "soak-caller",
      args: [...registry, "--metrics_address=off"],
      env: {},
      logger: silentLogger(),
    });
    cleanups.push(() => caller.stop());
    const client = caller.client(BetaDefinition, "echo");
    const gateway: Gateway = createGateway({
      args: [...registry, "--address=127.0.0.1:0", "--metrics_address=off"],
      env: { OTEL_SDK_DISABLED: "true" },
      logger: silentLogger(),
    });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    const viaClient = async () => {
      await client.get({ id: "x" });
      return "OK";
    };
    const viaGateway = async () => {
      const response = await fetch(`${gateway.url}/echo/Beta/Get`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"id":"x"}',
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      return response.ok ? "OK" : `HTTP ${response.status}`;
    };
    // Warm: every node answers through both paths.
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 3; i++) seen.add((await client.get({ id: "warm" })).id);
    expect(seen.size).toBe(3);
    for (let i = 0; i < 50; i++) expect(await viaGateway()).toBe("OK");

    const clientLoad = keepCalling(viaClient, 8);
    const gatewayLoad = keepCalling(viaGateway, 4);
    const t0 = performance.now();
    await sleep(calmMs);
    const chaosFrom = performance.now();
    const at = (ms: number) => sleep(Math.max(0, chaosFrom + ms - performance.now()));
    const kills = (async () => {
      for (const ms of [0, 10_000, 20_000]) {
        await at(ms);
        nodeA.kill("SIGKILL");
        await nodeA.exited;
        nodeA = await startA();
      }
    })();
    const freeze = (async () => {
      await at(3_000);
      nodeB.kill("SIGSTOP");
      await at(8_000);
      nodeB.kill("SIGCONT");
    })();
    const member = (async () => {
      await at(12_000);
      await etcd.stopMember(0);
      await at(16_000);
      await etcd.startMember(0);
    })();
    const link = (async () => {
      await at(18_000);
      proxy.delay(150);
      await at(24_000);
      proxy.reset();
      await at(26_000);
      proxy.delay(0);
    })();
    await Promise.all([kills, freeze, member, link]);
    await at(chaosMs);
    const tailFrom = performance.now();
    await sleep(tailMs);
    const [clientSamples, gatewaySamples] = await Promise.all([clientLoad.stop(), gatewayLoad.stop()]);
    const end = performance.now();

    const report = {
      client: {
        calm: phase(clientSamples, t0, chaosFrom),
        chaos: phase(clientSamples, chaosFrom, tailFrom),
        tail: phase(clientSamples, tailFrom, end),
      },
      gateway: {
        calm: phase(gatewaySamples, t0, chaosFrom),
        chaos: phase(gatewaySamples, chaosFrom, tailFrom),
        tail: phase(gatewaySamples, tailFrom, end),
      },
    };
    console.log(
      [
        `chaos soak: calm ${calmMs / 1000} s, chaos ${chaosMs / 1000} s, tail ${tailMs / 1000} s`,
        ...(["client", "gateway"] as const).flatMap((path) =>
          (["calm", "chaos", "tail"] as const).map((name) => line(`${path} ${name}`, report[path][name])),
        ),
      ].join("\n"),
    );

    for (const path of ["client", "gateway"] as const) {
      const { calm, chaos, tail } = report[path];
      expect(calm.calls).toBeGreaterThan(100);
      expect(tail.calls).toBeGreaterThan(20);
      expect({ path, calm: calm.failures }).toEqual({ path, calm: {} });
      expect({ path, tail: tail.failures }).toEqual({ path, tail: {} });
      // Through every fault, at most one call in a hundred fails.
      expect(failed(chaos)).toBeLessThanOrEqual(chaos.calls / 100);
    }
  },
  180_000,
);
