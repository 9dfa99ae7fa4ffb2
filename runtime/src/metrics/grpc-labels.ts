import type { MethodDefinition, MethodKind } from "../definition/definition.js";

/**
 * Code names as grpc-go's `codes.Code.String()` spells them, which is what
 * go-grpc-middleware's Prometheus provider puts in `grpc_code` and what
 * existing dashboards and alerts match on (`Canceled` with one l).
 */
export const goCodeNames: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** The `grpc_code` label of a status code; codes grpc-go does not name read `Code(17)` as it prints them. */
export function goCodeName(code: number): string {
  return goCodeNames[code] ?? `Code(${code})`;
}

const grpcTypes: Readonly<Record<MethodKind, string>> = {
  unary: "unary",
  client_streaming: "client_stream",
  server_streaming: "server_stream",
  bidi_streaming: "bidi_stream",
};

/** The `grpc_type`, `grpc_service` and `grpc_method` labels of a method, as go-grpc-middleware sets them. */
export interface MethodLabels {
  readonly grpc_type: string;
  readonly grpc_service: string;
  readonly grpc_method: string;
}

/** The labels of `method`, from its gRPC path `/package.Service/Method`. */
export function methodLabels(method: MethodDefinition): MethodLabels {
  const slash = method.path.lastIndexOf("/");
  return {
    grpc_type: grpcTypes[method.kind],
    grpc_service: method.path.slice(1, slash),
    grpc_method: method.path.slice(slash + 1),
  };
}
