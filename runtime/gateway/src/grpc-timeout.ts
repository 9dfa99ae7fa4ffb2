import { Code, TsmicroError } from "@tsmicro/runtime";

/** gRPC's timeout units, in milliseconds. */
const units: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * The milliseconds a `Grpc-Timeout` request header gives its call, in gRPC's format (1 to 8
 * digits and a unit: `30S`, `500m`, `100u`). grpc-gateway takes it as the call's timeout, in
 * place of its default, and so does the gateway. A value in another format is INVALID_ARGUMENT
 * naming it, as grpc-gateway refuses it, rather than a call with some other deadline.
 */
export function grpcTimeoutMs(value: string): number {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match)
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the Grpc-Timeout header ${JSON.stringify(value)} is not a gRPC timeout: give 1 to 8 digits and a unit, ` +
        "H (hours), M (minutes), S (seconds), m (milliseconds), u (microseconds) or n (nanoseconds), such as 30S or 500m",
    );
  return Number(match[1]) * units[match[2]!]!;
}
