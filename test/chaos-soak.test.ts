/**
 * A chaos soak (issue 17), bounded and on loopback: three echo nodes on a
 * three-member etcd cluster, the HTTP gateway in front, and steady load
 * through a service's client (8 calls in flight) and through the gateway
 * (4 requests in flight), all of idempotent methods: half reads (Beta.Get),
 * half creates keyed by a client-generated id (Beta.Put into a store the
 * nodes share, which applies an id once). Clients retry twice. Beside them
 * the client keeps 2 calls in flight of a method the proto does not mark
 * idempotent (Beta.OldGet, which the nodes log by request id). A calm
 * run first, then the same length (30 s) of chaos:
 * - node A SIGKILLed and started again every 10 s;
 * - node B frozen with SIGSTOP for 5 s;
 * - an etcd member stopped and started again;
 * - node C reached through a TCP proxy that delays every chunk 150 ms for a
 *   while and resets every connection once;
 * then a calm tail. It prints calls, failures by code and p50/p99 of each
 * phase (with the first failures' reasons), and holds the system to: no
 * call fails when calm or in the tail, at most one in a thousand in the
 * chaos, p99 in the chaos within 3x the calm run's, and every create that
 * was answered is in the store, none applied twice. The method with side
 * effects fails only when calm or in the tail never, and in the chaos only
 * with errors that say whether it may have been applied: none is applied
 * twice (never sent again once it may have reached a node), every one
 * answered is applied, and none said unapplied is.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createService, silentLogger, type TsmicroError } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { BetaDefinition } from "./golden/10-services/services.micro.js";
import { startEtcdCluster, type EtcdCluster, etcdProgram } from "./support/etcd.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { type CallSample, keepCalling } from "./support/load.js";
import { killAllNodes, type NodeProcess, startNode } from "./support/nodes.js";
import { freePort } from "./support/ports.js";
import { suiteEnv } from "./support/suite-env.js";

const calmMs = 30_000;
const chaosMs = 30_000;
const tailMs = 6_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAllNodes();
});

interface Phase {
  readonly calls: number;
  readonly failures: Record<string, number>;
  /** The first few failures, with when (seconds into the phase) and why. */
  readonly why: readonly string[];
  readonly p50: number;
  readonly p99: number;
}

function phase(samples: readonly CallSample[], from: number, to: number): Phase {
  const inside = samples.filter((s) => s.at >= from && s.at < to);
  const failures: Record<string, number> = {};
  for (const s of inside) if (s.outcome !== "OK") failures[String(s.outcome)] = (failures[String(s.outcome)] ?? 0) + 1;
  const sorted = inside.map((s) => s.ms).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  const why = inside
    .filter((s) => s.outcome !== "OK")
    .slice(0, 3)
    .map((s) => `${((s.at - from) / 1000).toFixed(1)} s: ${String(s.outcome)} ${s.message ?? ""}`);
  return { calls: inside.length, failures, why, p50: at(0.5), p99: at(0.99) };
}

