import type { MsgHdrs } from "nats";
import { brokerHeaders } from "./broker.js";

/** The nats module, loaded only when a NATS broker starts. */
export type Nats = typeof import("nats");

/** Headers NATS or the brokers set for themselves: not part of a message's own headers. */
const ownHeader = /^(nats-|micro-id$|micro-topic$)/i;

/** A message's headers plus the broker's id header, as NATS headers. */
export function toNatsHeaders(nats: Nats, headers: Readonly<Record<string, string>>, id: string): MsgHdrs {
  const natsHeaders = nats.headers();
  for (const [name, value] of Object.entries(headers)) natsHeaders.set(name, value);
  natsHeaders.set(brokerHeaders.id, id);
  return natsHeaders;
}

/** The message's own headers (without NATS's and the broker's) and its id, or a fresh one when it has none. */
export function fromNatsHeaders(
  nats: Nats,
  natsHeaders: MsgHdrs | undefined,
): { headers: Record<string, string>; id: string } {
  const headers: Record<string, string> = {};
  if (!natsHeaders) return { headers, id: nats.nuid.next() };
  for (const name of natsHeaders.keys()) if (!ownHeader.test(name)) headers[name] = natsHeaders.get(name);
  return { headers, id: natsHeaders.get(brokerHeaders.id) || nats.nuid.next() };
}
