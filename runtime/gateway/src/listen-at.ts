import { ensureCanListen, listenError } from "@tsmicro/runtime/internal";
import type { FastifyInstance } from "fastify";

/** Host and port of a listen address: `:8080` is every interface. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "") || "0.0.0.0";
  return { host, port: Number(address.slice(colon + 1)) };
}

/**
 * Listens on `address`, the value of `flag`: a port in use or a host this machine does not have
 * is a SetupError naming the flag. Resolves with the host and the port bound (`:0` picks one).
 */
export async function listenAt(
  app: FastifyInstance,
  address: string,
  flag: string,
): Promise<{ host: string; port: number }> {
  await ensureCanListen(address, flag);
  const { host, port } = splitAddress(address);
  try {
    await app.listen({ host, port });
  } catch (error) {
    throw listenError(error, flag, address);
  }
  const bound = app.server.address();
  return { host, port: typeof bound === "object" && bound ? bound.port : port };
}

/** The host of a URL that reaches, from this machine, a server listening on `host` (every interface: loopback). */
export function urlHost(host: string): string {
  const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return reachable.includes(":") ? `[${reachable}]` : reachable;
}
