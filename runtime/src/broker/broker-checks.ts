import { Code, TsmicroError } from "../errors/tsmicro-error.js";

/**
 * First tokens NATS keeps for itself besides `$…` (docs.nats.io, "Subject-Based
 * Messaging": `$` subjects are reserved for system use): `_INBOX` carries
 * request-reply answers, `_R_` and `_GR_` replies across accounts and gateways.
 */
const reservedFirstTokens = new Set(["_INBOX", "_R_", "_GR_"]);

/**
 * Why no backend can carry `topic`, or undefined when it is usable: empty,
 * with whitespace (a NATS subject cannot hold it), with NATS wildcards (`*`,
 * `>`, which would mean different things on different backends), with an
 * empty segment, or in a namespace NATS reserves (`$JS.API.…` would be a
 * JetStream API request, `$SYS.…` a system one), refused on every backend so
 * a topic that works on one broker works on all.
 */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return "it is empty";
  if (/\s/.test(topic)) return "it contains whitespace";
  if (/(^|\.)[*>](\.|$)/.test(topic)) return "wildcards (* and >) are not supported";
  if (topic.startsWith(".") || topic.endsWith(".") || topic.includes(".."))
    return "it has an empty segment between dots";
  const first = topic.split(".", 1)[0]!;
  if (topic.startsWith("$") || reservedFirstTokens.has(first))
    return (
      `NATS reserves ${topic.startsWith("$") ? '"$…"' : `"${first}.…"`} subjects for itself ` +
      "($JS: the JetStream API, $SYS: system requests, $KV, $O; _INBOX, _R_, _GR_: replies); " +
      "name the topic after your domain, such as user.created"
    );
  return undefined;
}

/** Refuses a topic no backend can carry (see topicProblem) with INVALID_ARGUMENT naming it. */
export function checkTopic(topic: string, operation: "publish" | "subscribe"): void {
  const problem = topicProblem(topic);
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
      `the ${kind} broker is ${state === "new" ? "not started; call broker.start() first (whoever creates a broker starts it)" : "stopped"}`,
    );
}
