/**
 * A stand-in for a subscribing service process, for http-broker.test.ts:
 * subscribes to a topic (in a queue group when given) through the local
 * registry folder it is given, prints `subscribed` once registered and one
 * `got <body> <header x-seq>` line per message, and stops cleanly on SIGTERM.
 * Usage: `node --import tsx http-subscriber.ts <registry-dir> <topic> [queue]`.
 */
import { createLocalRegistry } from "../../registry/local-registry.js";
import { createHttpBroker } from "../http-broker.js";

const [dir, topic, queue] = process.argv.slice(2);
if (!dir || !topic) throw new Error("usage: http-subscriber.ts <registry-dir> <topic> [queue]");

const registry = createLocalRegistry({ dir });
await registry.start();
const broker = createHttpBroker({ registry });
await broker.start();
await broker.subscribe(
  topic,
  (message) => {
    process.stdout.write(`got ${new TextDecoder().decode(message.body)} ${message.headers["x-seq"] ?? "-"}\n`);
  },
  queue ? { queue } : {},
);
process.once("SIGTERM", () => {
  void broker
    .stop()
    .then(() => registry.stop())
    .then(() => process.exit(0));
});
process.stdout.write("subscribed\n");
