import type { Node, Service } from "../registry/registry.js";

/** Returns the next node to call; throws a TsmicroError (UNAVAILABLE) when there is none. */
export type Next = () => Node;

/** What a strategy knows of a node: the node, the calls in flight to it, and how fast it answers. */
export interface NodeState {
  readonly node: Node;
  readonly inflight: number;
  /** A moving average of its unary calls' latency, in ms; 0 before one was timed. */
  readonly latencyMs: number;
}

/**
 * A load-balancing strategy, as go-micro's: a plain function. It makes the
 * picker of one service (so round robin keeps its position across calls);
 * the picker chooses from the nodes currently selectable, never empty.
 */
export type Strategy = () => (nodes: readonly NodeState[]) => NodeState;

/** Options of one selection. */
export interface SelectOptions {
  /** Node ids not to pick (nodes a retry already tried), unless nothing else is left. */
  readonly exclude?: ReadonlySet<string>;
}

/**
 * Picks nodes of a service to call. Nodes come from a cache the registry's
 * watch keeps fresh; when the registry cannot be reached, the last known
 * nodes keep serving. Every node `next()` returns must be `mark`ed once with
 * the outcome of the call, so in-flight counts and latencies stay right and
 * failing nodes are ejected for a while.
 */
export interface Selector {
  /**
   * The picker of `service`'s nodes: at once while they are cached (most calls), else once the
   * registry answered; `await` takes either.
   */
  select(service: string, options?: SelectOptions): Next | Promise<Next>;
  /** The outcome of a call `next()` sent to `node`; `elapsedMs`, when given, is how long it took. */
  mark(service: string, node: Node, error: unknown, elapsedMs?: number): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Every node of every version of a service. */
export function nodesOf(services: readonly Service[]): Node[] {
  return services.flatMap((service) => service.nodes);
}
