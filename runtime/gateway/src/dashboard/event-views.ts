import type { Service } from "@tsmicro/runtime";
import type { EventView } from "./dashboard-api.js";

/**
 * The events the versions of a service list among their registry endpoints (those whose metadata
 * names a `topic`), each once however many versions list it, subscriptions first.
 */
export function eventViews(versions: readonly Service[]): EventView[] {
  const views = new Map<string, EventView>();
  for (const version of versions)
    for (const { name, request, metadata } of version.endpoints) {
      const topic = metadata["topic"];
      if (topic === undefined) continue;
      const subscribes = metadata["subscriber"] === "true";
      const view: EventView = {
        event: name,
        topic,
        message: request,
        role: subscribes ? "subscribes" : "publishes",
        queue: (subscribes && metadata["queue"]) || null,
        broker: (subscribes && metadata["broker"]) || null,
      };
      views.set(JSON.stringify(view), view);
    }
  return [...views.values()].sort((a, b) => (a.role === b.role ? 0 : a.role === "subscribes" ? -1 : 1));
}
