import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Node } from "../registry/registry.js";
import type { ClientCall } from "../transport/transport.js";
import { type ByMethod, optionOf } from "./method-options.js";

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
export type HedgingPolicies = ByMethod<HedgingPolicy>;

/** The policy of `method` called on the registered service `service`, if any. */
export function hedgingOf(
  policies: HedgingPolicies | undefined,
  service: string,
  method: MethodDefinition,
): HedgingPolicy | undefined {
  return optionOf(policies, service, method)?.value;
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
    const option = optionOf(policies, service, method);
    if (!option) continue;
    const { key, value: policy } = option;
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

/** What a hedged call needs of the caller that makes it. */
export interface HedgeWire {
  /** A node to try, not one of `tried` unless nothing else is left; a wait-for-ready `call` waits for one. */
  pick(tried: Set<string>, call: ClientCall): Node | Promise<Node>;
  send(node: Node, call: ClientCall): Promise<unknown>;
  /** The outcome of an attempt on `node`, for the selector. */
  mark(node: Node, error: unknown, elapsedMs: number): void;
  /** Whether another node could fix `error` (and the call's deadline and signal allow another attempt). */
  retryable(error: unknown, call: ClientCall): boolean;
  readonly budget: HedgeBudget;
}

/**
 * A hedged call: one attempt now and, while none has answered, another on
 * a node not tried yet every `delayMs` (or at once after a failure another
 * node could fix), within the budget; the first answer wins and the other
 * attempts are cancelled. A failure no other node would fix ends the call.
 * A node another outpaced is marked as timed out: three in a row and the
 * selector leaves it out.
 */
export function hedgedCall(call: ClientCall, policy: HedgingPolicy, wire: HedgeWire): Promise<unknown> {
  wire.budget.earn();
  const maxAttempts = policy.maxAttempts ?? 2;
  const tried = new Set<string>();
  const racing = new Set<AbortController>();
  let started = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastError: unknown;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const attempt of racing) attempt.abort(new TsmicroError(Code.CANCELLED, "another node answered first"));
      outcome();
    };
    const launch = async () => {
      started++;
      const attempt = new AbortController();
      racing.add(attempt);
      const signal = call.signal ? AbortSignal.any([call.signal, attempt.signal]) : attempt.signal;
      let node: Node | undefined;
      const sentAt = performance.now();
      try {
        // With the attempt's signal: a wait-for-ready attempt still waiting for a node stops once another answered.
        const sent = { ...call, signal };
        node = await wire.pick(tried, sent);
        tried.add(node.id);
        const response = await wire.send(node, sent);
        racing.delete(attempt);
        wire.mark(node, undefined, performance.now() - sentAt);
        settle(() => resolve(response));
      } catch (error) {
        racing.delete(attempt);
        const outpaced = settled && attempt.signal.aborted;
        const verdict = outpaced ? new TsmicroError(Code.DEADLINE_EXCEEDED, "outpaced") : error;
        if (node) wire.mark(node, verdict, performance.now() - sentAt);
        if (outpaced) return;
        lastError = error;
        if (!wire.retryable(error, call)) settle(() => reject(error));
        else if (started < maxAttempts) schedule(0);
        else if (racing.size === 0) settle(() => reject(error));
      }
    };
    // The next attempt after `delayMs`, if the budget has one; with none racing and none allowed, the call fails.
    const schedule = (delayMs: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (settled || started >= maxAttempts) return;
        if (!wire.budget.spend()) {
          if (racing.size === 0) settle(() => reject(lastError));
          return;
        }
        void launch();
        if (started < maxAttempts) schedule(policy.delayMs);
      }, delayMs);
    };
    void launch();
    schedule(policy.delayMs);
  });
}
