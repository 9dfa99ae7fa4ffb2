import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import { SetupError } from "../errors/setup-error.js";

/**
 * gRPC's hedging policy for one idempotent unary method: the call goes to
 * one node and, while it is unanswered, to another every `delayMs`, up to
 * `maxAttempts` nodes; the first answer wins and the others are cancelled.
 * A failure that another node could fix (UNAVAILABLE, a timeout of its own)
 * sends the next attempt at once; any other failure ends the call.
 */
export interface HedgingPolicy {
  /** How long an attempt may go unanswered before the next is sent. */
  readonly delayMs: number;
  /** Attempts at most, the first included: 2 (default) or 3. */
  readonly maxAttempts?: number;
}

/**
 * Hedging policies by method: `service/Method` (the registered service name
 * and the method's proto name, such as `greeter/SayHello`) or the gRPC path
 * (`/greeter.v1.Greeter/SayHello`).
 */
export type HedgingPolicies = Readonly<Record<string, HedgingPolicy>>;

/** The policy of `method` called on the registered service `service`, if any. */
export function hedgingOf(
  policies: HedgingPolicies | undefined,
  service: string,
  method: MethodDefinition,
): HedgingPolicy | undefined {
  return policies?.[`${service}/${method.name}`] ?? policies?.[method.path];
}

/**
 * Checks the policies that name methods of `definition`: sane numbers, and
 * only methods the proto says can run twice (`idempotency_level`).
 */
export function checkHedging(
  policies: HedgingPolicies | undefined,
  definition: ServiceDefinition,
  service: string,
): void {
  if (!policies) return;
  for (const method of Object.values(definition.methods)) {
    const key = policies[`${service}/${method.name}`] ? `${service}/${method.name}` : method.path;
    const policy = policies[key];
    if (!policy) continue;
    const where = `hedging[${JSON.stringify(key)}]`;
    if (!(Number.isFinite(policy.delayMs) && policy.delayMs >= 0)) {
      throw new SetupError(
        "TSM_ERR_FLAG",
        `${where}.delayMs`,
        JSON.stringify(policy.delayMs),
        "expected milliseconds >= 0",
      );
    }
    const attempts = policy.maxAttempts ?? 2;
    if (attempts !== 2 && attempts !== 3) {
      throw new SetupError("TSM_ERR_FLAG", `${where}.maxAttempts`, JSON.stringify(attempts), "expected 2 or 3");
    }
    if (method.kind !== "unary" || method.idempotency === "unknown") {
      throw new SetupError(
        "TSM_ERR_FLAG",
        where,
        JSON.stringify(policy),
        `hedging sends a call to several nodes, and ${method.path} is ${method.kind === "unary" ? "not marked idempotent" : "a stream"}; ` +
          "hedge only unary methods whose proto says idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT",
      );
    }
  }
}

/**
 * Bounds hedging as gRPC's retry throttling bounds retries: every call
 * earns a tenth of a token, every extra attempt spends one, and there are at
 * most ten; so extra attempts stay under a tenth of the calls, plus a burst
 * of ten, however slow the nodes get.
 */
export class HedgeBudget {
  #tokens = 10;

  earn(): void {
    this.#tokens = Math.min(10, this.#tokens + 0.1);
  }

  spend(): boolean {
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
