import type { IncomingMessage } from "node:http";
import proxyAddr from "@fastify/proxy-addr";

/**
 * Which proxies in front of the gateway are believed about who the client is: none (`false`,
 * the default: the client is the socket's peer), every one (`true`: whoever connects may name
 * any address in `X-Forwarded-For`), the nearest `n` hops (a number: as many proxies as stand
 * in front, whatever their addresses), or those at these addresses, CIDR ranges (`10.0.0.0/8`)
 * and proxy-addr's names for ranges (`loopback`, `linklocal`, `uniquelocal`).
 */
export type TrustProxy = boolean | number | readonly string[];

/** Whether the hop at `address`, `hop` steps from the gateway, is a proxy whose `X-Forwarded-For` is believed. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/** The trust function fastify's `trustProxy` takes for `trust`; undefined when no proxy is trusted. Throws on a bad address. */
export function proxyTrust(trust: TrustProxy): ProxyTrust | undefined {
  if (trust === true) return () => true;
  if (typeof trust === "number") return trust > 0 ? (_address, hop) => hop < trust : undefined;
  if (trust === false || trust.length === 0) return undefined;
  return proxyAddr.compile([...trust]);
}

/** What `--trust_proxy` (and `trustProxy` in a `--config` file) takes, for error messages. */
export const trustProxySyntax =
  "off, on (every proxy), a number of proxies in front (1: the load balancer alone), or the proxies' " +
  "addresses and ranges, comma-separated (10.0.0.5,10.1.0.0/16; loopback, linklocal and uniquelocal name those ranges)";

/**
 * The proxies `value` names in `--trust_proxy`'s syntax: `off`, `on`, a hop count, or addresses
 * and ranges, comma-separated. Throws an Error saying what in it is wrong.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const v = value.trim().toLowerCase();
  if (v === "off" || v === "false" || v === "") return false;
  if (v === "on" || v === "true") return true;
  if (/^\d+$/.test(v)) return hopCount(Number(v));
  return proxyList(value.split(","));
}

/** A number of hops to trust, checked; 0 is none. */
export function hopCount(hops: number): TrustProxy {
  if (!Number.isSafeInteger(hops) || hops < 0) throw new Error(`${hops} is no number of proxies (0, 1, 2…)`);
  return hops === 0 ? false : hops;
}

/** Proxies' addresses and ranges, each checked as fastify will compile them. */
export function proxyList(entries: readonly string[]): string[] {
  const proxies = entries.map((p) => p.trim()).filter(Boolean);
  for (const proxy of proxies) {
    try {
      proxyTrust([proxy]);
    } catch {
      throw new Error(`${JSON.stringify(proxy)} is no IP address or CIDR range`);
    }
  }
  return proxies;
}

/**
 * The client's address as fastify's `request.ip` gives it under `trustProxy: trust`: the socket's
 * peer, or, while the hop is trusted, the address before it in `X-Forwarded-For`. For requests
 * fastify never sees, a WebSocket upgrade's.
 */
export function clientAddressOf(request: IncomingMessage, trust: ProxyTrust | undefined): string {
  return trust ? proxyAddr(request, trust) : (request.socket.remoteAddress ?? "");
}
