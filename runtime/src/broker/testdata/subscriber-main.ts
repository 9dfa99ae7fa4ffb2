/**
 * A stand-in for a subscribing service process, for the broker tests:
 * subscribes to a topic (in a queue group when given), prints `subscribed`
 * once it has, then one `got <body> <header x-seq>` line per message (or
 * `hanging <body> <attempt>` for the body it is told to hang on), and
 * stops cleanly on SIGTERM. Usage:
 * `node --import tsx subscriber-main.ts <config-json>`, the JSON being a SubscriberConfig.
 */
import { createLocalRegistry } from "../../registry/local-registry.js";
import type { Registry } from "../../registry/registry.js";
import type { Broker } from "../broker.js";
import { createHttpBroker } from "../http-broker.js";
import { createNatsBroker } from "../nats-broker.js";
import type { SubscriberConfig } from "./subscriber-process.js";

const config = JSON.parse(process.argv[2] ?? "{}") as SubscriberConfig;
let registry: Registry | undefined;
let broker: Broker;
if (config.kind === "http") {
  registry = createLocalRegistry({ dir: config.registryDir });
  await registry.start();
  broker = createHttpBroker({ registry });
} else {
  broker = createNatsBroker({
    servers: [config.url],
    ...(config.jetstream ? { jetstream: config.jetstream } : {}),
  });
}
await broker.start();
await broker.subscribe(
  config.topic,
  async (message) => {
    const body = new TextDecoder().decode(message.body);
    if (body === config.hangOn) {
      process.stdout.write(`hanging ${body} ${message.attempt}\n`);
      await new Promise(() => {});
    }
    process.stdout.write(`got ${body} ${message.headers["x-seq"] ?? "-"}\n`);
  },
  config.queue ? { queue: config.queue } : {},
);
process.once("SIGTERM", () => {
  void broker
    .stop()
    .then(() => registry?.stop())
    .then(() => process.exit(0));
});
process.stdout.write("subscribed\n");