const failed = (p: Phase) => Object.values(p.failures).reduce((a, b) => a + b, 0);
const line = (name: string, p: Phase) =>
  `  ${name.padEnd(16)} ${String(p.calls).padStart(6)} calls, ${String(failed(p)).padStart(4)} failed ` +
  `${JSON.stringify(p.failures)}, p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms` +
  p.why.map((why) => `\n      ${why}`).join("");

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
    const store = join(dir, "store");
    await mkdir(store);
    const beta = { ECHO_BETA: "1", ECHO_STORE: store, OTEL_SDK_DISABLED: "true" };

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

    const clientFlags = [...registry, "--metrics_address=off", "--client_retries=2"];
    const caller = createService({ name: "soak-caller", args: clientFlags, env: suiteEnv(), logger: silentLogger() });
    cleanups.push(() => caller.stop());
    const client = caller.client(BetaDefinition, "echo");
    const gateway: Gateway = createGateway({
      args: [...clientFlags, "--address=127.0.0.1:0"],
      env: suiteEnv({ OTEL_SDK_DISABLED: "true" }),
      logger: silentLogger(),
    });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    // Creates answered OK, by id; every one must be in the store at the end.
    const created: string[] = [];
    let next = 0;
    const clientGet = () => client.get({ id: "x" });
    // The method with side effects: its calls by outcome.
    const unmarked = {
      answered: [] as string[],
      unapplied: [] as string[],
      maybe: [] as string[],
      unclear: [] as string[],
    };
    const clientUnmarked = async () => {
      const id = `unmarked-${next++}`;
      try {
        await client.oldGet({ id });
        unmarked.answered.push(id);
      } catch (error) {
        const { unprocessed, mayHaveBeenApplied, message } = error as TsmicroError;
        if (mayHaveBeenApplied && message.includes("may have been applied")) unmarked.maybe.push(id);
        else if (unprocessed) unmarked.unapplied.push(id);
        else unmarked.unclear.push(`${id}: ${message}`);
        throw error;
      }
    };
    const clientPut = async () => {
      const id = `client-${next++}`;
      await client.put({ id });
      created.push(id);
    };
    const viaGateway = (method: "Get" | "Put") => async () => {
      const id = `gateway-${next++}`;
      const response = await fetch(`${gateway.url}/echo/Beta/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      if (!response.ok) throw Object.assign(new Error(body), { code: `HTTP ${response.status}` });
      if (method === "Put") created.push(id);
    };
    // Warm: every node answers through both paths.
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 3; i++) seen.add((await client.get({ id: "warm" })).id);
    expect(seen.size).toBe(3);
    for (let i = 0; i < 50; i++) await viaGateway("Get")();

    const loads = [
      keepCalling(clientGet, 4),
      keepCalling(clientPut, 4),
      keepCalling(viaGateway("Get"), 2),
      keepCalling(viaGateway("Put"), 2),
      keepCalling(clientUnmarked, 2),
    ];
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
    const [gets, puts, gatewayGets, gatewayPuts, unmarkedCalls] = await Promise.all(loads.map((load) => load.stop()));
    const clientSamples = [...gets!, ...puts!];
    const gatewaySamples = [...gatewayGets!, ...gatewayPuts!];
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
      // A call with side effects in flight when the chaos began is not retried: it belongs to the chaos.
      unmarked: {
        calm: phase(
          unmarkedCalls!.filter((s) => s.at + s.ms < chaosFrom),
          t0,
          chaosFrom,
        ),
        chaos: phase(
          unmarkedCalls!.map((s) => (s.at < chaosFrom && s.at + s.ms >= chaosFrom ? { ...s, at: chaosFrom } : s)),
          chaosFrom,
          tailFrom,
        ),
        tail: phase(unmarkedCalls!, tailFrom, end),
      },
    };
    console.log(
      [
        `chaos soak: calm ${calmMs / 1000} s, chaos ${chaosMs / 1000} s, tail ${tailMs / 1000} s`,
        ...(["client", "gateway", "unmarked"] as const).flatMap((path) =>
          (["calm", "chaos", "tail"] as const).map((name) => line(`${path} ${name}`, report[path][name])),
        ),
      ].join("\n"),
    );

    for (const path of ["client", "gateway"] as const) {
      const { calm, chaos, tail } = report[path];
      expect(calm.calls).toBeGreaterThan(100);
      expect(tail.calls).toBeGreaterThan(20);
      expect({ path, calm: calm.failures, tail: tail.failures }).toEqual({ path, calm: {}, tail: {} });
      // The goal is none, and runs have had none since retries stopped going to a restarted node's
      // old and new registrations in turn (the same address); the bound keeps a rare loss from
      // failing the suite while the printed reasons say what it was.
      expect(failed(chaos)).toBeLessThanOrEqual(chaos.calls / 1_000);
      expect(chaos.p99).toBeLessThanOrEqual(3 * calm.p99);
    }
    // Nothing lost: every create answered OK is stored, and none was applied twice.
    const stored = new Set((await readdir(store)).filter((name) => name !== "applied.log"));
    expect(created.filter((id) => !stored.has(id))).toEqual([]);
    const applied = (await readFile(join(store, "applied.log"), "utf8")).split("\n").filter(Boolean);
    expect(applied.length).toBe(new Set(applied).size);
    console.log(`  creates answered: ${created.length}, stored: ${stored.size}, applied once each`);

    // The method with side effects: never sent twice, and every failure says what became of the call.
    expect({ calm: report.unmarked.calm.failures, tail: report.unmarked.tail.failures }).toEqual({
      calm: {},
      tail: {},
    });
    expect(unmarked.unclear).toEqual([]);
    const logged = (await readFile(join(store, "unmarked.log"), "utf8")).split("\n").filter(Boolean);
    expect(logged.length).toBe(new Set(logged).size);
    const inLog = new Set(logged);
    expect(unmarked.answered.filter((id) => !inLog.has(id))).toEqual([]);
    expect(unmarked.unapplied.filter((id) => inLog.has(id))).toEqual([]);
    console.log(
      `  side-effect calls answered: ${unmarked.answered.length}, failed saying they may have been applied: ` +
        `${unmarked.maybe.length} (of which applied: ${unmarked.maybe.filter((id) => inLog.has(id)).length}), ` +
        `failed unapplied: ${unmarked.unapplied.length}, applied once each`,
    );
  },
  180_000,
);
