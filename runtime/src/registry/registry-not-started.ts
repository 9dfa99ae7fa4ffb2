import { Code, TsmicroError } from "../errors/tsmicro-error.js";

/**
 * The refusal of a registry used before its start(). It names the registry's own start, as the broker's
 * does: a service, connect() and the gateway start the registry they are given or make, so whoever
 * meets this made the registry by hand and owns its start.
 */
export function registryNotStarted(kind: string): TsmicroError {
  return new TsmicroError(
    Code.FAILED_PRECONDITION,
    `the ${kind} registry is not started; call registry.start() first (whoever creates a registry starts it; ` +
      "a service, connect() and the gateway start theirs)",
  );
}
