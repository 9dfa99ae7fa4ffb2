/**
 * A service process paused (SIGSTOP: a debugger, a suspended VM or laptop) for longer than its
 * --register_ttl: the registry drops its node meanwhile, and on SIGCONT its next heartbeat writes it
 * back. That lapse used to pass without a line; the node now says it.
 */
import { createRegistry, createService, type Registry, silentLogger } from "@tsmicro/runtime";
import { resolveServiceSettings } from "@tsmicro/runtime/internal";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./support/load.js";
import { registryBackends } from "./support/registry-backends.js";
import { killAllNodes, loggedBy, startNode } from "./support/nodes.js";
import { OrdersEvents } from "./golden/18-events/shop/v1/orders.micro.js";
import { suiteEnv } from "./support/suite-env.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAllNodes();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface LogLine {
  readonly msg: string;
  readonly silentMs: number;
  readonly registerTtlMs: number;
}

describe.each(registryBackends)(
  "a node paused for longer than its --register_ttl on the %s registry",
  (_kind, make, skip) => {
    it.skipIf(skip)(
      "is dropped while paused, and on resume says its registration had expired and registers again",
      async () => {
        const backend = await make();
        cleanups.push(() => backend.cleanup());
        const node = await startNode("test/fixtures/echo-node.ts", [
          ...backend.args,
          "--register_ttl=2s",
          "--register_interval=500ms",
          "--metrics_address=off",
        ]);
        const registry: Registry = createRegistry(resolveServiceSettings({}, backend.args, {}));
        await registry.start();
        cleanups.push(() => registry.stop());
        const registered = async () =>
          (await registry.getService("echo")).some((service) => service.nodes.some((n) => n.id === node.id));
        await waitFor("the node registered", registered);

        node.kill("SIGSTOP");
        cleanups.push(async () => node.kill("SIGCONT"));
        // The registry drops it once its TTL passes without a heartbeat: the lapse the line is about.
        await waitFor("the paused node dropped from the registry", async () => !(await registered()), 20_000);
        node.kill("SIGCONT");
        await waitFor("the node registered again", registered, 20_000);

        const message = `the registration of ${node.id} had expired`;
        const said = () =>
          node
            .output()
            .split("\n")
            .filter((line) => line.includes(message))
            .map((line) => JSON.parse(line) as LogLine);
        await waitFor("the line saying so", () => said().length > 0);
        const lines = said();
        expect(lines).toHaveLength(1);
        expect(lines[0]?.msg).toMatch(
          new RegExp(
            `^${message} \\(no heartbeat reached the registry for [\\d.]+ s, longer than --register_ttl \\(2 s\\): ` +
              "was the process paused, or its event loop blocked\\?\\); registered again$",
          ),
        );
        expect(lines[0]?.silentMs).toBeGreaterThan(2_000);
        // The registry was never away: no heartbeat failed, so nothing else explains the lapse.
        expect(loggedBy(node, "registered again: the registry answers")).toEqual([]);
      },
      60_000,
    );

    it.skipIf(skip)(
      "says it once, though its http-broker subscriptions, registered with the same TTL, lapsed with it",
      async () => {
        const backend = await make();
        cleanups.push(() => backend.cleanup());
        const flags = [...backend.args, "--broker=http", "--register_ttl=2s", "--register_interval=500ms"];
        const node = await startNode("test/fixtures/order-events-node.ts", [...flags, "--metrics_address=off"]);
        const registry: Registry = createRegistry(resolveServiceSettings({}, backend.args, {}));
        await registry.start();
        cleanups.push(() => registry.stop());
        const registered = async () =>
          (await registry.getService("billing")).some((service) => service.nodes.some((n) => n.id === node.id));
        // Its two subscriptions (OrderPlaced, OrderCancelled), each a node of tsmicro.broker.
        const subscriptions = async () =>
          (await registry.getService("tsmicro.broker"))
            .flatMap((service) => service.nodes)
            .filter((n) => n.metadata["pid"] === String(node.pid)).length;
        const all = async () => (await registered()) && (await subscriptions()) === 2;
        await waitFor("the node and its subscriptions registered", all);

        node.kill("SIGSTOP");
        cleanups.push(async () => node.kill("SIGCONT"));
        const none = async () => !(await registered()) && (await subscriptions()) === 0;
        await waitFor("the node and its subscriptions dropped", none, 20_000);
        node.kill("SIGCONT");
        await waitFor("the node and its subscriptions registered again", all, 20_000);
        // An event through the subscriptions: the process has run well past the heartbeats that found the lapse.
        const orders = createService({
          name: "orders",
          args: [...flags, "--metrics_address=off"],
          env: suiteEnv(),
          logger: silentLogger(),
        });
        await orders.start();
        cleanups.push(() => orders.stop());
        await orders.publisher(OrdersEvents).orderCancelled({ orderId: "o-1", reason: "test" });
        await waitFor("the event received", () => loggedBy(node, "event received").length > 0);

        const lapses = node
          .output()
          .split("\n")
          .filter((line) => line.includes("had expired (no heartbeat reached the registry"));
        expect(lapses).toHaveLength(1);
      },
      60_000,
    );
  },
);
