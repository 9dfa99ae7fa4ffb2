import type { Counter } from "prom-client";
import { errorReasonOf } from "../errors/error-details.js";
import { failureCode } from "../errors/failure-code.js";
import { Code } from "../errors/tsmicro-error.js";
import type { ServerCall, ServerMiddleware } from "../transport/transport.js";
import { observeCall, type CallCounting, type FailureHook } from "./observe-call.js";
import { metricsRegistry, promClient, type MetricsRegistry } from "./process-registry.js";
import { rpcStats, type MethodStats } from "./rpc-stats.js";

/** The `reason` label of `tsmicro_server_rejected_total`, by the ErrorInfo reason server protection refuses with. */
const rejectionReasons: Readonly<Record<string, string>> = {
  RATE_LIMITED: "rate_limit",
  BULKHEAD_FULL: "bulkhead",
  OVERLOADED: "load_shed",
};

const serverCounting: CallCounting<ServerCall> = {
  request: (stats: MethodStats) => {
    stats.received++;
  },
  response: (stats: MethodStats) => {
    stats.sent++;
  },
  // A call whose caller had left counts as it ended for the caller, as its SERVER span does.
  codeOf: (error: unknown, call: ServerCall) => failureCode(error, call.context.signal),
};

/**
 * Server middleware recording go-grpc-middleware's server metrics
 * (`grpc_server_started_total`, `grpc_server_handled_total`,
 * `grpc_server_msg_received_total`, `grpc_server_msg_sent_total`,
 * `grpc_server_handling_seconds`) in `registry`, and calls refused by the
 * rate limit, bulkhead or load shedder in `tsmicro_server_rejected_total`.
 * Put it outside the protection middleware so refused calls are counted.
 */
export function serverMetricsMiddleware(registry: MetricsRegistry = metricsRegistry()): ServerMiddleware {
  const stats = rpcStats(registry, "server");
  const rejected = rejectionCounter(registry);
  const onFailure: FailureHook = (error, code, method) => {
    if (code !== Code.RESOURCE_EXHAUSTED) return;
    const info = errorReasonOf(error);
    const reason = info?.domain === "tsmicro.runtime" ? rejectionReasons[info.reason] : undefined;
    if (reason === undefined) return;
    const { grpc_service, grpc_method } = method.labels;
    rejected.inc({ grpc_service, grpc_method, reason });
  };
  return (next) => {
    const invoke = (call: ServerCall, request: unknown) => next(request === call.request ? call : { ...call, request });
    return (call) =>
      observeCall(stats.of(call.method), call.method.kind, call, call.request, invoke, serverCounting, onFailure);
  };
}

/** `tsmicro_server_rejected_total{grpc_service,grpc_method,reason}`, registered once per registry. */
function rejectionCounter(registry: MetricsRegistry): Counter<"grpc_service" | "grpc_method" | "reason"> {
  const name = "tsmicro_server_rejected_total";
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<"grpc_service" | "grpc_method" | "reason">;
  return new (promClient().Counter)({
    name,
    help: "Calls refused by server protection, by reason: rate_limit, bulkhead or load_shed.",
    labelNames: ["grpc_service", "grpc_method", "reason"],
    registers: [registry],
  });
}
