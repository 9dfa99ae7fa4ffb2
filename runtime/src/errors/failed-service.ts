import { copyOfError, isTsmicroError } from "./tsmicro-error.js";

/**
 * The trailer naming the service whose call failed first down a chain of
 * calls. A client names its service on every failure it hands its caller;
 * a handler that throws that failure on sends the name with the status, as
 * it sends any error's metadata. The caller upstream then knows the node it
 * called answered, passing on the failure of a call of its own: another
 * node would call the same failing service (retrying there multiplies calls
 * down the chain), and the node is not broken (leaving it out would keep it
 * out after that service is back).
 */
export const failedServiceKey = "tsmicro-failed-service";

/** The service a failure names as the one whose call failed, if it names one. */
export function failedService(error: unknown): string | undefined {
  if (!isTsmicroError(error)) return undefined;
  const name = error.metadata[failedServiceKey];
  return typeof name === "string" ? name : undefined;
}

/**
 * `error` naming `service` as the one whose call failed, unless it names one
 * already (a service further down, whose failure `service` passed on), on a
 * copy (see copyOfError).
 */
export function nameFailedService(error: unknown, service: string): unknown {
  if (!isTsmicroError(error) || failedService(error) !== undefined) return error;
  return copyOfError(error, { metadata: { ...error.metadata, [failedServiceKey]: service } });
}

/** The most of what is left before a deadline a node keeps for its failure's way back to its caller. */
const maxReserveMs = 250;

/**
 * What of `leftMs` before a deadline a node leaves for a failure of what it waited for (a database
 * query, see queryBudget) to reach its caller before the caller's own deadline passes, naming that
 * service: a fifth, at most 250 ms. The caller's client reads a failure that came within it as cut
 * by the attempt's deadline (see the rpc client's abandoned attempts).
 */
export function answerReserveMs(leftMs: number): number {
  return Math.min(maxReserveMs, leftMs / 5);
}
