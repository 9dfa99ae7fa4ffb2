/**
 * A hung node (issue 17): three echo nodes, a caller keeping 8 calls in
 * flight, one node frozen with SIGSTOP for 5 s. An idempotent method's calls
 * that went to the frozen node are abandoned after their attempt timeout and
 * answered by another node: none fails, whatever the deadline. A method
 * with side effects is never sent twice, so its calls to the frozen node
 * wait out their deadline.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code, createService, type ServiceOptions, silentLogger } from "@tsmicro/runtime";
import { AlphaDefinition, BetaDefinition } from "./golden/10-services/services.micro.js";
import { type CallSample, keepCalling } from "./support/load.js";
import { killAllNodes, type NodeProcess, startNode } from "./support/nodes.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await killAllNodes();
});

const p99 = (samples: readonly CallSample[]) => {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.99)] ?? 0;
};

async function startThree(): Promise<{ nodes: NodeProcess[]; flags: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "tsmicro-hung-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const flags = ["--registry=local", `--registry_address=${dir}`];
  const nodes = await Promise.all(
    [1, 2, 3].map(() =>
      startNode("test/fixtures/echo-node.ts", [...flags, "--metrics_address=off"], { ECHO_BETA: "1" }),
    ),
  );
  return { nodes, flags };
}

/** A caller on the nodes' registry with `args` and `options` besides; stopped after the test. */
function startCaller(flags: readonly string[], args: readonly string[], options: Partial<ServiceOptions> = {}) {
  const caller = createService({ name: "caller", args: [...flags, ...args], logger: silentLogger(), ...options });
  cleanups.push(() => caller.stop());
  return caller;
}

/**
 * The calls begun during the freeze, a second or more before its end, that the frozen node
 * answered: each was sent to it and waited there for it to wake. Abandoning an attempt (a timeout
 * or a hedge) leaves none; its answer then came from another node, however slow the machine.
 */
function waitedOutFreeze(samples: readonly CallSample[], node: NodeProcess, frozen: { from: number; to: number }) {
  return samples.filter(
    (s) => s.at >= frozen.from && s.at < frozen.to - 1_000 && (s.answer as { id?: string } | undefined)?.id === node.id,
  );
}

/** Freezes `node` for `ms` (SIGSTOP, then SIGCONT), `afterMs` from now. */
async function freeze(node: NodeProcess, afterMs: number, ms: number): Promise<{ from: number; to: number }> {
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  const from = performance.now();
  node.kill("SIGSTOP");
  await new Promise((resolve) => setTimeout(resolve, ms));
  node.kill("SIGCONT");
  return { from, to: performance.now() };
}

