/**
 * A stream that runs each step inside `run` (which makes the call's span the
 * active context: a generator's body runs when it is iterated, not when it is
 * made) and calls `end` once, when the stream finishes, fails or is closed
 * early by its consumer.
 */
export function tracedStream<T>(
  source: AsyncIterable<T>,
  run: <R>(step: () => R) => R,
  end: (failed: boolean, error?: unknown) => void,
): AsyncIterable<T> {
  let ended = false;
  const finish = (failed: boolean, error?: unknown) => {
    if (ended) return;
    ended = true;
    end(failed, error);
  };
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const iterator = run(() => source[Symbol.asyncIterator]());
      const step = async (next: () => Promise<IteratorResult<T>>): Promise<IteratorResult<T>> => {
        try {
          const result = await run(next);
          if (result.done) finish(false);
          return result;
        } catch (error) {
          finish(true, error);
          throw error;
        }
      };
      return {
        next: () => step(() => iterator.next()),
        return: (value?: unknown) =>
          step(async () => {
            const result = iterator.return ? await iterator.return(value) : { done: true as const, value: undefined };
            finish(false);
            return result as IteratorResult<T>;
          }),
        throw: (error?: unknown) =>
          step(() => (iterator.throw ? iterator.throw(error) : Promise.reject(error as Error))),
      };
    },
  };
}
