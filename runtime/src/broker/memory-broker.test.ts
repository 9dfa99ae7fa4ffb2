import { describe, expect, it } from "vitest";
import { createMemoryBroker } from "./memory-broker.js";
import { describeBrokerConformance } from "./testdata/broker-conformance.js";

describeBrokerConformance("memory", async (logger) => {
  const broker = createMemoryBroker({ logger });
  await broker.start();
  return { publisher: broker, subscribers: [broker, broker], cleanup: async () => {} };
});

describe("memory broker", () => {
  it("gives each handler its own copy of the body", async () => {
    const broker = createMemoryBroker();
    await broker.start();
    const seen: number[] = [];
    await broker.subscribe("t", (m) => {
      seen.push(m.body[0]!);
      m.body[0] = 99;
    });
    await broker.subscribe("t", (m) => void seen.push(m.body[0]!));
    const body = new Uint8Array([1]);
    await broker.publish("t", body);
    await broker.stop();
    expect(seen).toEqual([1, 1]);
    expect(body[0]).toBe(1);
  });
});
