import type { CallOptions } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { failedCall } from "../transport/call-result.js";
import { closeRequests } from "../transport/call-errors.js";
import type { CallResult } from "../transport/transport.js";

/**
 * The refusal of a call whose `timeoutMs` is no number of milliseconds: NaN, -Infinity or not a
 * number (a string read from the environment), each of which would send the call with no
 * deadline at all. Undefined for a number (0 or less: its deadline has passed, so it is not
 * sent; Infinity: no deadline of its own) or none given.
 */
export function invalidTimeout(
  method: MethodDefinition,
  callOptions: CallOptions | undefined,
): TsmicroError | undefined {
  const timeoutMs: unknown = callOptions?.timeoutMs;
  if (timeoutMs === undefined || (typeof timeoutMs === "number" && timeoutMs > -Infinity)) return undefined;
  const given =
    typeof timeoutMs === "number" ? String(timeoutMs) : `${JSON.stringify(timeoutMs)} (a ${typeof timeoutMs})`;
  return new TsmicroError(
    Code.INVALID_ARGUMENT,
    `${method.path} was not sent: its timeoutMs is ${given}, which is no number of milliseconds; ` +
      "give one (5000 for 5 s), or Infinity for no deadline of its own",
    { retryable: false, unprocessed: true },
  );
}

/** A call refused before it was sent, in its kind's shape; its request stream is closed, as a refused stream's is. */
export function refusedCall(method: MethodDefinition, request: unknown, error: TsmicroError): CallResult {
  closeRequests({ request });
  return failedCall(method.kind, error);
}
