/**
 * Tracing end to end: HTTP -> gateway -> service `front` -> service `back`, all in this process
 * on the loopback, each exporting through the real OTLP/HTTP exporter (protobuf and JSON) to a
 * receiver this test runs. Spans are read back as a collector would see them: the protobuf
 * requests decoded with a small OTLP schema of our own (test/fixtures/otlp/otlp-traces.proto).
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  activeTraceId,
  Code,
  connect,
  createMemoryRegistry,
  createLogger,
  createService,
  silentLogger,
  TsmicroError,
  type CallContext,
  type Logger,
  type Metadata,
  type MicroService,
  type Registry,
} from "@tsmicro/runtime";
import { createGateway, createWebService, type Gateway } from "@tsmicro/gateway";
import { trace } from "@opentelemetry/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { bins } from "./support/cli.js";
import { type Protocol, type ReceivedSpan, type Receiver, startReceiver } from "./support/otlp-receiver.js";
import { suiteEnv } from "./support/suite-env.js";

let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

/** The gateway, `front` and `back` (`backs` of them), all exporting to the receiver. */
interface System {
  readonly registry: Registry;
  readonly gateway: Gateway;
  readonly front: MicroService;
  readonly backs: MicroService[];
  /** The metadata each call to `back` arrived with. */
  readonly backMetadata: Metadata[];
  /** Stops all three, so every span is exported before it resolves. */
  stop(): Promise<void>;
}

const running: System[] = [];

afterEach(async () => {
  for (const system of running.splice(0)) await system.stop();
  receiver.spans.length = 0;
  receiver.contentTypes.length = 0;
});

/**
 * Starts back, front and the gateway with `env` (plus the receiver as the OTLP endpoint).
 * `back` answers a request whose id is `missing` with NOT_FOUND, and fails the first
 * `failFirst` calls it gets (across its nodes) with UNAVAILABLE, which clients retry.
 */
async function startSystem(
  env: Record<string, string>,
  options: { backs?: number; failFirst?: number; frontLogger?: Logger } = {},
): Promise<System> {
  const registry: Registry = createMemoryRegistry();
  const fullEnv = suiteEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env });
  const common = { registry, args: [] as string[], env: fullEnv, logger: silentLogger() };
  const backMetadata: Metadata[] = [];
  let failures = options.failFirst ?? 0;
  const backs: MicroService[] = [];
  for (let i = 0; i < (options.backs ?? 1); i++) {
    const back = createService({ name: "back", ...common });
    back.handle(
      AlphaDefinition,
      {
        unary: async (request: { id: string; payload: Uint8Array }, context: CallContext) => {
          backMetadata.push(context.metadata);
          if (failures > 0) {
            failures--;
            throw new TsmicroError(Code.UNAVAILABLE, "back is warming up");
          }
          if (request.id === "missing") throw new TsmicroError(Code.NOT_FOUND, "no such thing as missing");
          return { id: `back:${request.id}`, payload: request.payload, sequence: 2 };
        },
        // Two messages; `broken` fails after the first.
        async *serverStream(request: { id: string; payload: Uint8Array }) {
          yield { id: `back:${request.id}`, payload: request.payload, sequence: 1 };
          if (request.id === "broken") throw new TsmicroError(Code.DATA_LOSS, "the stream broke");
          yield { id: `back:${request.id}`, payload: request.payload, sequence: 2 };
        },
      },
      { partial: true },
    );
    await back.start();
    backs.push(back);
  }
  const front: MicroService = createService({ name: "front", ...common, logger: options.frontLogger ?? common.logger });
  const backClient = front.client(AlphaDefinition, "back");
  front.handle(
    AlphaDefinition,
    {
      unary: async (request: { id: string; payload: Uint8Array }, context: CallContext) => {
        if (request.id === "bug") throw new Error("a bug in front");
        if (request.id === "leaky") throw new Error("cannot reach postgres://app:pw@db/users");
        const answer = await backClient.unary({ id: request.id, payload: request.payload });
        context.logger.info({ answer: answer.id }, "front answered");
        return { id: `front:${answer.id}`, payload: answer.payload, sequence: 1 };
      },
    },
    { partial: true },
  );
  await front.start();
  const gateway = createGateway({ ...common, args: ["--address=127.0.0.1:0"], definitions: [AlphaDefinition] });
  await gateway.start();
  let stopped: Promise<void> | undefined;
  const system: System = {
    registry,
    gateway,
    front,
    backs,
    backMetadata,
    stop() {
      stopped ??= (async () => {
        await gateway.stop();
        await front.stop();
        for (const back of backs) await back.stop();
      })();
      return stopped;
    },
  };
  running.push(system);
  return system;
}

