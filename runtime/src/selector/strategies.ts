import type { NodeState, Strategy } from "./selector.js";

/** Picks a node at random. */
export const random: Strategy = () => (nodes) => nodes[Math.floor(Math.random() * nodes.length)]!;

/** Takes nodes in turn, starting at a random one so many callers do not all hit the first node together. */
export const roundRobin: Strategy = () => {
  let position = Math.floor(Math.random() * 1024);
  return (nodes) => nodes[position++ % nodes.length]!;
};

/**
 * Power of two choices, as go-zero's p2c: of two random nodes, the one with
 * the lower load, its calls in flight (plus the one to send) times its
 * average latency. Close to least-loaded without scanning every node; a
 * slow node loses to a fast one, and a stuck one, whose calls pile up,
 * loses to every other.
 */
export const leastInflight: Strategy = () => (nodes) => {
  if (nodes.length === 1) return nodes[0]!;
  const a = Math.floor(Math.random() * nodes.length);
  let b = Math.floor(Math.random() * (nodes.length - 1));
  if (b >= a) b++;
  const first: NodeState = nodes[a]!;
  const second: NodeState = nodes[b]!;
  return load(second) < load(first) ? second : first;
};

/** A node not timed yet counts as fast (1 ms), so it gets calls and a latency. */
function load(state: NodeState): number {
  return (state.inflight + 1) * Math.max(state.latencyMs, 1);
}

/** The strategies `--selector` names. */
export const strategies: Readonly<Record<string, Strategy>> = {
  random,
  roundrobin: roundRobin,
  round_robin: roundRobin,
  leastinflight: leastInflight,
  least_inflight: leastInflight,
  p2c: leastInflight,
  // go-micro's `--selector=cache`: every selector here is cached, so it means the default.
  cache: leastInflight,
};
