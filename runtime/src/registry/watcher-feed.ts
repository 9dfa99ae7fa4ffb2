import type { RegistryEvent, Watcher } from "./registry.js";

/** The backend's side of a Watcher: events are pushed in, the user iterates them out. */
export interface WatcherFeed {
  readonly watcher: Watcher;
  /** Queues an event for the watcher's reader; ignored once the watcher has stopped. */
  push(event: RegistryEvent): void;
  readonly stopped: boolean;
}

/**
 * A Watcher backed by a queue. Events wait until read, in order. `stop()`
 * (or leaving a `for await` loop early) ends the iteration at once, drops
 * what is unread and calls `onStop` once so the backend releases what feeds
 * it. Iterating it twice shares one queue: each event is read once.
 */
export function createWatcherFeed(onStop: () => void): WatcherFeed {
  const queue: RegistryEvent[] = [];
  const waiting: ((result: IteratorResult<RegistryEvent>) => void)[] = [];
  let stopped = false;

  const done = (): IteratorResult<RegistryEvent> => ({ done: true, value: undefined });

  function stop(): void {
    if (stopped) return;
    stopped = true;
    queue.length = 0;
    for (const resolve of waiting.splice(0)) resolve(done());
    onStop();
  }

  const iterator: AsyncIterator<RegistryEvent> = {
    next() {
      if (stopped) return Promise.resolve(done());
      const event = queue.shift();
      if (event) return Promise.resolve({ done: false, value: event });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return() {
      stop();
      return Promise.resolve(done());
    },
  };

  return {
    watcher: {
      stop,
      [Symbol.asyncIterator]: () => iterator,
    },
    push(event) {
      if (stopped) return;
      const resolve = waiting.shift();
      if (resolve) resolve({ done: false, value: event });
      else queue.push(event);
    },
    get stopped() {
      return stopped;
    },
  };
}
