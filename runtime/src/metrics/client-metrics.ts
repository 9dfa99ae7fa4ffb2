import { Code, isTsmicroError } from "../errors/tsmicro-error.js";
import type { ClientCall, ClientMiddleware } from "../transport/transport.js";
import { observeCall, type CallCounting } from "./observe-call.js";
import { metricsRegistry, type MetricsRegistry } from "./process-registry.js";
import { rpcStats, type MethodStats } from "./rpc-stats.js";

const clientCounting: CallCounting = {
  request: (stats: MethodStats) => {
    stats.sent++;
  },
  response: (stats: MethodStats) => {
    stats.received++;
  },
  // grpc-go's status.Code reads any error without a status as Unknown.
  codeOf: (error: unknown) => (isTsmicroError(error) ? error.code : Code.UNKNOWN),
};

/**
 * Client middleware recording go-grpc-middleware's client metrics
 * (`grpc_client_started_total`, `grpc_client_handled_total`,
 * `grpc_client_msg_received_total`, `grpc_client_msg_sent_total`,
 * `grpc_client_handling_seconds`) in `registry`. Outside the breaker and
 * the retries, it counts each call once, as the caller saw it: failed fast
 * by an open breaker, or answered after a retry.
 */
export function clientMetricsMiddleware(registry: MetricsRegistry = metricsRegistry()): ClientMiddleware {
  const stats = rpcStats(registry, "client");
  return (next) => {
    const invoke = (call: ClientCall, request: unknown) => next(request === call.request ? call : { ...call, request });
    return (call) => observeCall(stats.of(call.method), call.method.kind, call, call.request, invoke, clientCounting);
  };
}
