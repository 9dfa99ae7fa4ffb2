/**
 * A stand-in for a service process, for local-registry.test.ts: registers
 * one `greeter` node in the folder it is given, heartbeats it, deregisters
 * on SIGTERM. Usage: `node --import tsx greeter-node.ts <dir> <node-id> [<ttl-ms>]` (default TTL 1.5 s).
 * Prints `registered <node-id>` once its node is visible.
 */
import { createLocalRegistry } from "../local-registry.js";
import type { Service } from "../registry.js";

const [dir, id, ttl = "1500"] = process.argv.slice(2);
if (!dir || !id) throw new Error("usage: greeter-node.ts <dir> <node-id> [<ttl-ms>]");
const ttlMs = Number(ttl);
const heartbeatMs = 500;

const registry = createLocalRegistry({ dir });
await registry.start();
const service: Service = {
  name: "greeter",
  version: "1.0.0",
  metadata: {},
  endpoints: [],
  nodes: [{ id, address: `127.0.0.1:${40_000 + (process.pid % 20_000)}`, metadata: { pid: String(process.pid) } }],
};
await registry.register(service, { ttlMs });
/** The heartbeat in flight: deregistering waits for it, or it could write the node back after. */
let beating: Promise<void> = Promise.resolve();
const heartbeat = setInterval(() => {
  beating = registry.register(service, { ttlMs }).catch((error: unknown) => console.error("heartbeat failed", error));
}, heartbeatMs);

process.once("SIGTERM", () => {
  clearInterval(heartbeat);
  void beating
    .then(() => registry.deregister(service))
    .then(() => registry.stop())
    .then(() => process.exit(0));
});
console.log(`registered ${id}`);