/** A logger that keeps each JSON line it writes, parsed. */
function capturingLogger(service: string): { logger: Logger; lines: Record<string, unknown>[]; raw: string[] } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createLogger({
    service,
    destination: {
      write: (line: string) => {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines, raw };
}

/** Posts `{ id }` to front through the gateway, front logging into `lines`; with front's SERVER span. */
async function callFrontLogged(id: string) {
  const { logger, lines, raw } = capturingLogger("front");
  const system = await startSystem({}, { frontLogger: logger });
  const answer = await post(system, "/front/Alpha/Unary", { id });
  await system.stop();
  const frontServer = only(receiver.spans, "front's SERVER span", (s) => s.service === "front" && s.kind === "server");
  return { answer, lines, raw, frontServer };
}

async function post(system: System, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${system.gateway.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as Record<string, unknown>,
  };
}

/** The one span matching `where`; fails naming what was received otherwise. */
function only(spans: readonly ReceivedSpan[], what: string, where: (span: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(where);
  expect(found, `${what} among ${describeSpans(spans)}`).toHaveLength(1);
  return found[0]!;
}

function describeSpans(spans: readonly ReceivedSpan[]): string {
  return spans.map((s) => `${s.service} ${s.kind} ${s.name} ${s.spanId}<-${s.parentSpanId || "root"}`).join("; ");
}

const unary = "fixtures.services.v1.Alpha/Unary";

describe.each<Protocol>(["http/protobuf", "http/json"])("a three-hop request over %s", (protocol) => {
  it("is one trace: gateway SERVER -> CLIENT -> front SERVER -> CLIENT -> back SERVER", async () => {
    const system = await startSystem({ OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
    const answer = await post(system, "/front/Alpha/Unary", { id: "x" });
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    expect(answer.json.id).toBe("front:back:x");
    await system.stop();

    const spans = receiver.spans;
    expect(receiver.contentTypes.length).toBeGreaterThan(0);
    const expectedType = protocol === "http/json" ? "application/json" : "application/x-protobuf";
    for (const type of receiver.contentTypes) expect(type).toBe(expectedType);
    expect(spans, describeSpans(spans)).toHaveLength(5);
    expect(new Set(spans.map((s) => s.traceId)).size, describeSpans(spans)).toBe(1);

    const http = only(spans, "the gateway's SERVER span", (s) => s.service === "api" && s.kind === "server");
    expect(http.parentSpanId).toBe("");
    expect(http.name).toBe("POST /front/Alpha/Unary");
    const port = Number(new URL(system.gateway.url!).port);
    expect(http.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/front/Alpha/Unary",
      "url.path": "/front/Alpha/Unary",
      "url.scheme": "http",
      "server.address": "127.0.0.1",
      "server.port": port,
      "network.protocol.version": "1.1",
      "user_agent.original": "node",
      "http.response.status_code": 200,
    });
    expect(http.attributes["client.address"]).toMatch(/127\.0\.0\.1/);
    expect(http.attributes).not.toHaveProperty("error.type");

    const childOf = (parent: ReceivedSpan, service: string, kind: ReceivedSpan["kind"]) =>
      only(
        spans,
        `the ${service} ${kind} span under ${parent.name}`,
        (s) => s.parentSpanId === parent.spanId && s.service === service && s.kind === kind,
      );
    const gatewayCall = childOf(http, "api", "client");
    const frontServer = childOf(gatewayCall, "front", "server");
    const frontCall = childOf(frontServer, "front", "client");
    const backServer = childOf(frontCall, "back", "server");

    for (const span of [gatewayCall, frontServer, frontCall, backServer]) {
      expect(span.name).toBe(unary);
      expect(span.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.service": "fixtures.services.v1.Alpha",
        "rpc.method": "Unary",
        "rpc.grpc.status_code": 0,
      });
      expect(span.statusCode).not.toBe(2);
    }
    const backAddress = system.backs[0]!.address!;
    expect(frontCall.attributes).toMatchObject({
      "server.address": backAddress.slice(0, backAddress.lastIndexOf(":")),
      "server.port": Number(backAddress.slice(backAddress.lastIndexOf(":") + 1)),
    });
    // One attempt: no count, no failed-attempt event.
    expect(frontCall.attributes["tsmicro.attempts"]).toBeUndefined();
    expect(frontCall.events).toEqual([]);
    expect(backServer.attributes["network.peer.address"]).toBe("127.0.0.1");
  });
});

describe("tracing", () => {
  it("notes each failed attempt on the call's span, and every attempt's SERVER span is the call span's child", async () => {
    const system = await startSystem({}, { backs: 2, failFirst: 1 });
    const answer = await post(system, "/front/Alpha/Unary", { id: "again" });
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    await system.stop();

    const spans = receiver.spans;
    const frontCall = only(
      spans,
      "front's call span",
      (s) =>
        s.service === "front" &&
        s.kind === "client" &&
        spans.some((p) => p.spanId === s.parentSpanId && p.kind === "server"),
    );
    expect(frontCall.attributes["tsmicro.attempts"], describeSpans(spans)).toBe(2);
    expect(frontCall.attributes["rpc.grpc.status_code"]).toBe(0);
    expect(frontCall.statusCode).not.toBe(2);
    expect(frontCall.events).toHaveLength(1);
    const [failed] = frontCall.events;
    expect(failed!.name).toBe("attempt failed");
    expect(failed!.attributes).toMatchObject({ "tsmicro.attempt": 1, "rpc.grpc.status_code": Code.UNAVAILABLE });
    expect(failed!.attributes["exception.message"]).toMatch(/warming up/);
    // The span names the node that answered; the event the one that failed.
    expect(failed!.attributes["server.port"]).not.toBe(frontCall.attributes["server.port"]);
    const backServers = spans.filter((s) => s.service === "back" && s.kind === "server");
    expect(backServers).toHaveLength(2);
    for (const server of backServers) expect(server.parentSpanId).toBe(frontCall.spanId);
    const ports = backServers.map((s) => s.attributes["server.port"]).sort();
    expect(ports).toEqual([failed!.attributes["server.port"], frontCall.attributes["server.port"]].sort());
  });

  it("puts the trace id in the gateway's error body and traceresponse header, as the exported spans show", async () => {
    const system = await startSystem({});
    const answer = await post(system, "/front/Alpha/Unary", { id: "missing" });
    expect(answer.status).toBe(404);
    const traceId = answer.headers.get("traceresponse")?.split("-")[1];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(answer.json).toEqual({
      code: Code.NOT_FOUND,
      message: "no such thing as missing",
      details: [{ "@type": "type.googleapis.com/google.rpc.RequestInfo", requestId: traceId }],
    });
    await system.stop();

    const spans = receiver.spans;
    expect(spans.length, describeSpans(spans)).toBe(5);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    // NOT_FOUND is the server working: its SERVER span keeps status unset, its caller's CLIENT span is an error.
    const back = only(spans, "back's SERVER span", (s) => s.service === "back" && s.kind === "server");
    expect(back.statusCode).toBe(0);
    expect(back.attributes["rpc.grpc.status_code"]).toBe(Code.NOT_FOUND);
    const toBack = only(spans, "front's CLIENT span", (s) => s.service === "front" && s.kind === "client");
    expect(toBack.statusCode).toBe(2);
    expect(toBack.statusMessage).toBe("no such thing as missing");
    expect(toBack.attributes["rpc.grpc.status_code"]).toBe(Code.NOT_FOUND);
    const http = only(spans, "the gateway's SERVER span", (s) => s.service === "api" && s.kind === "server");
    expect(http.attributes["http.response.status_code"]).toBe(404);
  });

  it("keeps secrets out of spans as out of log lines: a failure's message reaches the collector redacted", async () => {
    const system = await startSystem({});
    const answer = await post(system, "/front/Alpha/Unary", { id: "leaky" });
    expect(answer.status).toBe(500);
    await system.stop();
    const front = only(receiver.spans, "front's SERVER span", (s) => s.service === "front" && s.kind === "server");
    expect(front.statusMessage).toBe("cannot reach postgres://app:[redacted]@db/users");
    // The gateway's span of the request: a 500, named as the conventions name a server error.
    const http = only(receiver.spans, "the gateway's SERVER span", (s) => s.service === "api" && s.kind === "server");
    expect(http.attributes["error.type"]).toBe("500");
    expect(JSON.stringify(receiver.spans)).not.toContain(":pw@");
  });

  it("with OTEL_SDK_DISABLED=true makes no spans and sends no traceparent", async () => {
    const system = await startSystem({ OTEL_SDK_DISABLED: "true" });
    const answer = await post(system, "/front/Alpha/Unary", { id: "missing" });
    expect(answer.status).toBe(404);
    expect(answer.headers.get("traceresponse")).toBeNull();
    expect(answer.json.details).toEqual([]);
    await system.stop();
    expect(receiver.spans).toEqual([]);
    expect(receiver.contentTypes).toEqual([]);
    expect(system.backMetadata).toHaveLength(1);
    expect(system.backMetadata[0]).not.toHaveProperty("traceparent");
  });

  it("samples parent-based: a ratio of 0 exports no new trace, yet honours a sampled caller's", async () => {
    const system = await startSystem({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" });
    const unsampled = await post(system, "/front/Alpha/Unary", { id: "a" });
    expect(unsampled.status).toBe(200);
    // Not sampled, yet propagated: the ids still reach the backend (and its logs), flagged 00.
    expect(system.backMetadata[0]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);

    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const caller = `00-${traceId}-b7ad6b7169203331-01`;
    const sampled = await post(system, "/front/Alpha/Unary", { id: "b" }, { traceparent: caller });
    expect(sampled.status).toBe(200);
    await system.stop();

    const spans = receiver.spans;
    expect(spans.length, describeSpans(spans)).toBe(5);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    const http = only(spans, "the gateway's SERVER span", (s) => s.service === "api" && s.kind === "server");
    expect(http.parentSpanId).toBe("b7ad6b7169203331");
  });

  it("refuses OTEL_EXPORTER_OTLP_PROTOCOL=grpc at start, saying to use an http protocol", async () => {
    const service = createService({
      name: "grpc-export",
      registry: createMemoryRegistry(),
      args: [],
      env: suiteEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
      logger: silentLogger(),
    });
    await expect(service.start()).rejects.toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL has an invalid value "grpc".*http\/protobuf/,
    );
    await service.stop();
    expect(() =>
      createGateway({
        args: ["--trace_protocol=grpc"],
        env: suiteEnv(),
        registry: createMemoryRegistry(),
        logger: silentLogger(),
      }),
    ).toThrow(/--trace_protocol has an invalid value "grpc".*http\/protobuf/);
  });

  it("traces connect()'s calls from a script, the SDK loaded on the first call", async () => {
    const system = await startSystem({});
    const client = connect({
      registry: system.registry,
      args: [],
      env: suiteEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "nightly-job" }),
      logger: silentLogger(),
    });
    const answer = await client.client(AlphaDefinition, "back").unary({ id: "job", payload: new Uint8Array() });
    expect(answer.id).toBe("back:job");
    await client.stop();
    await system.stop();

    const spans = receiver.spans;
    const call = only(spans, "the script's call span", (s) => s.service === "nightly-job" && s.parentSpanId === "");
    expect(call).toMatchObject({ kind: "client", name: unary });
    only(spans, "back's SERVER span under the call", (s) => s.parentSpanId === call.spanId && s.service === "back");
  });

  it("exports the spans a handler makes with @opentelemetry/api as children of the call's, active for its logs and calls", async () => {
    const registry = createMemoryRegistry();
    const env = suiteEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    const { logger, lines } = capturingLogger("shop");
    const traceIds: (string | undefined)[] = [];
    const back = createService({ name: "back", registry, args: [], env, logger: silentLogger() });
    back.handle(
      AlphaDefinition,
      { unary: async (request: { id: string; payload: Uint8Array }) => ({ ...request, sequence: 2 }) },
      { partial: true },
    );
    const shop = createService({ name: "shop", registry, args: [], env, logger });
    const backClient = shop.client(AlphaDefinition, "back");
    shop.handle(
      AlphaDefinition,
      {
        unary: (request: { id: string; payload: Uint8Array }, context: CallContext) =>
          trace
            .getTracer("shop")
            .startActiveSpan("shop.lookup", { attributes: { "shop.item": request.id } }, async (span) => {
              context.logger.info("looking up");
              traceIds.push(activeTraceId());
              const answer = await backClient.unary(request);
              span.end();
              return { ...answer, sequence: 1 };
            }),
      },
      { partial: true },
    );
    await back.start();
    await shop.start();
    const caller = connect({
      registry,
      args: [],
      env: suiteEnv({ OTEL_SDK_DISABLED: "true" }),
      logger: silentLogger(),
    });
    expect(await caller.client(AlphaDefinition, "shop").unary({ id: "cup", payload: new Uint8Array() })).toMatchObject({
      id: "cup",
    });
    await caller.stop();
    await shop.stop();
    await back.stop();

    const spans = receiver.spans;
    const served = only(spans, "shop's SERVER span", (s) => s.service === "shop" && s.kind === "server");
    const lookup = only(spans, "the handler's own span", (s) => s.name === "shop.lookup");
    expect(lookup).toMatchObject({
      service: "shop",
      kind: "internal",
      traceId: served.traceId,
      parentSpanId: served.spanId,
      attributes: { "shop.item": "cup" },
    });
    // Active while it runs: the call to back is its child, and the handler's log line names it.
    only(spans, "shop's CLIENT span under it", (s) => s.kind === "client" && s.parentSpanId === lookup.spanId);
    expect(traceIds).toEqual([served.traceId]);
    expect(activeTraceId()).toBeUndefined();
    expect(lines.find((line) => line.msg === "looking up")).toMatchObject({
      trace_id: lookup.traceId,
      span_id: lookup.spanId,
    });
  });

  it("gives web services a SERVER span per request, a child of the gateway's when proxied by --handler web", async () => {
    const registry = createMemoryRegistry();
    const env = suiteEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    const web = createWebService({ name: "hello", registry, args: [], env, logger: silentLogger() });
    web.app.get("/hello/:who", async (request) => ({ traceparent: request.headers.traceparent }));
    await web.start();
    const gateway = createGateway({
      registry,
      args: ["--address=127.0.0.1:0", "--handler=web"],
      env,
      logger: silentLogger(),
    });
    await gateway.start();
    const response = await fetch(`${gateway.url}/hello/ada`);
    const body = (await response.json()) as { traceparent?: string };
    await gateway.stop();
    await web.stop();

    const spans = receiver.spans;
    const proxied = only(spans, "the gateway's SERVER span", (s) => s.service === "api" && s.kind === "server");
    const served = only(spans, "the web service's SERVER span", (s) => s.service === "hello" && s.kind === "server");
    expect(served.parentSpanId).toBe(proxied.spanId);
    expect(served.traceId).toBe(proxied.traceId);
    expect(served.name).toBe("GET /hello/:who");
    expect(served.attributes).toMatchObject({ "http.route": "/hello/:who", "http.response.status_code": 200 });
    expect(body.traceparent).toBe(`00-${proxied.traceId}-${proxied.spanId}-01`);
  });

  it("gives a web service's request.log the service's logger: its lines carry the request's trace", async () => {
    const { logger, lines } = capturingLogger("hello");
    const env = suiteEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    const web = createWebService({ name: "hello", registry: createMemoryRegistry(), args: [], env, logger });
    web.app.get("/hello/:who", async (request) => {
      request.log.info({ who: (request.params as { who: string }).who }, "greeting");
      return { ok: true };
    });
    await web.start();
    const response = await fetch(`http://${web.address}/hello/ada`);
    expect(response.status).toBe(200);
    await web.stop();

    const served = only(receiver.spans, "the web service's SERVER span", (s) => s.service === "hello");
    const line = lines.find((l) => l.msg === "greeting");
    expect(line, JSON.stringify(lines)).toMatchObject({
      service: "hello",
      who: "ada",
      trace_id: served.traceId,
      span_id: served.spanId,
    });
    // No line per request: spans and metrics count them.
    expect(lines.filter((l) => l.msg === "request completed")).toEqual([]);
  });

  it("puts the trace and span id of the call in each log line the handler writes", async () => {
    const { answer, lines, frontServer } = await callFrontLogged("logged");
    expect(answer.status).toBe(200);
    const line = lines.find((l) => l.msg === "front answered");
    expect(line, JSON.stringify(lines)).toBeDefined();
    expect(line).toMatchObject({ trace_id: frontServer.traceId, span_id: frontServer.spanId });
    // Lines written outside any call (start, stop) carry none.
    expect(lines.find((l) => l.msg === "front started")).not.toHaveProperty("trace_id");
  });

  it("puts the call's trace and span id in the line the transport logs when a handler fails", async () => {
    const { answer, lines, raw, frontServer } = await callFrontLogged("bug");
    expect(answer.status).toBe(500);
    const line = lines.find((l) => l.msg === "handler failed; answered INTERNAL");
    expect(line, JSON.stringify(lines)).toBeDefined();
    expect(line).toMatchObject({
      method: "/fixtures.services.v1.Alpha/Unary",
      trace_id: frontServer.traceId,
      span_id: frontServer.spanId,
    });
    // Each field once: a JSON line with a repeated key is one that strict log parsers refuse.
    const text = raw.find((l) => l.includes("handler failed"))!;
    expect(text.match(/"method":/g)).toHaveLength(1);
    expect(JSON.stringify(answer.json)).toContain(frontServer.traceId);
  });

  it("names no call's trace in the warning that spans could not be exported", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const lines: Record<string, unknown>[] = [];
    const frontLogger = createLogger({
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    // Batches sent while the system runs, by a timer that a call's span set, to a port that refuses them.
    const system = await startSystem(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_BSP_EXPORT_TIMEOUT: "300",
        OTEL_BSP_SCHEDULE_DELAY: "50",
      },
      { frontLogger },
    );
    for (let i = 0; i < 3; i++) expect((await post(system, "/front/Alpha/Unary", { id: "x" })).status).toBe(200);
    const warned = () => lines.find((l) => String(l.msg).includes("could not be exported"));
    for (let i = 0; i < 100 && !warned(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    await system.stop();
    expect(warned(), JSON.stringify(lines)).toBeDefined();
    // About no call: a call's trace id on it would send whoever looks that call up astray.
    expect(warned()).not.toHaveProperty("trace_id");
    // Why, in one line: no stack, which would be the export worker's message plumbing.
    expect(warned()).toMatchObject({ reason: `connect ECONNREFUSED 127.0.0.1:${port}` });
    expect(warned()).not.toHaveProperty("err");
  });

  it("stops cleanly when the collector is down, warning that the last spans were lost", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const registry = createMemoryRegistry();
    // A short export timeout, so the exporter gives up on the refused port quickly.
    const env = suiteEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_EXPORT_TIMEOUT: "300" });
    const back = createService({ name: "back", registry, args: [], env, logger });
    back.handle(
      AlphaDefinition,
      { unary: async () => ({ id: "up", payload: new Uint8Array(), sequence: 0 }) },
      { partial: true },
    );
    await back.start();
    const client = connect({ registry, args: [], env, logger: silentLogger() });
    await client.client(AlphaDefinition, "back").unary({ id: "x", payload: new Uint8Array() });
    await client.stop();
    await back.stop();
    const warning = lines.find((l) => String(l.msg).includes("could not be exported"));
    expect(warning, JSON.stringify(lines)).toMatchObject({ level: 40, endpoint: `http://127.0.0.1:${port}/v1/traces` });
    expect(warning).toMatchObject({ reason: expect.stringContaining("ECONNREFUSED") });
    expect(warning).not.toHaveProperty("err");
  });

  it("a tsmicro api process stopped by SIGTERM exports its last spans (none for /metrics scrapes) and exits 0", async () => {
    // The gateway's port closes first; the span export worker alone must hold the process until the spans are out.
    const gateway = spawn(process.execPath, [bins.tsmicro, "api", "--registry=memory", "--address=127.0.0.1:0"], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    gateway.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    gateway.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => gateway.once("exit", (code) => resolve(code)));
    try {
      let address: string | undefined;
      for (let i = 0; i < 100 && !address; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        address = /"address":"([^"]+)","handler"[^\n]*"msg":"gateway started"/.exec(output)?.[1];
      }
      expect(address, output).toBeDefined();
      expect((await fetch(`http://${address}/stopping/${process.pid}`)).status).toBe(404);
      // A scrape of its own /metrics is no one's request: no trace of its own.
      expect((await fetch(`http://${address}/metrics`)).status).toBe(200);
      gateway.kill("SIGTERM");
      expect(await exited, output).toBe(0);
      expect(output).toContain("gateway stopped");
      const path = `/stopping/${process.pid}`;
      expect(receiver.spans.some((span) => span.attributes["url.path"] === path)).toBe(true);
      expect(receiver.spans.filter((span) => span.attributes["url.path"] === "/metrics")).toEqual([]);
    } finally {
      gateway.kill("SIGKILL");
    }
  });

  it("ends a stream's spans when the stream ends, with its status", async () => {
    const system = await startSystem({});
    const whole = await fetch(`${system.gateway.url}/back/Alpha/ServerStream`, {
      method: "POST",
      body: JSON.stringify({ id: "whole" }),
    });
    expect((await whole.text()).trim().split("\n")).toHaveLength(2);
    const broken = await fetch(`${system.gateway.url}/back/Alpha/ServerStream`, {
      method: "POST",
      body: JSON.stringify({ id: "broken" }),
    });
    await broken.text();
    await system.stop();

    const spans = receiver.spans.filter((s) => s.name === "fixtures.services.v1.Alpha/ServerStream");
    const servers = spans.filter((s) => s.service === "back" && s.kind === "server");
    expect(servers, describeSpans(receiver.spans)).toHaveLength(2);
    const byStatus = servers.map((s) => s.attributes["rpc.grpc.status_code"]).sort();
    expect(byStatus).toEqual([0, Code.DATA_LOSS]);
    const failed = servers.find((s) => s.statusCode === 2);
    expect(failed?.statusMessage).toBe("the stream broke");
    // The gateway's call spans end with the streams too, each with the status it saw.
    const calls = spans.filter((s) => s.service === "api" && s.kind === "client");
    expect(calls.map((s) => s.attributes["rpc.grpc.status_code"]).sort()).toEqual([0, Code.DATA_LOSS]);
  });
});
