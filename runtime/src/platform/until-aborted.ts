import type { TsmicroError } from "../errors/tsmicro-error.js";

/**
 * `answer`, or the failure `aborted()` makes as soon as `signal` aborts, whichever comes first:
 * for work that cannot itself be stopped (a query sent, a publish awaiting its confirmation), which
 * its caller stops waiting for. What `answer` settles with after the abort is let go.
 */
export function untilAborted<T>(answer: Promise<T>, signal: AbortSignal, aborted: () => TsmicroError): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    answer.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
