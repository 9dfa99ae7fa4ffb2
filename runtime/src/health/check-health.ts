import { createDirectCaller } from "../client/direct-caller.js";
import { HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health.js";
import { createHealthClient } from "../gen/grpc/health/v1/health.micro.js";
import { createH2ClientTransport } from "../transport/h2-client.js";

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
