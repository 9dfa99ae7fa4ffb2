import { createDirectCaller } from "../client/direct-caller.js";
import { HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health.js";
import { createHealthClient } from "../gen/grpc/health/v1/health.micro.js";
import { createH2ClientTransport } from "../transport/h2-client.js";
import { socketMeaning } from "../transport/socket-failure.js";

/** Options of checkHealth. */
export interface CheckHealthOptions {
  /** The service to ask about; default "" (the whole server). */
  readonly service?: string;
  /** Give up after this long; default 2 s. */
  readonly timeoutMs?: number;
}

/**
 * Asks the `grpc.health.v1` service at `address` (`host:port`) whether it
 * is SERVING: a container's HEALTHCHECK or a readiness script without
 * grpc_health_probe. Any failure to answer counts as not serving.
 */
export async function checkHealth(address: string, options: CheckHealthOptions = {}): Promise<boolean> {
  const transport = createH2ClientTransport();
  try {
    const health = createHealthClient(createDirectCaller({ transport, address }));
    const { status } = await health.check(
      { service: options.service ?? "" },
      { timeoutMs: options.timeoutMs ?? 2_000 },
    );
    return status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  } finally {
    await transport.close();
  }
}

/** Whether a registry node is a web service's (registered with `protocol: http`): it speaks HTTP, not gRPC. */
export function isHttpNode(node: { readonly metadata?: Readonly<Record<string, string>> }): boolean {
  return node.metadata?.protocol === "http";
}

/**
 * The health of a web service's node, which answers HTTP rather than
 * `grpc.health.v1`: `SERVING` when `GET /metrics` gets any HTTP answer within
 * `timeoutMs` (a 404 too: the server is up), else `UNAVAILABLE: <why>`.
 * `/metrics`, which a web service counts and traces no request of: a probe
 * every second of the dashboard's would be a 404 on its panels and in its traces.
 */
export async function httpNodeHealth(address: string, timeoutMs: number): Promise<string> {
  try {
    const response = await fetch(`http://${address}/metrics`, {
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return "SERVING";
  } catch (error) {
    return `UNAVAILABLE: ${httpFailure(error, address, timeoutMs)}`;
  }
}

function httpFailure(error: unknown, address: string, timeoutMs: number): string {
  if (error instanceof Error && error.name === "TimeoutError")
    return `no HTTP answer from ${address} within ${timeoutMs} ms`;
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  const meaning = socketMeaning(code);
  if (meaning) return `cannot reach ${address} (${String(code)}): ${meaning}`;
  return `${address} gave no HTTP answer (${typeof code === "string" ? code : error instanceof Error ? error.message : String(error)})`;
}
