import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Code,
  createService,
  failedService,
  failedServiceKey,
  silentLogger,
  type MicroService,
} from "@tsmicro/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition, type AlphaClient } from "./golden/10-services/services.micro.js";
import { waitFor } from "./support/load.js";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

// With tracing on (the default) a handled call lives in its span's context; with it off, in the service's own scope.
describe.each([
  ["tracing on", {}],
  ["tracing off", { OTEL_SDK_DISABLED: "true" }],
])("deadlines and cancellation across two hops (caller -> echo-a -> echo-b), %s", (_, tracingEnv) => {
  let dir = "";
  let caller: MicroService;
  let a: AlphaClient;
  let b: AlphaClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-propagation-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/echo-node.ts", flags, { ECHO_NAME: "echo-b" });
    await startNode("test/fixtures/echo-node.ts", flags, {
      ECHO_NAME: "echo-a",
      ECHO_DOWNSTREAM: "echo-b",
      ...tracingEnv,
    });
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
    a = caller.client(AlphaDefinition, "echo-a");
    b = caller.client(AlphaDefinition, "echo-b");
  });

  afterAll(async () => {
    await caller?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("the caller's remaining deadline reaches the second hop", async () => {
    const { sequence: left } = await a.unary({ id: "relay:deadline" }, { timeoutMs: 800 });
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(800);
  });

  it("without a timeout the default --client_request_timeout applies, still passed on", async () => {
    const { sequence: left } = await a.unary({ id: "relay:deadline" });
    expect(left).toBeGreaterThan(3_000);
    expect(left).toBeLessThanOrEqual(5_000);
  });

  it("a deadline that passes at the second hop fails the call with DEADLINE_EXCEEDED", async () => {
    await expect(a.unary({ id: "relay:sleep:2000" }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: Code.DEADLINE_EXCEEDED,
    });
  });

  it("a deadline that passes at the second hop names the service and what set the deadline", async () => {
    // Whichever answer comes first: the caller's own timeout, or echo-a's call to echo-b cut at the deadline it inherited.
    const failure = await a.unary({ id: "relay:sleep:2000" }, { timeoutMs: 300 }).then(
      () => new Error("answered"),
      (error: Error) => error,
    );
    expect(failure.message).toMatch(
      /^no answer from (echo-a within 300 ms \(the call's timeoutMs\)|echo-b before the deadline of the call being served \(\/[\w.]+\/Unary\))/,
    );
  });

  it("the request id and x-md-global- metadata reach the second hop; other metadata does not", async () => {
    const metadata = { "x-request-id": "req-7", "x-md-global-tenant": "acme", authorization: "Bearer t" };
    const hop = async (key: string) => {
      const { payload, sequence } = await a.unary({ id: `relay:metadata:${key}` }, { metadata });
      return sequence === 0 ? undefined : new TextDecoder().decode(payload);
    };
    expect(await hop("x-request-id")).toBe("req-7");
    expect(await hop("x-md-global-tenant")).toBe("acme");
    expect(await hop("authorization")).toBeUndefined();
  });

  it("cancelling at the caller aborts the handler's signal on the second hop", async () => {
    const before = (await b.unary({ id: "cancelled" })).sequence;
    const controller = new AbortController();
    const call = a.unary({ id: "relay:sleep:5000" }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(call).rejects.toMatchObject({ code: Code.CANCELLED });
    await waitFor(
      "echo-b to see the cancellation",
      async () => (await b.unary({ id: "cancelled" })).sequence > before,
      5_000,
    );
  });
});

describe("a failure at the second hop, passed on by the first (caller -> echo-a x2 -> echo-gone)", () => {
  let dir = "";
  let caller: MicroService;
  let noRetries: MicroService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-propagation-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    // echo-a's downstream has no node: every relay fails UNAVAILABLE at echo-a's client.
    const env = { ECHO_NAME: "echo-a", ECHO_DOWNSTREAM: "echo-gone" };
    await Promise.all([
      startNode("test/fixtures/echo-node.ts", flags, env),
      startNode("test/fixtures/echo-node.ts", flags, env),
    ]);
    caller = createService({ name: "caller", args: flags, env: suiteEnv(), logger: silentLogger() });
    noRetries = createService({
      name: "caller",
      args: [...flags, "--client_retries=0"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await caller?.stop();
    await noRetries?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  /** How many relays each echo-a node made, by node id (round robin reaches both in a few calls). */
  async function relaysByNode(client: AlphaClient): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let i = 0; i < 10 && seen.size < 2; i++) {
      const { id, sequence } = await client.unary({ id: "relays" });
      seen.set(id, sequence);
    }
    return seen;
  }

  it("names the service that failed, and is not sent to the other echo-a node, which would call it too", async () => {
    const a = caller.client(AlphaDefinition, "echo-a");
    const before = [...(await relaysByNode(a)).values()].reduce((sum, n) => sum + n, 0);
    const error = await a.unary({ id: "relay:x" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.UNAVAILABLE, metadata: { [failedServiceKey]: "echo-gone" } });
    expect(failedService(error)).toBe("echo-gone");
    const after = [...(await relaysByNode(a)).values()].reduce((sum, n) => sum + n, 0);
    expect(after - before).toBe(1);
  });

  it("leaves the echo-a node that passed it on in the caller's rotation", async () => {
    const a = noRetries.client(AlphaDefinition, "echo-a");
    // Left out for UNAVAILABLE, the node that answered would not serve the calls after (the other node would).
    await expect(a.unary({ id: "relay:x" })).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) served.add((await a.unary({ id: "echo" })).id);
    expect(served.size).toBe(2);
  });
});
