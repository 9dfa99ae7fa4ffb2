/**
 * The container's HEALTHCHECK: asks this instance's grpc.health.v1 service,
 * on the port TSMICRO_SERVER_ADDRESS (or MICRO_SERVER_ADDRESS) names, whether
 * it is SERVING; exits 0 if so, else 1 with a line `docker inspect` shows.
 */
import { checkHealth } from "@tsmicro/runtime";

const address = process.env.TSMICRO_SERVER_ADDRESS ?? process.env.MICRO_SERVER_ADDRESS ?? "127.0.0.1:9000";
const port = address.slice(address.lastIndexOf(":") + 1);
const serving = await checkHealth(`127.0.0.1:${port}`, { timeoutMs: 2_000 });
if (!serving) console.error(`auth is not SERVING on port ${port} (grpc.health.v1)`);
process.exitCode = serving ? 0 : 1;
