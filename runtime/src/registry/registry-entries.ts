/**
 * What the registry backends share: the per-node entry they store, the
 * checks on names, grouping entries into go-micro's one-service-per-version
 * records, and diffing two snapshots into watch events. Not exported from the
 * package: backends' common ground, not API.
 */
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Node, RegisterOptions, RegistryEvent, Service } from "./registry.js";

/** A service's own fields, without its nodes: what each node of a registration carries. */
export type ServiceRecord = Omit<Service, "nodes">;

/** One registered node with the service record it was registered under: the unit every backend stores. */
export interface RegistryEntry {
  readonly service: ServiceRecord;
  readonly node: Node;
  /** When the registration lapses unless a heartbeat renews it, in ms since the epoch. */
  readonly expiresAt: number;
}

/** Entries by `entryKey`: what a watcher compares to see what changed. */
export type Snapshot = ReadonlyMap<string, RegistryEntry>;

/** Longest service name or node id, in UTF-8 bytes; both become file names (`<id>.json`, at most 255 bytes) and key segments. */
const maxNameBytes = 200;

/** Longest delay a Node timer takes; longer ones fire at once (with a warning), so long TTLs are checked in steps. */
/**
 * Why `name` cannot be a service name or node id, or undefined when it can.
 * Names become path segments (a folder and file of the local registry, an
 * etcd key), so nothing that could climb out of or hide in a folder passes.
 */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (Buffer.byteLength(name) > maxNameBytes) return `it is longer than ${maxNameBytes} bytes`;
  if (name.startsWith(".")) return "it starts with '.'";
  if (/[/\\]/.test(name)) return "it contains a path separator";
  // NUL above all: file APIs would cut the name short or refuse it.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this check rejects.
  if (/[\u0000-\u001f\u007f]/.test(name)) return "it contains a control character";
  return undefined;
}

/** The key of a node's entry; unique because names hold no `/`. */
export function entryKey(serviceName: string, nodeId: string): string {
  return `${serviceName}/${nodeId}`;
}

/**
 * The entries one registration stores, one per node, expiring `ttlMs` after
 * `now`. A malformed registration is the caller's bug, so it is refused with
 * INVALID_ARGUMENT before anything is stored.
 */
export function entriesOf(service: Service, options: RegisterOptions, now: number): RegistryEntry[] {
  const refuse = (why: string) =>
    new TsmicroError(Code.INVALID_ARGUMENT, `cannot register service ${JSON.stringify(service.name)}: ${why}`);
  const serviceProblem = nameProblem(service.name);
  if (serviceProblem) throw refuse(`the name is not usable: ${serviceProblem}`);
  if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) {
    throw refuse(`ttlMs must be a positive number of milliseconds, not ${options.ttlMs}`);
  }
  if (service.nodes.length === 0) throw refuse("it has no nodes; register one node per running instance");
  const record: ServiceRecord = {
    name: service.name,
    version: service.version,
    metadata: { ...service.metadata },
    endpoints: service.endpoints.map((endpoint) => ({ ...endpoint, metadata: { ...endpoint.metadata } })),
  };
  return service.nodes.map((node) => {
    const nodeProblem = nameProblem(node.id);
    if (nodeProblem) throw refuse(`node id ${JSON.stringify(node.id)} is not usable: ${nodeProblem}`);
    return {
      service: record,
      node: { id: node.id, address: node.address, metadata: { ...node.metadata } },
      expiresAt: now + options.ttlMs,
    };
  });
}

/** Whether two entries describe the same registration, ignoring expiry: a plain heartbeat is not a change. */
export function sameRegistration(a: RegistryEntry, b: RegistryEntry): boolean {
  return canonicalJson({ service: a.service, node: a.node }) === canonicalJson({ service: b.service, node: b.node });
}

/**
 * Groups live entries into go-micro's records: one Service per name and
 * version with its nodes merged. The version's metadata and endpoints come
 * from its most recently refreshed node (latest expiry), since that is the
 * newest registration. Sorted by name, version and node id, so every reader
 * sees the same order.
 */
export function servicesOf(entries: Iterable<RegistryEntry>): Service[] {
  const byVersion = new Map<string, { newest: RegistryEntry; nodes: Node[] }>();
  for (const entry of entries) {
    const key = JSON.stringify([entry.service.name, entry.service.version]);
    const group = byVersion.get(key);
    if (!group) {
      byVersion.set(key, { newest: entry, nodes: [entry.node] });
      continue;
    }
    group.nodes.push(entry.node);
    if (entry.expiresAt > group.newest.expiresAt) group.newest = entry;
  }
  return [...byVersion.values()]
    .map(({ newest, nodes }) => ({ ...newest.service, nodes: nodes.sort((a, b) => compare(a.id, b.id)) }))
    .sort((a, b) => compare(a.name, b.name) || compare(a.version, b.version));
}

/** The event about one node: its service record with just that node, as go-micro's watchers report. */
export function eventOf(action: RegistryEvent["action"], entry: RegistryEntry): RegistryEvent {
  return { action, service: { ...entry.service, nodes: [entry.node] } };
}

/** The events that turn snapshot `before` into `after`: one per node created, changed or gone. */
export function diffSnapshots(before: Snapshot, after: Snapshot): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  for (const [key, entry] of before) if (!after.has(key)) events.push(eventOf("delete", entry));
  for (const [key, entry] of after) {
    const previous = before.get(key);
    if (!previous) events.push(eventOf("create", entry));
    else if (!sameRegistration(previous, entry)) events.push(eventOf("update", entry));
  }
  return events;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with object keys sorted, so equal records compare equal whatever order their metadata was built in. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => compare(a, b)))
      : inner,
  );
}
