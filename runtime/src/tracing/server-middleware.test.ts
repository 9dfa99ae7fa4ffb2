import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerCall, ServerHandler } from "../transport/transport.js";
import { activeTraceFields } from "./active-trace-fields.js";
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

  it("passes calls through untouched before tracing has started", async () => {
    const handler: ServerHandler = async () => activeTraceFields();
    const traced = tracingServerMiddleware(() => undefined)(handler);
    expect(await (traced(callOf("unary")) as Promise<unknown>)).toBeUndefined();
  });
});
