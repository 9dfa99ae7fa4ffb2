/** The longest wait setTimeout keeps (2^31-1 ms, about 24.8 days): given more, Node fires after 1 ms. */
export const longestTimerMs = 2 ** 31 - 1;

/** A timer delay for something due in `ms`, within what setTimeout keeps (a later one waits in steps). */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(Math.ceil(ms), 0), longestTimerMs);
}

/**
 * How long a timer for `deadline` waits: what is left of it, at most as long as a timer can
 * wait. A deadline further away (`grpc-timeout: 99999999H` is valid) is waited for by a timer
 * that, waking early, sets itself again.
 */
export function timerDelayMs(deadline: Date): number {
  return timerDelay(deadline.getTime() - Date.now());
}
