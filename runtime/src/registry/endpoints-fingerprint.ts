import { createHash } from "node:crypto";
import type { Endpoint } from "./registry.js";

/**
 * The endpoints a node registers, as one text: each method's name, types and descriptor
 * fingerprint (which changes with any edit of its proto, a route or a field), sorted. Equal
 * texts, equal builds of the protos; a gateway reloads a service whose text changed.
 */
export function endpointsSignature(endpoints: readonly Endpoint[]): string {
  return endpoints
    .map((e) => `${e.name}:${e.request}:${e.response}:${e.metadata.descriptor ?? ""}`)
    .sort()
    .join(",");
}

/**
 * A short fingerprint of endpointsSignature, which each node carries in its metadata
 * (`descriptors`): the registry keeps one list of endpoints per service version, that of the node
 * registered last, so while a new build and an old one both run (a rolling deploy), this tells
 * which nodes serve the endpoints listed.
 */
export function endpointsFingerprint(endpoints: readonly Endpoint[]): string {
  return createHash("sha256").update(endpointsSignature(endpoints)).digest("hex").slice(0, 16);
}
