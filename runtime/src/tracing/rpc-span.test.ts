import type { Attributes } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { loadOtelApi } from "./otel-api.js";
import { RecordingSpan } from "./recording-span.js";
import { endRpcSpan, hostAndPort } from "./rpc-span.js";

describe("hostAndPort", () => {
  it.each([
    ["127.0.0.1:50051", { host: "127.0.0.1", port: 50051 }],
    ["[::1]:50051", { host: "::1", port: 50051 }],
    ["ipv4:127.0.0.1:53122", { host: "127.0.0.1", port: 53122 }],
    ["ipv6:[::1]:53122", { host: "::1", port: 53122 }],
    ["::1", { host: "::1", port: undefined }],
    ["unix:/tmp/grpc.sock", { host: "/tmp/grpc.sock", port: undefined }],
  ])("reads %s", (address, expected) => {
    expect(hostAndPort(address)).toEqual(expected);
  });
});

describe("endRpcSpan", () => {
  const api = loadOtelApi();
  const shared: Attributes = Object.freeze({ "rpc.system": "grpc", "rpc.method": "Unary" });
  const started = (attributes: Attributes, ended: RecordingSpan[], kind = api.SpanKind.CLIENT) =>
    new RecordingSpan(
      { traceId: "1".repeat(32), spanId: "2".repeat(16), traceFlags: 1 },
      undefined,
      "a.B/Unary",
      kind,
      attributes,
      undefined,
      (span) => ended.push(span),
    );
  const attributesOf = (span: RecordingSpan) => ({ ...span.baseAttributes, ...span.ownAttributes });

  it("gives spans that end alike one shared set with the status code, and none of their own", () => {
    const ended: RecordingSpan[] = [];
    endRpcSpan(api, started(shared, ended), false);
    endRpcSpan(api, started(shared, ended), false);
    endRpcSpan(api, started(shared, ended), true, new TsmicroError(Code.NOT_FOUND, "no such user"));
    const [first, second, failed] = ended;
    expect(first!.baseAttributes).toBe(second!.baseAttributes);
    expect(Object.isFrozen(first!.baseAttributes)).toBe(true);
    expect(first!.ownAttributes).toBeUndefined();
    expect(attributesOf(first!)).toEqual({ ...shared, "rpc.grpc.status_code": Code.OK });
    expect(attributesOf(failed!)).toEqual({ ...shared, "rpc.grpc.status_code": Code.NOT_FOUND });
    expect(failed!.status).toEqual({ code: api.SpanStatusCode.ERROR, message: "no such user" });
    expect(shared).not.toHaveProperty("rpc.grpc.status_code");
  });

  it("sets the code as the span's own attribute when its set is not shared or the span set one itself", () => {
    const ended: RecordingSpan[] = [];
    endRpcSpan(api, started({ "rpc.system": "grpc" }, ended), false);
    const ownCode = started(shared, ended);
    ownCode.setAttribute("rpc.grpc.status_code", Code.ABORTED);
    endRpcSpan(api, ownCode, false);
    expect(ended.map((span) => span.ownAttributes)).toEqual([
      { "rpc.grpc.status_code": Code.OK },
      { "rpc.grpc.status_code": Code.OK },
    ]);
  });

  it("marks a CLIENT span failed for any code but OK, a SERVER span only for the codes that say the server failed", () => {
    const ended: RecordingSpan[] = [];
    const codes = [Code.NOT_FOUND, Code.INVALID_ARGUMENT, Code.CANCELLED, Code.INTERNAL, Code.UNAVAILABLE];
    for (const code of codes) {
      endRpcSpan(api, started(shared, ended, api.SpanKind.CLIENT), true, new TsmicroError(code, "no"));
      endRpcSpan(api, started(shared, ended, api.SpanKind.SERVER), true, new TsmicroError(code, "no"));
    }
    const statuses = (kind: number) => ended.filter((span) => span.kind === kind).map((span) => span.status.code);
    const { ERROR, UNSET } = api.SpanStatusCode;
    expect(statuses(api.SpanKind.CLIENT)).toEqual([ERROR, ERROR, ERROR, ERROR, ERROR]);
    expect(statuses(api.SpanKind.SERVER)).toEqual([UNSET, UNSET, UNSET, ERROR, ERROR]);
    // The code itself is on every span.
    expect(ended.map((span) => attributesOf(span)["rpc.grpc.status_code"])).toEqual(codes.flatMap((c) => [c, c]));
  });
});
