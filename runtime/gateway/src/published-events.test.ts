import { Code, type Logger, silentLogger, TsmicroError } from "@tsmicro/runtime";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { otherTopics, PublishedEvents } from "./published-events.js";

/** A logger keeping its warnings' messages. */
function warnings(): { logger: Logger; warned: string[] } {
  const warned: string[] = [];
  const logger: Logger = {
    ...silentLogger(),
    warn: (_fields: object | string, message?: string) => void warned.push(message ?? ""),
  };
  return { logger, warned };
}

/** The `tsmicro_events_published_total` samples of a scrape, as `topic outcome -> count`. */
async function published(registry: Registry): Promise<Record<string, number>> {
  const lines = (await registry.metrics()).split("\n").filter((l) => l.startsWith("tsmicro_events_published_total{"));
  return Object.fromEntries(
    lines.map((line) => {
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      return [`${labels.topic} ${labels.outcome}`, Number(line.slice(line.lastIndexOf(" ") + 1))];
    }),
  );
}

describe("the event gateway's publish counts", () => {
  it("count what the broker took and what failed, but not a topic no stream stores (a 404)", async () => {
    const registry = new Registry();
    const counts = new PublishedEvents(registry, silentLogger());
    await counts.count("order.placed", Promise.resolve());
    await counts.count("order.placed", Promise.resolve());
    const down = new TsmicroError(Code.UNAVAILABLE, "NATS is down");
    await expect(counts.count("order.placed", Promise.reject(down))).rejects.toBe(down);
    const unstored = new TsmicroError(Code.NOT_FOUND, "no JetStream stream stores topic");
    await expect(counts.count("order.typo", Promise.reject(unstored))).rejects.toBe(unstored);
    expect(await published(registry)).toEqual({ "order.placed ok": 2, "order.placed error": 1 });
  });

  it("name the first topics and count later new ones together, warning once", async () => {
    const registry = new Registry();
    const { logger, warned } = warnings();
    const counts = new PublishedEvents(registry, logger, 2);
    for (const topic of ["a", "b", "c", "d", "a", "c"]) await counts.count(topic, Promise.resolve());
    expect(await published(registry)).toEqual({ "a ok": 2, "b ok": 1, [`${otherTopics} ok`]: 3 });
    expect(warned).toEqual([expect.stringMatching(/more than 2 topics: .* topic="\(other topics\)"/)]);
  });
});
