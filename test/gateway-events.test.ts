/**
 * `tsmicro api --handler event` end to end: an in-process gateway publishes
 * what is POSTed to /{topic} through the embedded broker to subscriber
 * processes found in one local registry folder. Typed topics (fixture 18's
 * order events) are checked against their message; others pass raw JSON.
 * Then on a real nats-server: NATS's own subjects refused, and JetStream
 * publishes only to topics a stream stores.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Broker,
  type BrokerMessage,
  brokerSettingsFrom,
  createBroker,
  createRegistry,
  type Registry,
  createService,
  type MicroService,
  silentLogger,
} from "@tsmicro/runtime";
import type { DescFile, FileRegistry, JsonObject } from "@bufbuild/protobuf";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOpenApi } from "../generator/openapi.js";
import { OrdersDefinition, OrdersEvents } from "./golden/18-events/shop/v1/orders.micro.js";
import { waitFor } from "./support/load.js";
import { connect, type NatsConnection } from "nats";
import { natsProgram, startNatsServer, type NatsServer } from "./support/nats.js";
import { killAllNodes, loggedBy, startNode, type NodeProcess } from "./support/nodes.js";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { suiteEnv } from "./support/suite-env.js";

interface Received {
  readonly event: Record<string, unknown>;
  readonly topic: string;
}

const receivedBy = (node: NodeProcess) => loggedBy<Received>(node, "event received");

const post = (gateway: Gateway, path: string, body: string) =>
  fetch(`${gateway.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } });

describe("the gateway's event handler (POST /{topic} -> broker)", () => {
  let dir: string;
  let flags: string[];
  let billing: NodeProcess;
  let typed: Gateway;
  let discovering: Gateway;
  let registry: Registry;
  let broker: Broker;
  let routing: Gateway;
  let orders: MicroService;
  const audit: BrokerMessage[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gateway-events-"));
    flags = ["--registry=local", `--registry_address=${dir}`, "--metrics_address=off"];
    billing = await startNode("test/fixtures/order-events-node.ts", flags);
    // A plain subscriber of an untyped topic, on its own broker.
    registry = createRegistry({ registry: "local", registryAddress: [dir] });
    await registry.start();
    broker = createBroker(brokerSettingsFrom([], {}), { registry });
    await broker.start();
    await broker.subscribe("audit.login", (message) => void audit.push(message));
    const gatewayArgs = [...flags, "--handler=event", "--address=127.0.0.1:0"];
    typed = createGateway({ args: gatewayArgs, env: suiteEnv(), logger: silentLogger(), definitions: [OrdersEvents] });
    // No definitions: typed topics come from the registry (billing's endpoints) and its reflection.
    discovering = createGateway({ args: gatewayArgs, env: suiteEnv(), logger: silentLogger() });
    // An rpc gateway beside them, with the Orders service, whose file declares the events.
    orders = createService({ name: "orders", args: flags, env: suiteEnv(), logger: silentLogger() });
    orders.handle(OrdersDefinition, { placeOrder: async () => ({ orderId: "o-1" }) });
    await orders.start();
    routing = createGateway({
      args: [...flags, "--address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: silentLogger(),
      openApi: (file: DescFile, files: FileRegistry) =>
        JSON.parse(buildOpenApi(file, file.proto, files, "0.0.0")) as JsonObject,
    });
    await Promise.all([typed.start(), discovering.start(), routing.start()]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([typed?.stop(), discovering?.stop(), routing?.stop()]);
    await orders?.stop();
    await broker?.stop();
    await registry?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  it("publishes a good body to a typed topic: 202, and the typed handler receives it", async () => {
    const response = await post(
      typed,
      "/order.placed",
      JSON.stringify({ orderId: "o-7", customerId: "c-1", totalCents: "250", placedAt: "2026-12-02T09:30:00Z" }),
    );
    expect(response.status).toBe(202);
    const answer = (await response.json()) as { id: string; topic: string };
    expect(answer.topic).toBe("order.placed");
    expect(answer.id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor("billing to receive o-7", () => receivedBy(billing).some((r) => r.event["orderId"] === "o-7"), 5_000);
    expect(receivedBy(billing).find((r) => r.event["orderId"] === "o-7")!.event).toEqual({
      orderId: "o-7",
      customerId: "c-1",
      totalCents: "250",
      placedAt: "2026-12-02T09:30:00.000Z",
    });
  });

  it.each([
    [
      "a string where a number is expected",
      { orderId: "o-8", totalCents: "lots" },
      /: at totalCents \("lots"\): expected an int64: a number, or a string holding a JSON number such as "12", "-3" or "1e3"$/,
    ],
    [
      "a number in a string that is no JSON number, as protojson refuses",
      { orderId: "o-8", totalCents: "0x10" },
      /: at totalCents \("0x10"\): expected an int64: a number, or a string holding a JSON number/,
    ],
    [
      "an unknown field",
      { orderId: "o-8", discount: 5 },
      /at discount \(5\): fixtures\.shop\.v1\.OrderPlaced has no field discount; its fields are orderId, /,
    ],
    ["not an object", ["o-8"], /expected a JSON object, got an array/],
  ])("answers 400 with a google.rpc.Status naming the problem for %s", async (_name, body, problem) => {
    for (const gateway of [typed, discovering]) {
      const response = await post(gateway, "/order/placed", JSON.stringify(body));
      expect(response.status).toBe(400);
      const status = (await response.json()) as { code: number; message: string };
      expect(status.code).toBe(3);
      expect(status.message).toMatch(
        /^the body does not fit fixtures\.shop\.v1\.OrderPlaced, the event of topic order\.placed/,
      );
      expect(status.message).toMatch(problem);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receivedBy(billing).some((r) => r.event["orderId"] === "o-8")).toBe(false);
  });

  it("refuses an empty body for a typed topic with a 400 saying what the topic takes, and publishes {} as meant", async () => {
    const cancelled = "fixtures.shop.v1.OrderCancelled";
    const received = () => receivedBy(billing).filter((r) => r.topic === cancelled && r.event["orderId"] === undefined);
    const empty = [
      () => fetch(`${typed.url}/${cancelled}`, { method: "POST" }),
      () => post(typed, `/${cancelled}`, ""),
      () => post(discovering, `/${cancelled}`, " \n"),
    ];
    for (const send of empty) {
      const response = await send();
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toBe(
        `the request body is empty: topic ${cancelled} takes its event, ${cancelled}, as a JSON object ` +
          "(its fields are orderId, reason); send {} to publish one with every field at its default",
      );
    }
    // {} is an event of defaults on purpose: published, and the only such event billing receives.
    expect((await post(typed, `/${cancelled}`, "{}")).status).toBe(202);
    await waitFor("billing to receive the event of defaults", () => received().length > 0, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received()).toHaveLength(1);
  });

  it("publishes an untyped topic's JSON as it came, as application/json, with the request's metadata", async () => {
    const response = await fetch(`${discovering.url}/audit/login`, {
      method: "POST",
      body: '{"user":"ada","ok":true}',
      headers: { authorization: "Bearer not-for-the-stream", "x-request-id": "req-1" },
    });
    expect(response.status).toBe(202);
    await waitFor("the audit subscriber", () => audit.length === 1, 5_000);
    expect(audit[0]!.topic).toBe("audit.login");
    expect(audit[0]!.headers["content-type"]).toBe("application/json");
    // Request metadata travels, but not the bearer credential, which a durable stream would keep.
    expect(audit[0]!.headers).toMatchObject({ "x-request-id": "req-1", "x-forwarded-for": "127.0.0.1" });
    expect(audit[0]!.headers).not.toHaveProperty("authorization");
    expect(JSON.parse(new TextDecoder().decode(audit[0]!.body))).toEqual({ user: "ada", ok: true });
  });

  it("takes only POST: 405 with Allow", async () => {
    const response = await fetch(`${typed.url}/order.placed`);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect(((await response.json()) as { message: string }).message).toBe(
      "GET is not allowed on /order.placed; it takes POST",
    );
  });

  it("an rpc gateway lists a routed file's events as webhooks, and does not route the broker's subscription nodes", async () => {
    const document = (await (await fetch(`${routing.url}/openapi.json`)).json()) as {
      webhooks?: Record<string, unknown>;
    };
    expect(Object.keys(document.webhooks ?? {}).sort()).toEqual(["fixtures.shop.v1.OrderCancelled", "order.placed"]);
    expect(routing.catalogue.services().map((s) => s.name)).not.toContain("tsmicro.broker");
    expect(await registry.getService("tsmicro.broker")).not.toEqual([]);
  });

  it("POST /rpc to tsmicro.broker says it is the embedded broker's registration of subscribers, not a service to call", async () => {
    expect(await registry.getService("tsmicro.broker")).not.toEqual([]);
    const response = await fetch(`${routing.url}/rpc`, {
      method: "POST",
      body: JSON.stringify({ service: "tsmicro.broker", method: "X.Y", request: {} }),
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { message: string }).message).toBe(
      "POST /rpc: tsmicro.broker is the embedded broker's registration of subscribers (docs/broker.md), not a service to call",
    );
  });
});

const describeNats = natsProgram ? describe : describe.skip;

describeNats("the event gateway on NATS (a real nats-server with JetStream)", () => {
  let server: NatsServer;
  let dir: string;
  let flags: string[];
  let core: Gateway;
  let jetstream: Gateway;
  let raw: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gateway-events-nats-"));
    flags = ["--registry=local", `--registry_address=${dir}`, "--metrics_address=off"];
    const gatewayArgs = [
      ...flags,
      "--handler=event",
      "--address=127.0.0.1:0",
      "--broker=nats",
      `--broker_address=${server.url}`,
    ];
    core = createGateway({ args: gatewayArgs, env: suiteEnv(), logger: silentLogger() });
    jetstream = createGateway({
      args: [...gatewayArgs, "--broker_jetstream=on"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await Promise.all([core.start(), jetstream.start()]);
    raw = await connect({ servers: server.url });
  }, 30_000);

  afterAll(async () => {
    await raw?.close();
    await Promise.all([core?.stop(), jetstream?.stop()]);
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses NATS's own subjects with a 400 naming the topic, and publishes nothing: POST /$JS/API/STREAM/DELETE/X leaves X", async () => {
    const jsm = await raw.jetstreamManager();
    await jsm.streams.add({ name: "VICTIM", subjects: ["victim.>"] });
    for (const gateway of [core, jetstream]) {
      for (const [path, topic] of [
        ["/$JS/API/STREAM/DELETE/VICTIM", "$JS.API.STREAM.DELETE.VICTIM"],
        ["/$SYS/REQ/SERVER/PING", "$SYS.REQ.SERVER.PING"],
        ["/_INBOX/x", "_INBOX.x"],
      ] as const) {
        const response = await post(gateway, path, "{}");
        expect(response.status, `${path} on ${gateway.url}`).toBe(400);
        const status = (await response.json()) as { code: number; message: string };
        expect(status.code).toBe(3);
        expect(status.message).toMatch(/NATS reserves "(\$|_INBOX\.)…" subjects for itself/);
        expect(status.message).toContain(`publish: topic ${JSON.stringify(topic)} is not usable`);
        expect(status.message).toContain("name the topic after your domain");
      }
    }
    expect((await jsm.streams.info("VICTIM")).config.name).toBe("VICTIM");
  });

  it("on JetStream publishes only to topics a stream stores: another path is a 404 naming it, and the stream gains no subject", async () => {
    const settings = brokerSettingsFrom(
      ["--broker=nats", `--broker_address=${server.url}`, "--broker_jetstream=on"],
      {},
    );
    const subscriber = createBroker(settings, {});
    await subscriber.start();
    try {
      const received: BrokerMessage[] = [];
      await subscriber.subscribe("audit.stored", (message) => void received.push(message));
      const subjectsBefore = (await (await raw.jetstreamManager()).streams.info("TSMICRO")).config.subjects;
      expect(subjectsBefore).toContain("audit.stored");

      expect((await post(jetstream, "/audit/stored", '{"n":1}')).status).toBe(202);
      await waitFor("the stored topic's event", () => received.length === 1, 5_000);
      for (const n of [1, 2, 3]) {
        const response = await post(jetstream, `/spam/t${n}`, "{}");
        expect(response.status).toBe(404);
        const status = (await response.json()) as { code: number; message: string };
        expect(status.code).toBe(5);
        expect(status.message).toContain(`no JetStream stream stores topic "spam.t${n}"`);
        expect(status.message).toContain("start its subscriber first");
      }
      const subjectsAfter = (await (await raw.jetstreamManager()).streams.info("TSMICRO")).config.subjects;
      expect(subjectsAfter).toEqual(subjectsBefore);
    } finally {
      await subscriber.stop();
    }
  });

  it("on the default http broker while the subscribers run on NATS: 202, and one warning per topic naming the service and --broker nats", async () => {
    const billing = createService({
      name: "billing-on-nats",
      args: [...flags, "--broker=nats", `--broker_address=${server.url}`],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    billing.subscribe(OrdersEvents, { orderPlaced: async () => {}, orderCancelled: async () => {} });
    const { logger, entries } = recordingLogger();
    // The newcomer's gateway: --handler event without --broker, so on the embedded http broker.
    const gateway = createGateway({
      args: [...flags, "--handler=event", "--address=127.0.0.1:0"],
      env: suiteEnv(),
      logger,
    });
    await billing.start();
    await gateway.start();
    try {
      const unheard = (topic: string) =>
        entries.filter((e) => e.level === "warn" && e.fields["topic"] === topic && e.message?.includes("reach no one"));
      for (const orderId of ["n-1", "n-2", "n-3"])
        expect((await post(gateway, "/order.placed", JSON.stringify({ orderId }))).status).toBe(202);
      await waitFor("the warning", () => unheard("order.placed").length > 0);
      expect(unheard("order.placed")[0]!.message).toBe(
        "broker: no subscriber of order.placed on the http broker, so its events reach no one, yet the registry " +
          "lists billing-on-nats (nats) subscribing to it on the nats broker; start this process with --broker nats " +
          "(and its --broker_address)",
      );
      // Another topic's warning comes after, and order.placed's stays one line however many requests.
      const cancelled = "fixtures.shop.v1.OrderCancelled";
      expect((await post(gateway, `/${cancelled}`, JSON.stringify({ orderId: "n-1" }))).status).toBe(202);
      await waitFor("the other topic's warning", () => unheard(cancelled).length === 1);
      expect((await post(gateway, "/order.placed", JSON.stringify({ orderId: "n-4" }))).status).toBe(202);
      expect(unheard("order.placed")).toHaveLength(1);
    } finally {
      await gateway.stop();
      await billing.stop();
    }
  });
});
