/**
 * How long one attempt of an idempotent call may take before it is given up
 * and the call tried on another node (issue: a frozen node held its calls
 * for their whole deadline while other nodes were idle).
 *
 * `auto` learns it per method as TCP learns its retransmission timeout
 * (RFC 6298): a smoothed latency and its mean deviation from answered
 * attempts; an attempt may take twice `smoothed + 4 × deviation`, never less
 * than `floorMs`, so ordinary jitter and GC pauses do not turn into retries.
 */

import type { ServiceDefinition } from "../definition/definition.js";
import { SetupError } from "../errors/setup-error.js";
import { type ByMethod, optionOf } from "./method-options.js";

/** Attempt timeouts: a fixed number of milliseconds, learnt (`auto`), or none. */
export type AttemptTimeout = number | "auto" | "none";

/** Never shorter than this when learnt: below it, retries would answer noise. */
const floorMs = 250;
/** Answered attempts seen before a learnt timeout applies. */
const warmSamples = 20;

/** One method's latency, as RFC 6298 smooths round-trip times. */
export class LatencyEstimate {
  #smoothed = 0;
  #deviation = 0;
  #samples = 0;

  observe(ms: number): void {
    if (this.#samples === 0) {
      this.#smoothed = ms;
      this.#deviation = ms / 2;
    } else {
      this.#deviation = 0.75 * this.#deviation + 0.25 * Math.abs(this.#smoothed - ms);
      this.#smoothed = 0.875 * this.#smoothed + 0.125 * ms;
    }
    this.#samples++;
  }

  /** The learnt attempt timeout, or undefined before enough attempts were answered. */
  learnt(): number | undefined {
    if (this.#samples < warmSamples) return undefined;
    return Math.max(floorMs, 2 * (this.#smoothed + 4 * this.#deviation));
  }
}

/**
 * The timeout of the next attempt of a call with `remainingMs` left before
 * its deadline, or undefined when the attempt may use all of it.
 */
export function attemptTimeoutMs(
  setting: AttemptTimeout,
  estimate: LatencyEstimate,
  remainingMs: number,
): number | undefined {
  const limit = setting === "none" ? undefined : setting === "auto" ? estimate.learnt() : setting;
  return limit !== undefined && limit > 0 && limit < remainingMs ? limit : undefined;
}

/** Attempt timeouts of single methods, over `--client_attempt_timeout`: by `service/Method` or gRPC path. */
export type AttemptTimeouts = ByMethod<AttemptTimeout>;

/**
 * Checks the attempt timeouts that name methods of `definition`:
 * milliseconds above 0, `auto` or `none`, and only for idempotent unary
 * methods, the only ones whose attempts are given up for another node.
 */
export function checkAttemptTimeouts(
  timeouts: AttemptTimeouts | undefined,
  definition: ServiceDefinition,
  service: string,
): void {
  for (const method of Object.values(definition.methods)) {
    const option = optionOf(timeouts, service, method);
    if (!option) continue;
    const where = `attemptTimeouts[${JSON.stringify(option.key)}]`;
    const value: unknown = option.value;
    if (value !== "auto" && value !== "none" && !(typeof value === "number" && value > 0 && value < Infinity)) {
      throw new SetupError(
        "TSM_ERR_FLAG",
        where,
        JSON.stringify(value),
        'expected milliseconds above 0, "auto" or "none"',
      );
    }
    if (method.kind !== "unary" || method.idempotency === "unknown") {
      throw new SetupError(
        "TSM_ERR_FLAG",
        where,
        JSON.stringify(value),
        `an attempt timeout sends a call on to another node, and ${method.path} is ${method.kind === "unary" ? "not marked idempotent" : "a stream"}; ` +
          "set it only for unary methods whose proto says idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT",
      );
    }
  }
}
