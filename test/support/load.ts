/** What a load run saw. */
export interface LoadResult {
  readonly ok: number;
  readonly failures: unknown[];
  /** Responses by the node id that served them. */
  readonly byNode: Map<string, number>;
}

/**
 * Sends `total` calls, `concurrency` at a time; `during(done)` is called
 * after each completed call so a test can act mid-load (kill a node).
 */
export async function runLoad(
  call: () => Promise<{ id: string }>,
  total: number,
  concurrency: number,
  during: (done: number) => void = () => {},
): Promise<LoadResult> {
  let started = 0;
  let done = 0;
  let ok = 0;
  const failures: unknown[] = [];
  const byNode = new Map<string, number>();
  async function worker(): Promise<void> {
    while (started < total) {
      started++;
      try {
        const { id } = await call();
        ok++;
        byNode.set(id, (byNode.get(id) ?? 0) + 1);
      } catch (error) {
        failures.push(error);
      }
      during(++done);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failures, byNode };
}

/** Polls `check` until it returns true, failing with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Keeps `concurrency` calls going until `stop()` resolves the returned result. */
export function loadUntilStopped(
  call: () => Promise<{ id: string }>,
  concurrency: number,
): { stop(): Promise<LoadResult> } {
  let running = true;
  let ok = 0;
  const failures: unknown[] = [];
  const byNode = new Map<string, number>();
  const worker = async () => {
    while (running) {
      try {
        const { id } = await call();
        ok++;
        byNode.set(id, (byNode.get(id) ?? 0) + 1);
      } catch (error) {
        failures.push(error);
      }
      // A steady load, not a flood: this runs for many seconds beside real etcd processes.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    async stop() {
      running = false;
      await workers;
      return { ok, failures, byNode };
    },
  };
}

/** One call of keepCalling's: when it started, how long it took, and how it ended ("OK", or the error's code) and why. */
export interface CallSample {
  readonly at: number;
  readonly ms: number;
  readonly outcome: unknown;
  readonly message?: string;
  /** The answer, when the call was answered. */
  readonly answer?: unknown;
}

/** Keeps `concurrency` calls going until `stop()`, which resolves with every call made. */
export function keepCalling(call: () => Promise<unknown>, concurrency: number): { stop(): Promise<CallSample[]> } {
  const samples: CallSample[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      const at = performance.now();
      const sample = await call().then(
        (answer): CallSample => ({ at, ms: performance.now() - at, outcome: "OK", answer }),
        (error: { code?: unknown; message?: string }): CallSample => ({
          at,
          ms: performance.now() - at,
          outcome: error.code ?? error,
          ...(error.message === undefined ? {} : { message: error.message }),
        }),
      );
      samples.push(sample);
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return samples;
    },
  };
}
