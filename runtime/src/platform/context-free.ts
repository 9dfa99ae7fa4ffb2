import { AsyncLocalStorage } from "node:async_hooks";

/** Runs a function in the async context captured by contextFree, whatever context calls it. */
export type ContextFreeRunner = <R>(fn: () => R) => R;

/**
 * A runner for work that belongs to no call (a timer summing up many calls' failures), in the
 * async context of the code calling this: every AsyncLocalStorage store as it was then (the
 * served call's, OTel's, a user's own), not as it is in whichever call later sets the timer.
 * Called where a component is made, before it serves any call, it is the service's own context.
 */
export function contextFree(): ContextFreeRunner {
  const snapshot = AsyncLocalStorage.snapshot();
  return (fn) => snapshot(fn);
}
