import { Code, TsmicroError } from "../errors/tsmicro-error.js";

/**
 * Refuses a topic no backend can carry: empty, with whitespace (a NATS
 * subject cannot hold it), or with NATS wildcards (`*`, `>`), which would
 * mean different things on different backends.
 */
export function checkTopic(topic: string, operation: "publish" | "subscribe"): void {
  const problem =
    topic.length === 0
      ? "it is empty"
      : /\s/.test(topic)
        ? "it contains whitespace"
        : /(^|\.)[*>](\.|$)/.test(topic)
          ? "wildcards (* and >) are not supported"
          : topic.startsWith(".") || topic.endsWith(".") || topic.includes("..")
            ? "it has an empty segment between dots"
            : undefined;
  if (problem)
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `${operation}: topic ${JSON.stringify(topic)} is not usable: ${problem}`,
    );
}

/** A subscription's concurrency, checked: a whole number of at least 1, default 1. */
export function concurrencyOf(concurrency: number | undefined): number {
  const value = concurrency ?? 1;
  if (!Number.isInteger(value) || value < 1)
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `subscribe: concurrency must be a whole number >= 1, not ${String(concurrency)}`,
    );
  return value;
}

/** Fails with FAILED_PRECONDITION unless the broker is started: a message into a stopped broker would vanish silently. */
export function checkStarted(state: "new" | "started" | "stopped", kind: string): void {
  if (state !== "started")
    throw new TsmicroError(
      Code.FAILED_PRECONDITION,
      `the ${kind} broker is ${state === "new" ? "not started; call start() first" : "stopped"}`,
    );
}
