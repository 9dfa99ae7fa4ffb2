import { entriesOf, entryKey, eventOf, sameRegistration, servicesOf, type RegistryEntry } from "./registry-entries.js";
import type { Registry, RegistryEvent, Service, Watcher, WatchOptions } from "./registry.js";
import { createWatcherFeed, type WatcherFeed } from "./watcher-feed.js";
import { timerDelay } from "../platform/timer-delay.js";

/** Options of the in-memory registry. */
export interface MemoryRegistryOptions {
  /** The clock TTLs are measured on, in ms since the epoch; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * A registry held in this process's memory, for tests and single-process
 * runs: nothing outside the process sees it. Registrations expire after
 * their TTL unless renewed, and watchers hear of expiry when it happens,
 * not when someone next reads.
 */
export function createMemoryRegistry(options: MemoryRegistryOptions = {}): Registry {
  const now = options.now ?? Date.now;
  // Re-registration moves an entry to the end, so iteration order is registration order.
  const entries = new Map<string, RegistryEntry>();
  const watchers = new Set<{ readonly service: string | undefined; readonly feed: WatcherFeed }>();
  let expiryTimer: NodeJS.Timeout | undefined;

  function emit(action: RegistryEvent["action"], entry: RegistryEntry): void {
    const event = eventOf(action, entry);
    for (const { service, feed } of watchers)
      if (service === undefined || service === entry.service.name) feed.push(event);
  }

  // Runs on the timer and before every call, so a read never shows a node whose delete event is still to come.
  function expire(): void {
    const time = now();
    for (const [key, entry] of entries) {
      if (entry.expiresAt > time) continue;
      entries.delete(key);
      emit("delete", entry);
    }
    armExpiryTimer();
  }

  function armExpiryTimer(): void {
    clearTimeout(expiryTimer);
    expiryTimer = undefined;
    let next = Infinity;
    for (const entry of entries.values()) next = Math.min(next, entry.expiresAt);
    if (next === Infinity) return;
    expiryTimer = setTimeout(expire, timerDelay(next - now()));
    // Expiry matters only to someone still running; it must not hold the process open.
    expiryTimer.unref();
  }

  return {
    kind: "memory",

    async start(): Promise<void> {},

    async stop(): Promise<void> {
      clearTimeout(expiryTimer);
      expiryTimer = undefined;
      for (const { feed } of [...watchers]) feed.watcher.stop();
    },

    async register(service: Service, registerOptions): Promise<void> {
      const fresh = entriesOf(service, registerOptions, now());
      expire();
      for (const entry of fresh) {
        const key = entryKey(entry.service.name, entry.node.id);
        const previous = entries.get(key);
        entries.delete(key);
        entries.set(key, entry);
        if (!previous) emit("create", entry);
        else if (!sameRegistration(previous, entry)) emit("update", entry);
      }
      armExpiryTimer();
    },

    async deregister(service: Service): Promise<void> {
      expire();
      for (const node of service.nodes) {
        const key = entryKey(service.name, node.id);
        const entry = entries.get(key);
        if (!entry) continue;
        entries.delete(key);
        emit("delete", entry);
      }
      armExpiryTimer();
    },

    async getService(name: string): Promise<Service[]> {
      expire();
      return servicesOf([...entries.values()].filter((entry) => entry.service.name === name));
    },

    async listServices(): Promise<Service[]> {
      expire();
      return servicesOf(entries.values());
    },

    watch(watchOptions: WatchOptions = {}): Watcher {
      const subscription = {
        service: watchOptions.service,
        feed: createWatcherFeed(() => watchers.delete(subscription)),
      };
      watchers.add(subscription);
      return subscription.feed.watcher;
    },
  };
}
