/** The signals that stop a command: Ctrl-C, and what `kill` and supervisors send. */
const stopSignals = ["SIGINT", "SIGTERM"] as const;

/**
 * Runs `work` so that SIGINT or SIGTERM arriving meanwhile first runs
 * `cleanup` (synchronously: the process ends right after it), then ends
 * the process by that same signal, as it would have ended with no handler,
 * so a shell sees it interrupted (exit status 130 or 143). Nested calls
 * each run their cleanup, the innermost first.
 */
export async function onStopSignal<T>(cleanup: () => void, work: () => Promise<T>): Promise<T> {
  const stop = (signal: NodeJS.Signals) => {
    release();
    try {
      cleanup();
    } finally {
      // The outermost handler re-raises the signal, which, with no handler left, ends the process.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    }
  };
  const release = () => {
    for (const signal of stopSignals) process.off(signal, stop);
  };
  for (const signal of stopSignals) process.prependListener(signal, stop);
  try {
    return await work();
  } finally {
    release();
  }
}
