import { failedService } from "../errors/failed-service.js";
import { isNotSentForDeadline } from "../transport/call-errors.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import type { Node, Registry, Watcher } from "../registry/registry.js";
import type { Next, NodeState, SelectOptions, Selector, Strategy } from "./selector.js";
import { roundRobin } from "./strategies.js";

/** Options of the registry-fed selector. */
export interface RegistrySelectorOptions {
  readonly registry: Registry;
  /** Default round robin. */
  readonly strategy?: Strategy;
  /**
   * How long a node is left out (as Envoy's outlier detection) after it
   * failed with UNAVAILABLE, timed out on `timeoutsToEject` calls in a row (a
   * frozen or stuck node), failed `errorsToEject` in a row with INTERNAL,
   * UNKNOWN or DATA_LOSS (a broken node), or answered far slower than its
   * peers (see `slowFactor`); each ejection in a row doubles it, up to 8
   * times. Default 5 s.
   */
  readonly ejectMs?: number;
  /** Timeouts (DEADLINE_EXCEEDED) in a row that eject a node. Default 3. */
  readonly timeoutsToEject?: number;
  /** Server errors (INTERNAL, UNKNOWN, DATA_LOSS) in a row that eject a node. Default 5, as Envoy's consecutive 5xx. */
  readonly errorsToEject?: number;
  /**
   * A node whose average latency, over at least 10 timed calls, is this many
   * times the median of its timed peers' (and 50 ms above it) is ejected;
   * never more than a third of the nodes at once. Default 5.
   */
  readonly slowFactor?: number;
  /** How often the registry is read again when its watch has failed. Default 30 s. */
  readonly refreshMs?: number;
  readonly now?: () => number;
  /** Told the number of nodes of a service whenever the cached list changes (the `tsmicro_registry_nodes` gauge). */
  readonly onNodes?: (service: string, nodes: number) => void;
}

interface MutableNodeState extends NodeState {
  node: Node;
  inflight: number;
  latencyMs: number;
  ejectedUntil: number;
  /** Calls timed since the latency average started (again). */
  timed: number;
  /** Calls that timed out in a row, that failed with a server error in a row, and ejections since the node last answered. */
  timeouts: number;
  errors: number;
  ejections: number;
}

function freshState(node: Node): MutableNodeState {
  return { node, inflight: 0, latencyMs: 0, timed: 0, ejectedUntil: 0, timeouts: 0, errors: 0, ejections: 0 };
}

/** Failures that say the node itself is broken, as HTTP 5xx do for Envoy. */
const serverErrors = new Set<number>([Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS]);

/** Timed calls before a node's latency is compared with its peers'. */
const timedToCompare = 10;

/** Below this gap to the median, a slow node is not an outlier: fast calls vary by more than their ratio says. */
const slowGapMs = 50;

/**
 * Whether `state`, of the nodes `states`, answers so much slower than its
 * peers that it should be left out: its average is `factor` times the
 * median of the other timed, selectable nodes' and `slowGapMs` above it,
 * and ejecting it leaves at least two thirds of the nodes in.
 */
function isSlowOutlier(
  state: MutableNodeState,
  states: readonly MutableNodeState[],
  factor: number,
  now: () => number,
): boolean {
  // Cheap checks first, on every answer: a fast node is no outlier, and peers are compared every tenth timed call.
  if (state.timed < timedToCompare || state.latencyMs <= slowGapMs || state.timed % timedToCompare !== 0) return false;
  const t = now();
  const peers = states
    .filter((other) => other !== state && other.node.address !== state.node.address && other.ejectedUntil <= t)
    .filter((other) => other.timed >= timedToCompare)
    .map((other) => other.latencyMs)
    .sort((a, b) => a - b);
  if (peers.length < 2) return false;
  const ejected = states.filter((other) => other.ejectedUntil > t).length;
  if ((ejected + 1) * 3 > states.length) return false;
  const median = peers[Math.floor(peers.length / 2)]!;
  return state.latencyMs > factor * median && state.latencyMs - median > slowGapMs;
}

interface CacheEntry {
  states: MutableNodeState[];
  pick: (nodes: readonly NodeState[]) => NodeState;
  fetchedAt: number;
  watcher: Watcher | undefined;
  refreshing: Promise<void> | undefined;
}

/** The addresses of the nodes whose ids are in `exclude`. */
function excludedAddresses(states: readonly NodeState[], exclude: ReadonlySet<string>): Set<string> {
  const addresses = new Set<string>();
  for (const state of states) if (exclude.has(state.node.id)) addresses.add(state.node.address);
  return addresses;
}

/** How much one timed call moves a node's latency average. */
const latencyWeight = 0.2;

/** How many empty reads, a second apart, a selector waits out after the registry lost its data. */
const emptyRereads = 30;

/**
 * A selector whose node lists come from the registry, cached per service
 * and kept fresh by a watch. When the registry cannot be reached the last
 * known nodes keep serving; nodes that failed with UNAVAILABLE are left out
 * for `ejectMs` unless nothing else is left.
 */
