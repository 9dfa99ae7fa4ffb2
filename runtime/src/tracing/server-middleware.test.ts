import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { ServerCall, ServerHandler } from "../transport/transport.js";
import { activeTraceFields } from "./active-trace-fields.js";
import { leanTracer } from "./lean-tracer.js";
import { loadOtelApi } from "./otel-api.js";
import type { RecordingSpan } from "./recording-span.js";
import { RandomIds, samplerOf } from "./sampling.js";
import { tracingServerMiddleware } from "./server-middleware.js";
import { startUnitTracing } from "./testdata/unit-tracing.js";
import type { Tracing } from "./tracing.js";

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const callerSpan = "00f067aa0ba902b7";

let tracing: Tracing;

beforeAll(async () => {
  tracing = await startUnitTracing();
});

afterAll(async () => {
  await tracing.shutdown();
});

/** A call of `pkg.v1.Things/Get` from a caller whose span is `callerSpan` of `traceId`. */
function callOf(kind: "unary" | "server_streaming"): ServerCall {
  return {
    method: { path: "/pkg.v1.Things/Get", kind },
    request: {},
    context: { metadata: { traceparent: `00-${traceId}-${callerSpan}-01` }, peer: "ipv4:127.0.0.1:50123" },
  } as unknown as ServerCall;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("tracingServerMiddleware", () => {
  it("runs a handler with its SERVER span active, child of the caller's, across awaits", async () => {
    const handler: ServerHandler = async () => {
      await pause();
      return activeTraceFields();
    };
    const traced = tracingServerMiddleware(() => tracing)(handler);
    const fields = await (traced(callOf("unary")) as Promise<ReturnType<typeof activeTraceFields>>);
    expect(fields?.trace_id).toBe(traceId);
    expect(fields?.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(fields?.span_id).not.toBe(callerSpan);
    expect(activeTraceFields()).toBeUndefined();
  });

  it("keeps the span active in every step of a stream, which runs only as it is read", async () => {
    const handler: ServerHandler = async function* () {
      yield activeTraceFields();
      await pause();
      yield activeTraceFields();
    };
    const traced = tracingServerMiddleware(() => tracing)(handler);
    const seen: unknown[] = [];
    for await (const fields of traced(callOf("server_streaming")) as AsyncIterable<unknown>) seen.push(fields);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ trace_id: traceId });
    expect(seen[1]).toEqual(seen[0]);
  });

  it("ends the SERVER span of a call whose caller left with the code the call ended with, not INTERNAL", async () => {
    const api = loadOtelApi();
    const ended: RecordingSpan[] = [];
    const recorded = leanTracer(api, samplerOf("always_on", 1), new RandomIds(), (span) => ended.push(span));
    const recording: Tracing = { ...tracing, tracer: recorded, recording: true };
    // As sleep(ms, value, { signal }) fails: a DOMException AbortError, no TsmicroError.
    const handler: ServerHandler = (call) =>
      new Promise((_, reject) =>
        call.context.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
      );
    const controller = new AbortController();
    const call = callOf("unary");
    const served = tracingServerMiddleware(() => recording)(handler)({
      ...call,
      context: { ...call.context, signal: controller.signal },
    }) as Promise<unknown>;
    controller.abort(new TsmicroError(Code.DEADLINE_EXCEEDED, "deadline exceeded serving /pkg.v1.Things/Get"));
    await served.catch(() => undefined);
    const span = ended[0];
    expect({ ...span?.baseAttributes, ...span?.ownAttributes }["rpc.grpc.status_code"]).toBe(Code.DEADLINE_EXCEEDED);
  });

  it("passes calls through untouched before tracing has started", async () => {
    const handler: ServerHandler = async () => activeTraceFields();
    const traced = tracingServerMiddleware(() => undefined)(handler);
    expect(await (traced(callOf("unary")) as Promise<unknown>)).toBeUndefined();
  });
});
