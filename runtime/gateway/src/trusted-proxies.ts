import type { IncomingMessage } from "node:http";
import proxyAddr from "@fastify/proxy-addr";

/**
 * Which proxies in front of the gateway are believed about who the client is: none (`false`,
 * the default: the client is the socket's peer), every one (`true`: whoever connects may name
 * any address in `X-Forwarded-For`), or those at these addresses, CIDR ranges (`10.0.0.0/8`) and
 * proxy-addr's names for ranges (`loopback`, `linklocal`, `uniquelocal`).
 */
export type TrustProxy = boolean | readonly string[];

/** Whether the hop at `address`, `hop` steps from the gateway, is a proxy whose `X-Forwarded-For` is believed. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/** The trust function fastify's `trustProxy` takes for `trust`; undefined when no proxy is trusted. Throws on a bad address. */
export function proxyTrust(trust: TrustProxy): ProxyTrust | undefined {
  if (trust === true) return () => true;
  if (trust === false || trust.length === 0) return undefined;
  return proxyAddr.compile([...trust]);
}

/**
 * The client's address as fastify's `request.ip` gives it under `trustProxy: trust`: the socket's
 * peer, or, while the hop is trusted, the address before it in `X-Forwarded-For`. For requests
 * fastify never sees, a WebSocket upgrade's.
 */
export function clientAddressOf(request: IncomingMessage, trust: ProxyTrust | undefined): string {
  return trust ? proxyAddr(request, trust) : (request.socket.remoteAddress ?? "");
}
