import { describe, expect, it } from "vitest";
import type { NodeState } from "./selector.js";
import { leastInflight } from "./strategies.js";

const state = (id: string, inflight: number, latencyMs: number): NodeState => ({
  node: { id, address: id, metadata: {} },
  inflight,
  latencyMs,
});

describe("leastInflight (p2c)", () => {
  it("prefers the faster of two nodes with as many calls in flight", () => {
    const pick = leastInflight();
    const nodes = [state("slow", 2, 40), state("fast", 2, 4)];
    const picked = Array.from({ length: 100 }, () => pick(nodes).node.id);
    expect(new Set(picked)).toEqual(new Set(["fast"]));
  });

  it("leaves a stuck node whose calls pile up, however fast it was", () => {
    const pick = leastInflight();
    const nodes = [state("stuck", 30, 2), state("a", 1, 5), state("b", 2, 5)];
    const picked = Array.from({ length: 300 }, () => pick(nodes).node.id);
    expect(picked).not.toContain("stuck");
  });

  it("gives a node not timed yet its share of calls", () => {
    const pick = leastInflight();
    const nodes = [state("new", 0, 0), state("old", 0, 3)];
    expect(pick(nodes).node.id).toBe("new");
  });
});
