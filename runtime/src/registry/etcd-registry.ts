/**
 * The etcd registry, after go-micro's: each node is one key,
 * `/micro/registry/<service>/<node-id>`, holding go-micro's JSON of the
 * service with that one node, on a lease with the registration's TTL. A
 * go-micro service or tool reading the same etcd sees tsmicro's nodes and
 * the other way round.
 */
import {
  Etcd3,
  EtcdLeaseInvalidError,
  isRecoverableError,
  type IKeyValue,
  type IOptions,
  type Lease,
  type Watcher as EtcdWatcher,
} from "etcd3";
import { SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type {
  Endpoint,
  Node,
  RegisterOptions,
  Registry,
  RegistryEvent,
  Service,
  Watcher,
  WatchOptions,
} from "./registry.js";

/** Options of the etcd registry. */
export interface EtcdRegistryOptions {
  /**
   * etcd client addresses, `host:port` or `http://host:port` (port 2379 when
   * omitted). Give every member of a cluster: calls fail over between them.
   */
  readonly addresses: readonly string[];
  /** How long `start()` waits for etcd to answer before failing. Default 5000 (go-micro's registry timeout). */
  readonly dialTimeoutMs?: number;
  /** Deadline of each later call to etcd. Default 5000. */
  readonly requestTimeoutMs?: number;
}

const prefix = "/micro/registry/";
const defaultPort = 2379;
const defaults = { dialTimeoutMs: 5_000, requestTimeoutMs: 5_000 } as const;
/**
 * After a lost lease, re-registration is retried with this backoff until it
 * succeeds; never slower than half the TTL, so a lease etcd restores after a
 * restart (it keeps the node's key until it expires) is replaced in time.
 */
const recoveryBackoff = { firstMs: 250, maxMs: 5_000 } as const;
/** A member that failed this often in a row is skipped for a while, so calls go to the others at once. */
const hostBreaker = { failures: 3, openMs: 1_000 } as const;
/** etcd3 reconnects a broken watch stream after this backoff; its default grows to 30 s, too slow to notice a restart. */
const watchBackoff = { firstMs: 100, maxMs: 2_000 } as const;

/**
 * A registry on etcd. Each node gets its own lease with the registration's
 * TTL, kept alive while the process lives; a heartbeat (`register` again)
 * costs one keep-alive when nothing changed, and grants a new lease and
 * rewrites the key when the old lease was lost (etcd restarted or was out of
 * reach longer than the TTL).
 */
export function createEtcdRegistry(options: EtcdRegistryOptions): Registry {
  const addresses = (options.addresses.length > 0 ? options.addresses : [`127.0.0.1:${defaultPort}`]).map(withPort);
  const dialTimeoutMs = options.dialTimeoutMs ?? defaults.dialTimeoutMs;
  const requestTimeoutMs = options.requestTimeoutMs ?? defaults.requestTimeoutMs;
  const where = addresses.join(",");

  let client: Etcd3 | undefined;
  let stopped = false;
  // The newest etcd revision any response showed: a watch starts right after
  // it, so whatever follows an earlier get or register reaches the watcher.
  let seenRevision = 0;
  const nodes = new Map<string, NodeEntry>();
  const queues = new Map<string, Promise<void>>();
  const watchers = new Set<EtcdRegistryWatcher>();

  const noteRevision = (header: { revision: string } | undefined) => {
    const revision = Number(header?.revision ?? 0);
    if (revision > seenRevision) seenRevision = revision;
  };

  const unavailable = (what: string, error: unknown) =>
    new TsmicroError(Code.UNAVAILABLE, `etcd registry at ${where}: ${what} failed: ${messageOf(error)}`, {
      cause: error,
    });

  const connected = (): Etcd3 => {
    if (client && !stopped) return client;
    throw new TsmicroError(
      Code.FAILED_PRECONDITION,
      stopped ? "the etcd registry is stopped" : "the etcd registry is not started; call start() first",
    );
  };

  /** Runs `work` after everything queued before for the same key, so a heartbeat, a recovery and a deregistration never interleave. */
  const serialize = (key: string, work: () => Promise<void>): Promise<void> => {
    const run = (queues.get(key) ?? Promise.resolve()).then(work);
    const settled = run.catch(() => undefined);
    queues.set(key, settled);
    void settled.then(() => {
      if (queues.get(key) === settled) queues.delete(key);
    });
    return run;
  };

  const leaseLost = (entry: NodeEntry, lease: Lease) => {
    if (entry.lease !== lease || entry.removed || stopped) return;
    entry.lease = undefined;
    // Re-register now rather than at the next heartbeat: until then callers would not find the node.
    scheduleRecovery(entry, 0);
  };

  const scheduleRecovery = (entry: NodeEntry, delayMs: number) => {
    if (entry.recovery || entry.removed || stopped) return;
    entry.recovery = setTimeout(() => {
      entry.recovery = undefined;
      serialize(entry.key, () => (entry.lease || entry.removed || stopped ? Promise.resolve() : writeNode(entry))).then(
        () => {
          entry.failures = 0;
        },
        () => {
          entry.failures++;
          const maxMs = Math.min(recoveryBackoff.maxMs, (entry.wanted.ttlSeconds * 1000) / 2);
          scheduleRecovery(entry, Math.min(recoveryBackoff.firstMs * 2 ** entry.failures, maxMs));
        },
      );
    }, delayMs);
  };

  /** Makes etcd hold the entry's wanted record on a live lease, with as little work as the current state allows. */
  const writeNode = async (entry: NodeEntry): Promise<void> => {
    if (entry.removed) return;
    const etcd = connected();
    const lease = entry.lease;
    if (lease && !lease.revoked() && entry.written?.ttlSeconds === entry.wanted.ttlSeconds) {
      try {
        if (entry.written.record === entry.wanted.record) {
          // go-micro skips rewriting an unchanged record; the heartbeat only renews the lease.
          await renew(etcd, lease);
        } else {
          noteRevision((await lease.put(entry.key).value(entry.wanted.record).exec()).header);
          entry.written = entry.wanted;
        }
        return;
      } catch (error) {
        // A lease etcd no longer knows is re-granted below; anything else means etcd is out of reach.
        if (!(error instanceof EtcdLeaseInvalidError)) throw unavailable(`registering ${entry.key}`, error);
      }
    }

    const wanted = entry.wanted;
    const fresh = etcd.lease(wanted.ttlSeconds);
    fresh.on("lost", () => leaseLost(entry, fresh));
    try {
      await fresh.grant();
      noteRevision((await fresh.put(entry.key).value(wanted.record).exec()).header);
    } catch (error) {
      fresh.revoke().catch(() => undefined);
      throw unavailable(`registering ${entry.key}`, error);
    }
    const old = entry.lease ?? lease;
    entry.lease = fresh;
    entry.written = wanted;
    if (old && old !== fresh) {
      // The key now belongs to the new lease, so revoking the old one frees it without touching the key.
      old.revoke().catch(() => undefined);
    }
  };

  /**
   * The heartbeat of an unchanged node: one keep-alive, as go-micro sends.
   * A keep-alive is a stream, which etcd3 does not retry on another member,
   * so when it fails the lease is looked up with a call that is retried
   * across members: a heartbeat fails only when no member answers.
   */
  const renew = async (etcd: Etcd3, lease: Lease): Promise<void> => {
    try {
      noteRevision((await lease.keepaliveOnce({ deadline: Date.now() + requestTimeoutMs })).header);
      return;
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) throw error;
    }
    const id = await lease.grant();
    const response = await etcd.leaseClient.leaseTimeToLive({ ID: id });
    noteRevision(response.header);
    if (Number(response.TTL) > 0) return;
    lease.release();
    throw new EtcdLeaseInvalidError(id);
  };

  const registry: Registry = {
    kind: "etcd",

    async start() {
      if (client) return;
      stopped = false;
      const etcd = new Etcd3({
        hosts: [...addresses],
        dialTimeout: dialTimeoutMs,
        defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
        faultHandling: {
          host: () => hostPolicy(hostBreaker.failures, hostBreaker.openMs),
          watchBackoff: exponentialBackoff(watchBackoff.firstMs, watchBackoff.maxMs),
        },
      });
      let timer: NodeJS.Timeout | undefined;
      try {
        const check = etcd
          .get(prefix)
          .options({ deadline: Date.now() + dialTimeoutMs })
          .exec();
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${dialTimeoutMs} ms`)), dialTimeoutMs);
        });
        noteRevision((await Promise.race([check, timeout])).header);
      } catch (error) {
        etcd.close();
        throw new SetupError(
          "TSM_ERR_REGISTRY_UNREACHABLE",
          "etcd",
          where,
          messageOf(error),
          "start etcd or pass --registry_address",
        );
      } finally {
        clearTimeout(timer);
      }
      client = etcd;
    },

    async stop() {
      if (stopped || !client) return;
      stopped = true;
      for (const entry of nodes.values()) {
        clearTimeout(entry.recovery);
        // Stop renewing without revoking: nodes not deregistered expire after their TTL, as when the process dies.
        entry.lease?.release();
      }
      nodes.clear();
      await Promise.all([...watchers].map((watcher) => watcher.close()));
      client.close();
      client = undefined;
    },

    async register(service: Service, options: RegisterOptions) {
      connected();
      if (service.nodes.length === 0)
        throw new TsmicroError(Code.INVALID_ARGUMENT, `register ${service.name}: the service has no nodes to register`);
      const ttlSeconds = Math.max(1, Math.ceil(options.ttlMs / 1000));
      const results = await Promise.allSettled(
        service.nodes.map((node) => {
          const key = nodeKey(service.name, node.id);
          const wanted = { record: encodeRecord(service, node), ttlSeconds };
          let entry = nodes.get(key);
          if (!entry) {
            entry = {
              key,
              wanted,
              written: undefined,
              lease: undefined,
              recovery: undefined,
              failures: 0,
              removed: false,
            };
            nodes.set(key, entry);
          }
          entry.wanted = wanted;
          const current = entry;
          return serialize(key, () => writeNode(current)).catch((error: unknown) => {
            // A node that never made it into etcd is forgotten; a known one stays for its recovery.
            if (!current.written && nodes.get(key) === current) nodes.delete(key);
            throw error;
          });
        }),
      );
      const failure = results.find((result) => result.status === "rejected");
      if (failure) throw failure.reason;
    },

    async deregister(service: Service) {
      const etcd = connected();
      await Promise.all(
        service.nodes.map((node) => {
          const key = nodeKey(service.name, node.id);
          const entry = nodes.get(key);
          if (entry) {
            entry.removed = true;
            clearTimeout(entry.recovery);
            nodes.delete(key);
          }
          return serialize(key, async () => {
            try {
              noteRevision((await etcd.delete().key(key).exec()).header);
            } catch (error) {
              throw unavailable(`deregistering ${key}`, error);
            }
            await entry?.lease?.revoke().catch(() => undefined);
          });
        }),
      );
    },

    async getService(name: string) {
      const kvs = await readPrefix(`${prefix}${escapeSegment(name)}/`);
      const versions = new Map<string, MutableService>();
      for (const kv of kvs) {
        const record = decodeRecord(kv.value);
        if (!record) continue;
        const service = versions.get(record.version);
        if (service) service.nodes.push(...record.nodes);
        else versions.set(record.version, { ...record, nodes: [...record.nodes] });
      }
      return [...versions.values()];
    },

    async listServices() {
      const services = new Map<string, MutableService>();
      for (const kv of await readPrefix(prefix)) {
        const record = decodeRecord(kv.value);
        if (!record) continue;
        const id = `${record.name}\u0000${record.version}`;
        const service = services.get(id);
        if (service) service.nodes.push(...record.nodes);
        else services.set(id, { ...record, nodes: [...record.nodes] });
      }
      return [...services.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    watch(options: WatchOptions = {}) {
      const etcd = connected();
      const watchPrefix = options.service === undefined ? prefix : `${prefix}${escapeSegment(options.service)}/`;
      const watcher = new EtcdRegistryWatcher(etcd, watchPrefix, seenRevision + 1, () => watchers.delete(watcher));
      watchers.add(watcher);
      return watcher;
    },
  };

  const readPrefix = async (keyPrefix: string): Promise<IKeyValue[]> => {
    const etcd = connected();
    try {
      const response = await etcd.getAll().prefix(keyPrefix).exec();
      noteRevision(response.header);
      return response.kvs;
    } catch (error) {
      throw unavailable(`reading ${keyPrefix}`, error);
    }
  };

  return registry;
}

/** What the registry knows of one of its own nodes. */
interface NodeEntry {
  readonly key: string;
  /** The record and TTL the last register() asked for. */
  wanted: { readonly record: string; readonly ttlSeconds: number };
  /** What etcd holds under `lease`; compared with `wanted` instead of go-micro's hash, to the same effect. */
  written: { readonly record: string; readonly ttlSeconds: number } | undefined;
  /** Undefined once lost: the recovery or the next heartbeat grants a new one. */
  lease: Lease | undefined;
  recovery: NodeJS.Timeout | undefined;
  failures: number;
  removed: boolean;
}

type MutableService = Omit<Service, "nodes"> & { nodes: Node[] };

/**
 * One etcd watch on a key prefix, seen as registry events. etcd3 resumes the
 * watch after reconnecting, from the last revision it delivered, so no
 * change is lost while etcd restarts or the client moves to another member.
 */
class EtcdRegistryWatcher implements Watcher {
  private readonly events: RegistryEvent[] = [];
  private readonly waiting: Array<(result: IteratorResult<RegistryEvent>) => void> = [];
  private watch: EtcdWatcher | undefined;
  private closing: Promise<void> | undefined;
  private done = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly keyPrefix: string,
    startRevision: number,
    private readonly onClose: () => void,
  ) {
    this.open(startRevision);
  }

  private open(startRevision: number | undefined): void {
    let builder = this.etcd.watch().prefix(this.keyPrefix).withPreviousKV();
    if (startRevision !== undefined && startRevision > 1) builder = builder.startRevision(String(startRevision));
    builder
      .create()
      .then((watch) => {
        if (this.done) {
          void watch.cancel().catch(() => undefined);
          return;
        }
        this.watch = watch;
        watch.on("put", (kv) => this.put(kv));
        watch.on("delete", (kv, previous) => this.delete(kv, previous));
        watch.on("error", () => this.reopen(watch));
      })
      .catch(() => {
        // etcd refused the watch (its start revision was compacted away): watch again from now.
        if (!this.done) setTimeout(() => this.open(undefined), watchBackoff.maxMs);
      });
  }

  private reopen(watch: EtcdWatcher): void {
    if (this.watch !== watch) return;
    this.watch = undefined;
    void watch.cancel().catch(() => undefined);
    if (!this.done) this.open(undefined);
  }

  private put(kv: IKeyValue): void {
    const service = decodeRecord(kv.value);
    if (!service) return;
    this.push({ action: kv.create_revision === kv.mod_revision ? "create" : "update", service });
  }

  private delete(kv: IKeyValue, previous: IKeyValue | undefined): void {
    const service = (previous && decodeRecord(previous.value)) ?? serviceFromKey(kv.key.toString("utf8"));
    if (service) this.push({ action: "delete", service });
  }

  private push(event: RegistryEvent): void {
    if (this.done) return;
    const take = this.waiting.shift();
    if (take) take({ value: event, done: false });
    else this.events.push(event);
  }

  /** Stops the watch and ends iteration; resolves once etcd has dropped the watch (or after a second). */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.done = true;
    this.onClose();
    for (const take of this.waiting.splice(0)) take({ value: undefined, done: true });
    const watch = this.watch;
    this.watch = undefined;
    this.closing = watch
      ? withTimeout(
          watch.cancel().catch(() => undefined),
          1_000,
        )
      : Promise.resolve();
    return this.closing;
  }

  stop(): void {
    void this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<RegistryEvent> {
    return {
      next: () => {
        const event = this.events.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** go-micro's `registry.Value`: the endpoint's request or response type. */
interface GoMicroValue {
  name?: string;
  type?: string;
}

/** go-micro's `registry.Service` JSON, as it reads it: any field may be missing or null. */
interface GoMicroRecord {
  name?: unknown;
  version?: unknown;
  metadata?: unknown;
  endpoints?: unknown;
  nodes?: unknown;
}

/** go-micro's key for a node: slashes in the names become dashes so the key keeps its three levels. */
function nodeKey(service: string, nodeId: string): string {
  return `${prefix}${escapeSegment(service)}/${escapeSegment(nodeId)}`;
}

function escapeSegment(name: string): string {
  return name.replaceAll("/", "-");
}

/** The record go-micro writes for one node: the service with that node alone. */
function encodeRecord(service: Service, node: Node): string {
  const value = (type: string): GoMicroValue => ({ name: type, type });
  return JSON.stringify({
    name: service.name,
    version: service.version,
    metadata: service.metadata,
    endpoints: service.endpoints.map((endpoint) => ({
      name: endpoint.name,
      request: value(endpoint.request),
      response: value(endpoint.response),
      metadata: endpoint.metadata,
    })),
    nodes: [{ id: node.id, address: node.address, metadata: node.metadata }],
  });
}

/** Reads a record written by tsmicro or go-micro; undefined for anything else under the prefix. */
function decodeRecord(bytes: Buffer): Service | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  const record: GoMicroRecord = parsed;
  if (typeof record.name !== "string") return undefined;
  return {
    name: record.name,
    version: typeof record.version === "string" ? record.version : "",
    metadata: stringMap(record.metadata),
    endpoints: arrayOf(record.endpoints).filter(isObject).map(decodeEndpoint),
    nodes: arrayOf(record.nodes)
      .filter(isObject)
      .map((node) => ({
        id: typeof node.id === "string" ? node.id : "",
        address: typeof node.address === "string" ? node.address : "",
        metadata: stringMap(node.metadata),
      })),
  };
}

function decodeEndpoint(endpoint: Record<string, unknown>): Endpoint {
  // go-micro describes a type as a Value tree; its type name is what tsmicro keeps.
  const typeName = (value: unknown): string =>
    isObject(value) ? String((typeof value.type === "string" && value.type) || value.name || "") : "";
  return {
    name: typeof endpoint.name === "string" ? endpoint.name : "",
    request: typeName(endpoint.request),
    response: typeName(endpoint.response),
    metadata: stringMap(endpoint.metadata),
  };
}

/** A deleted key without its previous value still names the service and the node. */
function serviceFromKey(key: string): Service | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  return {
    name: rest.slice(0, slash),
    version: "",
    metadata: {},
    endpoints: [],
    nodes: [{ id: rest.slice(slash + 1), address: "", metadata: {} }],
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function stringMap(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
  );
}

/** go-micro's rule: an address without a port means etcd's default port. */
function withPort(address: string): string {
  const hostPart = address.replace(/^https?:\/\//, "");
  return /:\d+$/.test(hostPart) ? address : `${address}:${defaultPort}`;
}

function messageOf(error: unknown): string {
  // grpc-js ends connection errors with an empty "Resolution note"; it only adds noise.
  return (error instanceof Error ? error.message : String(error)).replace(/\.?\s*Resolution note:\s*$/, "");
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type FaultHandling = NonNullable<IOptions["faultHandling"]>;
type WatchBackoff = NonNullable<FaultHandling["watchBackoff"]>;
type HostPolicy = ReturnType<NonNullable<FaultHandling["host"]>>;

/** A doubling backoff in the shape etcd3's watch manager asks for (cockatiel's IBackoff). */
function exponentialBackoff(firstMs: number, maxMs: number): WatchBackoff {
  const at = (duration: number): WatchBackoff => ({ duration, next: () => at(Math.min(duration * 2, maxMs)) });
  return { duration: firstMs, next: () => at(firstMs) };
}

/**
 * etcd3's per-member circuit breaker (cockatiel's), with a short open time:
 * its default blocks a member for 5 s after three failures, which with a
 * single etcd delays every call that long after etcd is back, long enough
 * for a restored lease to expire before the node is re-registered.
 */
function hostPolicy(failuresToOpen: number, openMs: number): HostPolicy {
  let failures = 0;
  let openUntil = 0;
  let lastFailure = "";
  const noEvent = () => ({ dispose: () => undefined });
  return {
    _altReturn: undefined as never,
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute(fn, signal) {
      if (Date.now() < openUntil)
        throw new Error(`${lastFailure} (${failuresToOpen} failures in a row; not retried for ${openMs} ms)`);
      try {
        const result = await fn({ signal: signal ?? new AbortController().signal });
        failures = 0;
        return result;
      } catch (error) {
        if (error instanceof Error && isRecoverableError(error) && ++failures >= failuresToOpen) {
          failures = 0;
          openUntil = Date.now() + openMs;
          lastFailure = messageOf(error);
        }
        throw error;
      }
    },
  };
}
