import type { NodeState, Strategy } from "./selector.js";

/** Picks a node at random. */
export const random: Strategy = () => (nodes) => nodes[Math.floor(Math.random() * nodes.length)]!;

/** Takes nodes in turn, starting at a random one so many callers do not all hit the first node together. */
export const roundRobin: Strategy = () => {
  let position = Math.floor(Math.random() * 1024);
  return (nodes) => nodes[position++ % nodes.length]!;
};

/**
 * Power of two choices on calls in flight: of two random nodes, the one
 * with fewer calls running. Close to least-loaded without scanning every node,
 * and it steers away from a slow node.
 */
export const leastInflight: Strategy = () => (nodes) => {
  if (nodes.length === 1) return nodes[0]!;
  const a = Math.floor(Math.random() * nodes.length);
  let b = Math.floor(Math.random() * (nodes.length - 1));
  if (b >= a) b++;
  const first: NodeState = nodes[a]!;
  const second: NodeState = nodes[b]!;
  return second.inflight < first.inflight ? second : first;
};

/** The strategies `--selector` names. */
export const strategies: Readonly<Record<string, Strategy>> = {
  random,
  roundrobin: roundRobin,
  round_robin: roundRobin,
  leastinflight: leastInflight,
  least_inflight: leastInflight,
  p2c: leastInflight,
};
