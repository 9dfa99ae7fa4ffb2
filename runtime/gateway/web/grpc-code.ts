/** The gRPC status codes' names by number (grpc's doc/statuscodes.md), as the runtime's `Code` names them. */
const codeNames = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/**
 * A code's name, such as `INVALID_ARGUMENT` for 3: the page names the dashboard's own refusal of a
 * call (whose JSON carries the code as a number) as the server names a service's answer.
 */
export function codeName(code: number): string {
  return codeNames[code] ?? `CODE_${code}`;
}
