import { describe, expect, it } from "vitest";
import type { MethodDefinition } from "../definition/definition.js";
import type { ClientCall } from "../transport/transport.js";
import { ClientTracing } from "./client-tracing.js";

const method = { path: "/pkg.Svc/Unary", kind: "unary" } as MethodDefinition;
const call: ClientCall = { service: "svc", method, request: {}, metadata: {}, deadline: undefined, signal: undefined };

describe("ClientTracing before tracing has started", () => {
  it("without an exporter a call never waits for the SDK to load: it goes out untraced while it loads", async () => {
    let starts = 0;
    const never = () => {
      starts++;
      return new Promise<void>(() => {});
    };
    const send = new ClientTracing(() => undefined, never, false).middleware(async () => "answered");
    await expect(send(call) as Promise<unknown>).resolves.toBe("answered");
    expect(starts).toBe(1);
  });

  it("with an exporter the call waits for tracing to start, so its spans are exported", async () => {
    let started = false;
    const start = async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      started = true;
    };
    const send = new ClientTracing(() => undefined, start, true).middleware(async () => started);
    await expect(send(call) as Promise<unknown>).resolves.toBe(true);
  });
});