describe("a node frozen for 5 s under load", () => {
  it("costs an idempotent method no call: the frozen node's calls are answered by another within the attempt timeout", async () => {
    const { nodes, flags } = await startThree();
    const caller = startCaller(flags, ["--metrics_address=off"]);
    const beta = caller.client(BetaDefinition, "echo");
    // Warm: every node answers, and the method's attempt timeout is learnt.
    for (let i = 0; i < 60; i++) await Promise.all(Array.from({ length: 8 }, () => beta.get({ id: "warm" })));

    const load = keepCalling(() => beta.get({ id: "x" }), 8);
    const frozen = await freeze(nodes[0]!, 1_000, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const samples = await load.stop();

    const failed = samples.filter((s) => s.outcome !== "OK");
    const duringFreeze = samples.filter((s) => s.at >= frozen.from && s.at < frozen.to);
    console.log(
      `hung node, idempotent Beta.Get: ${samples.length} calls, ${failed.length} failed; ` +
        `p99 during the freeze ${p99(duringFreeze).toFixed(0)} ms (${duringFreeze.length} calls), ` +
        `overall ${p99(samples).toFixed(0)} ms`,
    );
    expect(failed.map((s) => s.outcome)).toEqual([]);
    expect(duringFreeze.length).toBeGreaterThan(100);
    // The frozen node served its share before the freeze, and no call waited for it to wake.
    expect(samples.some((s) => s.at < frozen.from && (s.answer as { id?: string }).id === nodes[0]!.id)).toBe(true);
    expect(waitedOutFreeze(samples, nodes[0]!, frozen)).toEqual([]);
  });

  it("costs a hedged method no call: after 200 ms unanswered the call also goes to another node", async () => {
    const { nodes, flags } = await startThree();
    const caller = startCaller(flags, ["--metrics_address=off", "--client_attempt_timeout=none"], {
      // Above the calls' p99 on a loaded machine, so the budget is not spent on calls merely slow.
      hedging: { "echo/Put": { delayMs: 200 } },
    });
    const beta = caller.client(BetaDefinition, "echo");
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 8 }, () => beta.put({ id: "warm" })));

    const load = keepCalling(() => beta.put({ id: "x" }), 8);
    const frozen = await freeze(nodes[0]!, 500, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const samples = await load.stop();
    const failed = samples.filter((s) => s.outcome !== "OK");
    const duringFreeze = samples.filter((s) => s.at >= frozen.from && s.at < frozen.to);
    console.log(
      `hung node, hedged Beta.Put: ${samples.length} calls, ${failed.length} failed; ` +
        `p99 during the freeze ${p99(duringFreeze).toFixed(0)} ms (${duringFreeze.length} calls)`,
    );
    expect(failed.map((s) => s.outcome)).toEqual([]);
    expect(waitedOutFreeze(samples, nodes[0]!, frozen)).toEqual([]);
  });

  it("gives up a method's attempts after the timeout set for it in code, with the service-wide one off", async () => {
    const { nodes, flags } = await startThree();
    const caller = startCaller(flags, ["--metrics_address=off", "--client_attempt_timeout=none"], {
      attemptTimeouts: { "echo/Get": 300 },
    });
    const beta = caller.client(BetaDefinition, "echo");
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 8 }, () => beta.get({ id: "warm" })));

    const load = keepCalling(() => beta.get({ id: "x" }), 8);
    const frozen = await freeze(nodes[0]!, 500, 3_000);
    const samples = await load.stop();
    expect(samples.filter((s) => s.outcome !== "OK").map((s) => s.outcome)).toEqual([]);
    // Without it, a call sent to the frozen node would wait out the freeze.
    expect(waitedOutFreeze(samples, nodes[0]!, frozen)).toEqual([]);
  });

  it("never sends a call with side effects twice: those sent to the frozen node wait out their deadline", async () => {
    const { nodes, flags } = await startThree();
    const caller = startCaller(flags, ["--metrics_address=off", "--client_request_timeout=1s"]);
    const alpha = caller.client(AlphaDefinition, "echo");
    for (let i = 0; i < 60; i++) await Promise.all(Array.from({ length: 8 }, () => alpha.unary({ id: "warm" })));

    const load = keepCalling(() => alpha.unary({ id: "x" }), 8);
    await freeze(nodes[0]!, 500, 2_500);
    const samples = await load.stop();
    const failed = samples.filter((s) => s.outcome !== "OK");
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed.map((s) => s.outcome))).toEqual(new Set([Code.DEADLINE_EXCEEDED]));
  });
});

describe("a node answering far slower than its peers", () => {
  it("is ejected after a few calls, even by round robin", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tsmicro-slow-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const flags = ["--registry=local", `--registry_address=${dir}`, "--metrics_address=off"];
    const beta = { ECHO_BETA: "1" };
    const slow = await startNode("test/fixtures/echo-node.ts", flags, { ...beta, ECHO_SLOW_MS: "150" });
    await Promise.all([1, 2].map(() => startNode("test/fixtures/echo-node.ts", flags, beta)));
    const caller = startCaller(flags, ["--selector=roundrobin", "--client_attempt_timeout=none"]);
    const client = caller.client(BetaDefinition, "echo");
    const servedBy = async (calls: number) => {
      const ids: string[] = [];
      for (let i = 0; i < calls / 4; i++) {
        ids.push(...(await Promise.all(Array.from({ length: 4 }, () => client.get({ id: "x" })))).map((r) => r.id));
      }
      return ids;
    };
    const first = await servedBy(120);
    expect(first.filter((id) => id === slow.id).length).toBeGreaterThan(0);
    // Left out for 5 s: the next calls (well under a second) all go to the fast nodes.
    const next = await servedBy(200);
    expect(next.filter((id) => id === slow.id)).toEqual([]);
  });
});