class RegistrySelector implements Selector {
  readonly #registry: Registry;
  readonly #strategy: Strategy;
  readonly #ejectMs: number;
  readonly #timeoutsToEject: number;
  readonly #errorsToEject: number;
  readonly #slowFactor: number;
  readonly #refreshMs: number;
  readonly #now: () => number;
  readonly #onNodes: ((service: string, nodes: number) => void) | undefined;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #loading = new Map<string, Promise<CacheEntry>>();
  #stopped = false;

  constructor(options: RegistrySelectorOptions) {
    this.#registry = options.registry;
    this.#strategy = options.strategy ?? roundRobin;
    this.#ejectMs = options.ejectMs ?? 5_000;
    this.#timeoutsToEject = options.timeoutsToEject ?? 3;
    this.#errorsToEject = options.errorsToEject ?? 5;
    this.#slowFactor = options.slowFactor ?? 5;
    this.#refreshMs = options.refreshMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#onNodes = options.onNodes;
  }

  select(service: string, selectOptions?: SelectOptions): Next | Promise<Next> {
    const entry = this.#cache.get(service);
    if (!entry || entry.states.length === 0) return this.#selectUncached(service, entry, selectOptions);
    if (!entry.watcher && this.#now() - entry.fetchedAt > this.#refreshMs) this.#refreshInBackground(service, entry);
    return this.#nextFor(service, entry, selectOptions?.exclude);
  }

  mark(service: string, node: Node, error: unknown, elapsedMs?: number): void {
    const states = this.#cache.get(service)?.states ?? [];
    const state = states.find((s) => s.node.id === node.id);
    if (!state) return;
    if (state.inflight > 0) state.inflight--;
    // A node that answered with the failure of its own call to another service is not at fault.
    // Nor is it at fault for a call not sent because its deadline had passed as it was about to be.
    const code =
      isTsmicroError(error) && failedService(error) === undefined && !isNotSentForDeadline(error)
        ? error.code
        : undefined;
    // Answers and timeouts say how fast the node is; other failures may have been fast for reasons of their own.
    if (elapsedMs !== undefined && (error === undefined || code === Code.DEADLINE_EXCEEDED)) {
      state.latencyMs =
        state.latencyMs === 0 ? elapsedMs : state.latencyMs + (elapsedMs - state.latencyMs) * latencyWeight;
      state.timed++;
    }
    if (code === Code.DEADLINE_EXCEEDED) state.timeouts++;
    else if (code !== undefined && serverErrors.has(code)) state.errors++;
    else if (error === undefined) {
      state.timeouts = 0;
      state.errors = 0;
      state.ejections = 0;
    }
    const slow = error === undefined && isSlowOutlier(state, states, this.#slowFactor, this.#now);
    if (
      code === Code.UNAVAILABLE ||
      state.timeouts >= this.#timeoutsToEject ||
      state.errors >= this.#errorsToEject ||
      slow
    ) {
      // Probed again when the time is up; each ejection in a row keeps it out twice as long.
      const until = this.#now() + this.#ejectMs * 2 ** Math.min(state.ejections, 3);
      state.ejections++;
      state.timeouts = 0;
      state.errors = 0;
      // Back in, its latency is measured afresh.
      state.latencyMs = 0;
      state.timed = 0;
      // Every registration at that address is the same server (a node restarted under a new id).
      for (const other of states) {
        if (other.node.address === state.node.address) other.ejectedUntil = Math.max(other.ejectedUntil, until);
      }
    }
  }

  async start(): Promise<void> {
    this.#stopped = false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#cache.values()) entry.watcher?.stop();
    this.#cache.clear();
  }

  async #fetchStates(service: string): Promise<MutableNodeState[]> {
    const services = await this.#registry.getService(service);
    return services.flatMap((s) => s.nodes).map(freshState);
  }

  /** Replaces the node list, keeping in-flight counts and ejections of nodes that stay. */
  #replaceNodes(service: string, entry: CacheEntry, fresh: MutableNodeState[]): void {
    const old = new Map(entry.states.map((state) => [state.node.id, state]));
    entry.states = fresh.map((state) => {
      const previous = old.get(state.node.id);
      return previous ? { ...previous, node: state.node } : state;
    });
    entry.fetchedAt = this.#now();
    this.#onNodes?.(service, entry.states.length);
  }

