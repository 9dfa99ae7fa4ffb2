/** The longest wait setTimeout keeps (2^31-1 ms, about 24.8 days): given more, Node fires after 1 ms. */
export const longestTimerMs = 2 ** 31 - 1;

/**
 * How long a timer for `deadline` waits: what is left of it, at most as long as a timer can
 * wait. A deadline further away (`grpc-timeout: 99999999H` is valid) is waited for by a timer
 * that, waking early, sets itself again.
 */
export function timerDelayMs(deadline: Date): number {
  return Math.min(longestTimerMs, Math.max(0, deadline.getTime() - Date.now()));
}
