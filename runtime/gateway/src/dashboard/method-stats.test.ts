import { describe, expect, it } from "vitest";
import { parseMetrics } from "./method-stats.js";

describe("parseMetrics", () => {
  it("reads the samples asked for, with their labels, from Prometheus text", () => {
    const text = [
      "# HELP grpc_server_handled_total Total number of RPCs completed on the server.",
      "# TYPE grpc_server_handled_total counter",
      'grpc_server_handled_total{grpc_type="unary",grpc_service="a.v1.Alpha",grpc_method="Unary",grpc_code="OK"} 41',
      'grpc_server_handled_total{grpc_type="unary",grpc_service="a.v1.Alpha",grpc_method="Unary",grpc_code="NOT_FOUND"} 2',
      'tsmicro_breaker_state{service="echo",method="say \\"hi\\""} 2',
      "process_cpu_seconds_total 1.5",
      "",
    ].join("\n");
    const samples = parseMetrics(text, (name) => name !== "process_cpu_seconds_total");
    expect(samples).toEqual([
      {
        name: "grpc_server_handled_total",
        labels: { grpc_type: "unary", grpc_service: "a.v1.Alpha", grpc_method: "Unary", grpc_code: "OK" },
        value: 41,
      },
      {
        name: "grpc_server_handled_total",
        labels: { grpc_type: "unary", grpc_service: "a.v1.Alpha", grpc_method: "Unary", grpc_code: "NOT_FOUND" },
        value: 2,
      },
      { name: "tsmicro_breaker_state", labels: { service: "echo", method: 'say "hi"' }, value: 2 },
    ]);
  });
});
