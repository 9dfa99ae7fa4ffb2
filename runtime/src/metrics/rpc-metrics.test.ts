import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { CallContext } from "../definition/call.js";
import type { MethodDefinition, MethodKind, ServiceDefinition } from "../definition/definition.js";
import { errorReasonDetail } from "../errors/error-details.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { CallResult, ClientCall, ServerCall } from "../transport/transport.js";
import { clientMetricsMiddleware } from "./client-metrics.js";
import { rpcStats } from "./rpc-stats.js";
import { serverMetricsMiddleware } from "./server-metrics.js";

const service = { typeName: "shop.v1.Shop" } as ServiceDefinition;

function methodOf(name: string, kind: MethodKind = "unary"): MethodDefinition {
  return { name, path: `/shop.v1.Shop/${name}`, kind } as MethodDefinition;
}

function serverCall(method: MethodDefinition, request: unknown = {}): ServerCall {
  const context = { method, metadata: {}, deadline: undefined, signal: new AbortController().signal } as CallContext;
  return { service, method, request, context };
}

function clientCall(method: MethodDefinition, request: unknown = {}): ClientCall {
  return { service: "shop", method, request, metadata: {}, deadline: undefined, signal: undefined };
}

async function* messages(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

async function drain(stream: CallResult): Promise<number> {
  let n = 0;
  for await (const _ of stream as AsyncIterable<unknown>) n++;
  return n;
}

/** The value of one sample in the registry's text output, or undefined when the series is absent. */
async function sample(registry: Registry, series: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const unary = 'grpc_type="unary",grpc_service="shop.v1.Shop",grpc_method="Buy"';

describe("server metrics middleware", () => {
  it("counts started, handled by Go code name, messages and latency of unary calls", async () => {
    const registry = new Registry();
    const outcomes: (() => Promise<unknown>)[] = [
      async () => "ok",
      async () => "ok",
      async () => {
        throw new TsmicroError(Code.NOT_FOUND, "no such item");
      },
      async () => {
        throw new Error("a bug");
      },
    ];
    let next = 0;
    const serve = serverMetricsMiddleware(registry)(() => outcomes[next++]!());
    for (let i = 0; i < outcomes.length; i++)
      await (serve(serverCall(methodOf("Buy"))) as Promise<unknown>).catch(() => 0);

    expect(await sample(registry, `grpc_server_started_total{${unary}}`)).toBe(4);
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="OK"}`)).toBe(2);
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="NotFound"}`)).toBe(1);
    // An error that is no TsmicroError is answered INTERNAL, and counted so.
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="Internal"}`)).toBe(1);
    expect(await sample(registry, `grpc_server_msg_received_total{${unary}}`)).toBe(4);
    expect(await sample(registry, `grpc_server_msg_sent_total{${unary}}`)).toBe(2);
    expect(await sample(registry, `grpc_server_handling_seconds_count{${unary}}`)).toBe(4);
    expect(await sample(registry, `grpc_server_handling_seconds_bucket{${unary},le="+Inf"}`)).toBe(4);
    expect(await sample(registry, `grpc_server_handling_seconds_bucket{${unary},le="10"}`)).toBe(4);
  });

  it("counts a handler that throws before returning a promise", async () => {
    const registry = new Registry();
    const serve = serverMetricsMiddleware(registry)(() => {
      throw new TsmicroError(Code.UNIMPLEMENTED, "not here");
    });
    expect(() => serve(serverCall(methodOf("Buy")))).toThrow("not here");
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="Unimplemented"}`)).toBe(1);
  });

  it("counts stream messages both ways, and a stream the caller left early as Canceled", async () => {
    const registry = new Registry();
    const serve = serverMetricsMiddleware(registry)((call) => {
      if (call.method.kind === "client_streaming") return drain(call.request as CallResult);
      return messages(3);
    });
    expect(await drain(serve(serverCall(methodOf("Watch", "server_streaming"))))).toBe(3);
    expect(await serve(serverCall(methodOf("Upload", "client_streaming"), messages(5)))).toBe(5);
    for await (const _ of serve(serverCall(methodOf("Watch", "server_streaming"))) as AsyncIterable<unknown>) break;

    const watch = 'grpc_type="server_stream",grpc_service="shop.v1.Shop",grpc_method="Watch"';
    const upload = 'grpc_type="client_stream",grpc_service="shop.v1.Shop",grpc_method="Upload"';
    expect(await sample(registry, `grpc_server_msg_sent_total{${watch}}`)).toBe(4);
    expect(await sample(registry, `grpc_server_handled_total{${watch},grpc_code="OK"}`)).toBe(1);
    expect(await sample(registry, `grpc_server_handled_total{${watch},grpc_code="Canceled"}`)).toBe(1);
    expect(await sample(registry, `grpc_server_msg_received_total{${upload}}`)).toBe(5);
    expect(await sample(registry, `grpc_server_msg_sent_total{${upload}}`)).toBe(1);
  });

  it("counts a handler that fails because its caller left (its signal's AbortError) by why the caller left", async () => {
    const registry = new Registry();
    const serve = serverMetricsMiddleware(registry)(
      (call) =>
        new Promise((_, reject) =>
          // As sleep(ms, value, { signal }) fails: a DOMException AbortError, no TsmicroError.
          call.context.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
        ),
    );
    const leaving = async (reason: TsmicroError) => {
      const controller = new AbortController();
      const call = serverCall(methodOf("Buy"));
      const served = serve({ ...call, context: { ...call.context, signal: controller.signal } }) as Promise<unknown>;
      controller.abort(reason);
      await served.catch(() => 0);
    };
    await leaving(new TsmicroError(Code.CANCELLED, "the caller cancelled"));
    await leaving(new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline exceeded"));
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="Canceled"}`)).toBe(1);
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="DeadlineExceeded"}`)).toBe(1);
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="Internal"}`)).toBeUndefined();
  });

  it("counts calls refused by server protection by reason", async () => {
    const registry = new Registry();
    const refuse = (reason: string) =>
      new TsmicroError(Code.RESOURCE_EXHAUSTED, "refused", {
        details: [errorReasonDetail(reason, "tsmicro.runtime", { method: "/shop.v1.Shop/Buy" })],
      });
    const errors = [refuse("RATE_LIMITED"), refuse("RATE_LIMITED"), refuse("BULKHEAD_FULL"), refuse("OVERLOADED")];
    // A RESOURCE_EXHAUSTED the handler chose itself is no refusal by protection.
    errors.push(new TsmicroError(Code.RESOURCE_EXHAUSTED, "quota of the user"));
    let next = 0;
    const serve = serverMetricsMiddleware(registry)(async () => {
      throw errors[next++];
    });
    for (let i = 0; i < errors.length; i++)
      await (serve(serverCall(methodOf("Buy"))) as Promise<unknown>).catch(() => 0);

    const labels = 'grpc_service="shop.v1.Shop",grpc_method="Buy"';
    expect(await sample(registry, `tsmicro_server_rejected_total{${labels},reason="rate_limit"}`)).toBe(2);
    expect(await sample(registry, `tsmicro_server_rejected_total{${labels},reason="bulkhead"}`)).toBe(1);
    expect(await sample(registry, `tsmicro_server_rejected_total{${labels},reason="load_shed"}`)).toBe(1);
    expect(await sample(registry, `grpc_server_handled_total{${unary},grpc_code="ResourceExhausted"}`)).toBe(5);
  });

  it("keeps one stats object per method, shared by every middleware on the registry", async () => {
    const registry = new Registry();
    const first = serverMetricsMiddleware(registry)(async () => "a");
    // A second service in the same process records into the same series instead of failing to register.
    const second = serverMetricsMiddleware(registry)(async () => "b");
    const stats = rpcStats(registry, "server");
    await first(serverCall(methodOf("Buy")));
    const cached = stats.of(methodOf("Buy"));
    await second(serverCall(methodOf("Buy")));
    expect(stats.of(methodOf("Buy"))).toBe(cached);
    expect(cached.started).toBe(2);
  });
});

describe("client metrics middleware", () => {
  it("counts each call as the caller saw it, an error without a status as Unknown", async () => {
    const registry = new Registry();
    const outcomes: (() => CallResult)[] = [
      async () => "ok",
      async () => {
        throw new TsmicroError(Code.DEADLINE_EXCEEDED, "too slow");
      },
      async () => {
        throw new Error("socket gone");
      },
      () => messages(2),
    ];
    let next = 0;
    const send = clientMetricsMiddleware(registry)(() => outcomes[next++]!());
    for (let i = 0; i < 3; i++) await (send(clientCall(methodOf("Buy"))) as Promise<unknown>).catch(() => 0);
    expect(await drain(send(clientCall(methodOf("Chat", "bidi_streaming"), messages(3))))).toBe(2);

    expect(await sample(registry, `grpc_client_started_total{${unary}}`)).toBe(3);
    expect(await sample(registry, `grpc_client_handled_total{${unary},grpc_code="OK"}`)).toBe(1);
    expect(await sample(registry, `grpc_client_handled_total{${unary},grpc_code="DeadlineExceeded"}`)).toBe(1);
    expect(await sample(registry, `grpc_client_handled_total{${unary},grpc_code="Unknown"}`)).toBe(1);
    expect(await sample(registry, `grpc_client_msg_sent_total{${unary}}`)).toBe(3);
    expect(await sample(registry, `grpc_client_msg_received_total{${unary}}`)).toBe(1);
    const chat = 'grpc_type="bidi_stream",grpc_service="shop.v1.Shop",grpc_method="Chat"';
    expect(await sample(registry, `grpc_client_msg_received_total{${chat}}`)).toBe(2);
    expect(await sample(registry, `grpc_client_handled_total{${chat},grpc_code="OK"}`)).toBe(1);
    expect(await sample(registry, `grpc_client_handling_seconds_count{${chat}}`)).toBe(1);
  });
});
