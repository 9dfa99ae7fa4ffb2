import type { Logger } from "../logging/logger.js";
import type { Node, Registry, Watcher } from "../registry/registry.js";

/** One subscription of an http broker somewhere, as its registry node describes it. */
export interface BrokerEndpoint {
  /** The registry node id: unique per subscription. */
  readonly id: string;
  readonly topic: string;
  readonly queue: string | undefined;
  /** `http://host:port/broker/<subscription>`: where messages for it are POSTed. */
  readonly url: string;
}

/** How long lookups are trusted when no watch is running (it ended, or the registry cannot watch). */
const unwatchedCacheMs = 1_000;

/**
 * The http brokers' subscriptions, read from the registry under one service
 * name and cached: a registry watch on that service clears the cache on any
 * change, so a publish reads the registry only after something changed.
 */
export class SubscriberDirectory {
  #cached: { nodes: Promise<readonly Node[]>; loadedAt: number } | undefined;
  #watcher: Watcher | undefined;
  #stopped = false;

  constructor(
    private readonly registry: Registry,
    private readonly serviceName: string,
    private readonly logger: Logger,
  ) {}

  /** The subscriptions of `topic` as the registry lists them now (or as of the last change the watch saw). */
  async subscribersOf(topic: string): Promise<BrokerEndpoint[]> {
    this.#ensureWatch();
    const cached = this.#cached;
    const fresh = cached && (this.#watcher !== undefined || Date.now() - cached.loadedAt < unwatchedCacheMs);
    const nodes = fresh ? cached.nodes : this.#load();
    return (await nodes).flatMap((node) => {
      const endpoint = endpointOf(node);
      return endpoint?.topic === topic ? [endpoint] : [];
    });
  }

  /** Forgets what was read, so the next lookup reads the registry again. */
  invalidate(): void {
    this.#cached = undefined;
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.stop();
    this.#watcher = undefined;
  }

  #load(): Promise<readonly Node[]> {
    const nodes = this.registry
      .getService(this.serviceName)
      .then((services) => services.flatMap((service) => service.nodes));
    const entry = { nodes, loadedAt: Date.now() };
    this.#cached = entry;
    // A failed read is not cached: the next publish tries the registry again.
    nodes.catch(() => {
      if (this.#cached === entry) this.#cached = undefined;
    });
    return nodes;
  }

  #ensureWatch(): void {
    if (this.#watcher || this.#stopped) return;
    let watcher: Watcher;
    try {
      watcher = this.registry.watch({ service: this.serviceName });
    } catch (error) {
      this.logger.debug({ err: error }, "broker: cannot watch the registry; caching lookups briefly instead");
      return;
    }
    this.#watcher = watcher;
    void this.#follow(watcher);
  }

  async #follow(watcher: Watcher): Promise<void> {
    try {
      for await (const _event of watcher) this.invalidate();
    } catch (error) {
      this.logger.warn({ err: error }, "broker: the registry watch failed; it is restarted on the next publish");
    }
    if (this.#watcher === watcher) this.#watcher = undefined;
    this.invalidate();
  }
}

/** The endpoint a registry node of an http broker describes, or undefined for a node that is not one. */
function endpointOf(node: Node): BrokerEndpoint | undefined {
  const { broker, topic, queue, path } = node.metadata;
  if (broker !== "http" || !topic || !path) return undefined;
  return { id: node.id, topic, queue: queue || undefined, url: `http://${node.address}${path}` };
}