  /** A watch of `service`, or undefined when the registry is stopped: there is nothing to follow. */
  #openWatch(service: string): Watcher | undefined {
    try {
      return this.#registry.watch({ service });
    } catch {
      return undefined;
    }
  }

  /** Applies the watch's events to the cached nodes: `opened`, or a watch opened now. */
  async #follow(service: string, entry: CacheEntry, opened?: Watcher): Promise<void> {
    const watcher = opened ?? this.#openWatch(service);
    if (!watcher) return;
    entry.watcher = watcher;
    try {
      for await (const event of watcher) {
        if (event.service.name !== service) continue;
        const ids = new Set(event.service.nodes.map((node) => node.id));
        const kept = entry.states.filter((state) => !ids.has(state.node.id));
        if (event.action === "delete") {
          entry.states = kept;
        } else {
          const byId = new Map(entry.states.map((state) => [state.node.id, state]));
          const added = event.service.nodes.map((node) => {
            const previous = byId.get(node.id);
            return previous ? { ...previous, node } : freshState(node);
          });
          entry.states = [...kept, ...added];
        }
        this.#onNodes?.(service, entry.states.length);
      }
    } catch {
      // The watch failed (registry unreachable); select() falls back to periodic reads.
    } finally {
      if (entry.watcher === watcher) entry.watcher = undefined;
    }
    // A watch the registry ended (etcd came back empty) leaves the nodes stale: a second later (not
    // at once, so a registry that fails watches is not spun on) watch again and read them afresh.
    if (this.#stopped) return;
    setTimeout(() => {
      if (this.#stopped || entry.watcher || this.#cache.get(service) !== entry) return;
      void this.#follow(service, entry);
      void this.#reread(service, entry, 0);
    }, 1_000).unref();
  }

  /**
   * Reads the nodes again after the registry lost its data. An empty answer, while nodes were
   * known, is read again each second for a while (live nodes write themselves again within a
   * heartbeat): until then the last known nodes keep serving, as while the registry is away.
   */
  async #reread(service: string, entry: CacheEntry, tries: number): Promise<void> {
    const fresh = await this.#fetchStates(service).catch(() => undefined);
    if (this.#stopped || this.#cache.get(service) !== entry) return;
    if (fresh === undefined || (fresh.length === 0 && entry.states.length > 0 && tries < emptyRereads)) {
      setTimeout(() => void this.#reread(service, entry, tries + 1), 1_000).unref();
      return;
    }
    this.#replaceNodes(service, entry, fresh);
  }

  async #load(service: string): Promise<CacheEntry> {
    // The watch before the read, so a node that leaves between them is still reported leaving.
    const watcher = this.#stopped ? undefined : this.#openWatch(service);
    let states: MutableNodeState[];
    try {
      states = await this.#fetchStates(service);
    } catch (error) {
      watcher?.stop();
      throw new TsmicroError(Code.UNAVAILABLE, `cannot look up service ${service}: registry unreachable`, {
        cause: error,
        retryable: false,
        unprocessed: true,
      });
    }
    const entry: CacheEntry = {
      states,
      pick: this.#strategy(),
      fetchedAt: this.#now(),
      watcher: undefined,
      refreshing: undefined,
    };
    if (!this.#stopped) {
      this.#cache.set(service, entry);
      this.#onNodes?.(service, states.length);
      void this.#follow(service, entry, watcher);
    } else watcher?.stop();
    return entry;
  }

  #refreshInBackground(service: string, entry: CacheEntry): void {
    if (entry.refreshing) return;
    entry.refreshing = this.#fetchStates(service)
      .then((fresh) => this.#replaceNodes(service, entry, fresh))
      .catch(() => {
        // Registry unreachable: keep serving the last known nodes.
        entry.fetchedAt = this.#now();
      })
      .finally(() => {
        entry.refreshing = undefined;
        if (!entry.watcher && !this.#stopped) void this.#follow(service, entry);
      });
  }

  #nextFor(service: string, entry: CacheEntry, exclude: ReadonlySet<string> | undefined): Next {
    return () => {
      const t = this.#now();
      let candidates: MutableNodeState[] = entry.states;
      // A node registered again under a new id at the same address (restarted) is the same server: left out too.
      const excluded = exclude?.size ? excludedAddresses(entry.states, exclude) : undefined;
      const allowed = (state: MutableNodeState) => !excluded?.has(state.node.address);
      const usable = (state: MutableNodeState) => state.ejectedUntil <= t && allowed(state);
      if (!candidates.every(usable)) {
        const preferred = candidates.filter(usable);
        const notExcluded = candidates.filter(allowed);
        candidates = preferred.length > 0 ? preferred : notExcluded.length > 0 ? notExcluded : candidates;
      }
      if (candidates.length === 0) {
        throw new TsmicroError(Code.UNAVAILABLE, `no nodes of service ${service} are registered`, {
          unprocessed: true,
        });
      }
      const state = entry.pick(candidates) as MutableNodeState;
      state.inflight++;
      return state.node;
    };
  }

  /** A service with no node cached: its first lookup (shared by the calls that wait for it), or a fresh read. */
  async #selectUncached(
    service: string,
    entry: CacheEntry | undefined,
    selectOptions: SelectOptions | undefined,
  ): Promise<Next> {
    if (!entry) {
      let pending = this.#loading.get(service);
      if (!pending) {
        pending = this.#load(service).finally(() => this.#loading.delete(service));
        this.#loading.set(service, pending);
      }
      entry = await pending;
    } else {
      // Nothing known: wait for the registry rather than fail on a stale empty list.
      try {
        this.#replaceNodes(service, entry, await this.#fetchStates(service));
      } catch {
        // unreachable; fall through to the empty list's error
      }
    }
    return this.#nextFor(service, entry, selectOptions?.exclude);
  }
}

/** A selector over the nodes `options.registry` lists (see RegistrySelector). */
export function createRegistrySelector(options: RegistrySelectorOptions): Selector {
  return new RegistrySelector(options);
}
