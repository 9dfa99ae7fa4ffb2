/**
 * The container's HEALTHCHECK: GET /user/health on the port
 * TSMICRO_SERVER_ADDRESS (or MICRO_SERVER_ADDRESS) names; exits 0 on a 200,
 * else 1 with a line `docker inspect` shows.
 */
const address = process.env.TSMICRO_SERVER_ADDRESS ?? process.env.MICRO_SERVER_ADDRESS ?? "127.0.0.1:8080";
const port = address.slice(address.lastIndexOf(":") + 1);
const url = `http://127.0.0.1:${port}/user/health`;
const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
if (!response?.ok) console.error(`GET ${url}: ${response ? response.status : "no answer"}`);
process.exitCode = response?.ok ? 0 : 1;
