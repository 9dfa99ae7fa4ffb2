/**
 * The etcd registry, after go-micro's: each node is one key,
 * `/micro/registry/<service>/<node-id>`, holding go-micro's JSON of the
 * service with that one node, on a lease with the registration's TTL. A
 * go-micro service or tool reading the same etcd sees tsmicro's nodes and
 * the other way round.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  isRecoverableError,
  type IKeyValue,
  type IOptions,
  type Lease,
} from "etcd3";
import { SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";
import { etcdDefaultPort, etcdTarget, type EtcdCredentials } from "./etcd-address.js";
import { PrefixWatch, type StreamReport } from "./etcd-prefix-watch.js";
import { registryNotStarted } from "./registry-not-started.js";
import { entriesOf, servicesOf, type RegistryEntry, type ServiceRecord } from "./registry-entries.js";
import type { Endpoint, Node, RegisterOptions, Registry, Service, WatchOptions } from "./registry.js";
import { createWatcherFeed, type WatcherFeed } from "./watcher-feed.js";

/** Options of the etcd registry. */
export interface EtcdRegistryOptions {
  /**
   * etcd client addresses, `host:port` or `http://host:port` (port 2379 when
   * omitted). Give every member of a cluster: calls fail over between them.
   * With authentication on, the user goes first: `http://app:PASSWORD@host:2379`.
   */
  readonly addresses: readonly string[];
  /** The user to authenticate as when the addresses name none (go-micro's ETCD_USERNAME and ETCD_PASSWORD). */
  readonly auth?: EtcdCredentials;
  /** How long `start()` waits for etcd to answer before failing. Default 5000 (go-micro's registry timeout). */
  readonly dialTimeoutMs?: number;
  /** Deadline of each later call to etcd, retries on other members included. Default 5000. */
  readonly requestTimeoutMs?: number;
  /**
   * Where the registry says that its watch on etcd broke (callers keep the
   * nodes they last saw) and that it is back; silent when omitted.
   */
  readonly logger?: Logger;
}

const prefix = "/micro/registry/";
const defaults = { dialTimeoutMs: 5_000, requestTimeoutMs: 5_000 } as const;
/** A node lost while its service still heartbeats is re-registered with this backoff, until its TTL says the service went quiet. */
const recoveryBackoff = { firstMs: 100, maxMs: 2_000 } as const;
/** A failed keep-alive is tried again after this backoff, until the request deadline. */
const renewBackoff = { firstMs: 25, maxMs: 250 } as const;
/** A member that failed this often in a row is skipped for a while, so calls go to the others at once. */
const hostBreaker = { failures: 3, openMs: 1_000 } as const;
/** etcd3 reconnects a broken watch stream after this backoff; its default grows to 30 s, too slow to notice a restart. */
const watchBackoff = { firstMs: 100, maxMs: 2_000 } as const;

/**
 * A registry on etcd. Each node gets its own lease with the registration's
 * TTL, renewed only by heartbeats (`register` again), as in go-micro: a
 * service that stops heartbeating drops out after its TTL. A heartbeat costs
 * one keep-alive when nothing changed; when the lease is gone (etcd lost it,
 * or it was revoked) the next heartbeat grants a new one and rewrites the
 * key, and a node deleted under a service that still heartbeats is
 * re-registered at once, without waiting for the next heartbeat.
 */
class EtcdRegistry implements Registry {
  readonly kind = "etcd";
  readonly #addresses: readonly string[];
  readonly #auth: EtcdCredentials | undefined;
  readonly #dialTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #where: string;
  #client: Etcd3 | undefined;
  #stopped = false;
  // The newest etcd revision any response showed: a watch starts right after
  // it, so whatever follows an earlier get or register reaches the watcher.
  #seenRevision = 0;
  // Watches this registry's own nodes, to notice one deleted under it.
  #guard: PrefixWatch | undefined;
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #queues = new Map<string, Promise<void>>();
  readonly #watches = new Map<WatcherFeed, PrefixWatch>();
  readonly #stream: StreamReport;

  constructor(options: EtcdRegistryOptions) {
    const target = etcdTarget(
      options.addresses.length > 0 ? options.addresses : [`127.0.0.1:${etcdDefaultPort}`],
      "--registry_address",
      options.auth,
    );
    // Only the endpoints, without a password, reach messages and logs.
    this.#addresses = target.endpoints;
    this.#auth = target.auth;
    this.#dialTimeoutMs = options.dialTimeoutMs ?? defaults.dialTimeoutMs;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? defaults.requestTimeoutMs;
    this.#where = this.#addresses.join(",");
    this.#stream = streamReport(options.logger, this.#where, () => this.#stopped);
  }

  #noteRevision(header: { revision: string } | undefined): number {
    const revision = Number(header?.revision ?? 0);
    if (revision > this.#seenRevision) this.#seenRevision = revision;
    return revision;
  }

  // etcd came back empty and is at `revision`: watches opened from now on start there, not after the
  // old cluster's revisions, and this registry's nodes, gone with the old data, are written again at
  // once rather than at their next heartbeat (callers reading the registry meanwhile would find none).
  // Every watch notices; a revision behind the registry's is news once. The guard, which watches this
  // registry's own nodes, says `always`: it notices once per loss, also when the new etcd's writers
  // had already taken it past the old revisions. The guard says so too when etcd compacted away changes
  // it had not delivered: one of them may have been the deletion of a node of this registry.
  #replaced(revision: number, always = false): void {
    if (revision >= this.#seenRevision && !always) return;
    this.#seenRevision = Math.min(this.#seenRevision, revision);
    for (const entry of this.#nodes.values()) {
      entry.written = undefined;
      entry.writtenRevision = 0;
      this.#scheduleRecovery(entry, 0);
    }
  }

  #unavailable(what: string, error: unknown): TsmicroError {
    return new TsmicroError(
      Code.UNAVAILABLE,
      `etcd registry at ${this.#where}: ${what} failed: ${etcdFailure(error, this.#requestTimeoutMs)}`,
      {
        cause: error,
      },
    );
  }

  #connected(): Etcd3 {
    if (this.#client && !this.#stopped) return this.#client;
    if (!this.#stopped) throw registryNotStarted("etcd");
    throw new TsmicroError(Code.FAILED_PRECONDITION, "the etcd registry is stopped");
  }

  /** Runs `work` after everything queued before for the same key, so a heartbeat, a recovery and a deregistration never interleave. */
  #serialize(key: string, work: () => Promise<void>): Promise<void> {
    const run = (this.#queues.get(key) ?? Promise.resolve()).then(work);
    const settled = run.catch(() => undefined);
    this.#queues.set(key, settled);
    void settled.then(() => {
      if (this.#queues.get(key) === settled) this.#queues.delete(key);
    });
    return run;
  }

  /**
   * One keep-alive, the heartbeat of an unchanged node as in go-micro. A
   * keep-alive is a stream, which etcd3 sends to a random member and does not
   * retry, so it is retried with a short backoff until the deadline: a
   * heartbeat should fail only when no member answers for that long, not
   * when it meets a stopped member or the few hundred milliseconds of an
   * election, where every member fails at once.
   */
  async #renew(lease: Lease): Promise<void> {
    const deadline = Date.now() + this.#requestTimeoutMs;
    let lastError: unknown = new EtcdNoAnswerError(this.#requestTimeoutMs);
    for (
      let waitMs: number = renewBackoff.firstMs;
      Date.now() < deadline;
      waitMs = Math.min(waitMs * 2, renewBackoff.maxMs)
    ) {
      try {
        this.#noteRevision((await lease.keepaliveOnce({ deadline })).header);
        return;
      } catch (error) {
        if (error instanceof EtcdLeaseInvalidError) throw error;
        lastError = error;
      }
      await sleep(Math.max(0, Math.min(waitMs, deadline - Date.now())));
    }
    // The last try timed out on what was left of the deadline, which may be a few milliseconds: the
    // heartbeat as a whole waited the request timeout, and that is the wait worth reporting.
    throw lastError instanceof GRPCDeadlineExceededError ? new EtcdNoAnswerError(this.#requestTimeoutMs) : lastError;
  }

  /** Makes etcd hold the entry's wanted record on a live lease, with as little work as the current state allows. */
  async #writeNode(entry: NodeEntry): Promise<void> {
    if (entry.removed) return;
    const etcd = this.#connected();
    const { wanted, lease, written } = entry;
    if (lease && written && written.ttlSeconds === wanted.ttlSeconds) {
      try {
        const askedAt = Date.now();
        await this.#renew(lease);
        entry.renewedAt = askedAt;
        // go-micro keeps a hash per node and skips rewriting an unchanged record.
        if (written.record !== wanted.record) {
          entry.writtenRevision = this.#noteRevision((await lease.put(entry.key).value(wanted.record).exec()).header);
          entry.written = wanted;
        }
        return;
      } catch (error) {
        // A lease etcd no longer knows is replaced below; anything else means etcd is out of reach.
        if (!(error instanceof EtcdLeaseInvalidError)) throw this.#unavailable(`registering ${entry.key}`, error);
      }
    }

    const askedAt = Date.now();
    const fresh = etcd.lease(wanted.ttlSeconds, { autoKeepAlive: false });
    try {
      await fresh.grant();
      entry.writtenRevision = this.#noteRevision((await fresh.put(entry.key).value(wanted.record).exec()).header);
    } catch (error) {
      fresh.revoke().catch(() => undefined);
      throw this.#unavailable(`registering ${entry.key}`, error);
    }
    entry.lease = fresh;
    entry.written = wanted;
    entry.renewedAt = askedAt;
    // The key now belongs to the new lease, so revoking the old one frees it without touching the key.
    if (lease) lease.revoke().catch(() => undefined);
  }

  /** What the guard does when one of this registry's keys is deleted by someone else or by etcd. */
  #nodeDeleted(key: string, revision: number): void {
    const entry = this.#nodes.get(key);
    if (!entry || entry.removed || this.#stopped || revision <= entry.writtenRevision) return;
    entry.written = undefined;
    // etcd cannot expire a lease before TTL has passed since the renewal was
    // asked for; a delete before then means the lease or key was taken away
    // (revoked, or etcd lost it) while the service is alive. A later one is an
    // expiry: of a service gone quiet, left to its next heartbeat, or of one
    // whose heartbeats kept coming and could not reach etcd (a partition, a
    // frozen etcd), which is alive too and written back as soon as etcd answers.
    const aliveAt = Math.max(entry.renewedAt, entry.heartbeatAt);
    if (Date.now() < aliveAt + entry.wanted.ttlSeconds * 1000) this.#scheduleRecovery(entry, 0);
  }

  #scheduleRecovery(entry: NodeEntry, delayMs: number): void {
    if (entry.recovery || entry.removed || this.#stopped) return;
    entry.recovery = setTimeout(() => {
      entry.recovery = undefined;
      // Once a TTL passes without a heartbeat the service is gone quiet: leave the node to its next heartbeat.
      const wanted = () =>
        !entry.removed &&
        !this.#stopped &&
        !entry.written &&
        Date.now() < entry.heartbeatAt + entry.wanted.ttlSeconds * 1000;
      this.#serialize(entry.key, () => (wanted() ? this.#writeNode(entry) : Promise.resolve())).then(
        () => {
          entry.failures = 0;
        },
        () => {
          entry.failures++;
          if (wanted())
            this.#scheduleRecovery(
              entry,
              Math.min(recoveryBackoff.firstMs * 2 ** entry.failures, recoveryBackoff.maxMs),
            );
        },
      );
    }, delayMs);
  }

  async #readPrefix(keyPrefix: string): Promise<Service[]> {
    const etcd = this.#connected();
    let kvs: IKeyValue[];
    try {
      const response = await etcd.getAll().prefix(keyPrefix).exec();
      this.#noteRevision(response.header);
      kvs = response.kvs;
    } catch (error) {
      throw this.#unavailable(`reading ${keyPrefix}`, error);
    }
    // servicesOf takes a version's record from its entry that expires last,
    // the newest registration; here the newest is the latest written.
    const entries: RegistryEntry[] = kvs.flatMap((kv) => {
      const service = decodeRecord(kv.value);
      if (!service) return [];
      const { nodes: recordNodes, ...record } = service;
      return recordNodes.map((node) => ({ service: record, node, expiresAt: Number(kv.mod_revision) }));
    });
    return servicesOf(entries);
  }

  async start() {
    if (this.#client) return;
    this.#stopped = false;
    const etcd = new Etcd3({
      hosts: [...this.#addresses],
      ...(this.#auth ? { auth: { ...this.#auth } } : {}),
      dialTimeout: this.#dialTimeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.#requestTimeoutMs }),
      faultHandling: {
        host: () => hostPolicy(hostBreaker.failures, hostBreaker.openMs),
        watchBackoff: exponentialBackoff(watchBackoff.firstMs, watchBackoff.maxMs),
      },
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const check = etcd
        .get(prefix)
        .options({ deadline: Date.now() + this.#dialTimeoutMs })
        .exec();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.#dialTimeoutMs} ms`)), this.#dialTimeoutMs);
      });
      this.#noteRevision((await Promise.race([check, timeout])).header);
    } catch (error) {
      etcd.close();
      throw (
        etcdAuthError(error, this.#where, this.#auth, prefix, registryCredentialsHint) ??
        new SetupError(
          "TSM_ERR_REGISTRY_UNREACHABLE",
          "etcd",
          this.#where,
          etcdFailure(error),
          "start etcd or pass --registry_address",
        )
      );
    } finally {
      clearTimeout(timer);
    }
    this.#client = etcd;
  }

  async stop() {
    if (this.#stopped || !this.#client) return;
    this.#stopped = true;
    // Nothing is revoked: nodes not deregistered expire after their TTL, as when the process dies.
    for (const entry of this.#nodes.values()) clearTimeout(entry.recovery);
    this.#nodes.clear();
    const closing = [...this.#watches.values(), ...(this.#guard ? [this.#guard] : [])].map((watch) => watch.close());
    for (const feed of [...this.#watches.keys()]) feed.watcher.stop();
    this.#guard = undefined;
    await Promise.all(closing);
    this.#client.close();
    this.#client = undefined;
  }

  async register(service: Service, options: RegisterOptions) {
    const etcd = this.#connected();
    // Refuses bad names, TTLs and node lists with INVALID_ARGUMENT, as every backend does.
    const registrations = entriesOf(service, options, Date.now());
    const ttlSeconds = Math.max(1, Math.ceil(options.ttlMs / 1000));
    this.#guard ??= new PrefixWatch(etcd, prefix, this.#seenRevision + 1, this.#stream, {
      put: () => undefined,
      delete: (kv) => this.#nodeDeleted(kv.key.toString("utf8"), Number(kv.mod_revision)),
      reset: (revision) => this.#replaced(revision, true),
    });
    const now = Date.now();
    const results = await Promise.allSettled(
      registrations.map(({ service: record, node }) => {
        const key = nodeKey(record.name, node.id);
        const wanted = { record: encodeRecord(record, node), ttlSeconds };
        const entry = this.#nodes.get(key) ?? {
          key,
          wanted,
          written: undefined,
          writtenRevision: 0,
          lease: undefined,
          heartbeatAt: now,
          renewedAt: 0,
          recovery: undefined,
          failures: 0,
          removed: false,
        };
        this.#nodes.set(key, entry);
        entry.wanted = wanted;
        entry.heartbeatAt = now;
        return this.#serialize(key, () => this.#writeNode(entry)).catch((error: unknown) => {
          // A node that never made it into etcd is forgotten; a known one waits for the next heartbeat.
          if (!entry.lease && this.#nodes.get(key) === entry) this.#nodes.delete(key);
          throw error;
        });
      }),
    );
    const failure = results.find((result) => result.status === "rejected");
    if (failure) throw failure.reason;
  }

  async deregister(service: Service) {
    const etcd = this.#connected();
    await Promise.all(
      service.nodes.map((node) => {
        const key = nodeKey(service.name, node.id);
        const entry = this.#nodes.get(key);
        if (entry) {
          entry.removed = true;
          clearTimeout(entry.recovery);
          this.#nodes.delete(key);
        }
        return this.#serialize(key, async () => {
          try {
            this.#noteRevision((await etcd.delete().key(key).exec()).header);
          } catch (error) {
            throw this.#unavailable(`deregistering ${key}`, error);
          }
          await entry?.lease?.revoke().catch(() => undefined);
        });
      }),
    );
  }

  getService(name: string) {
    return this.#readPrefix(`${prefix}${escapeSegment(name)}/`);
  }

  listServices() {
    return this.#readPrefix(prefix);
  }

  watch(options: WatchOptions = {}) {
    const etcd = this.#connected();
    const keyPrefix = options.service === undefined ? prefix : `${prefix}${escapeSegment(options.service)}/`;
    const feed = createWatcherFeed(() => {
      void this.#watches.get(feed)?.close();
      this.#watches.delete(feed);
    });
    const watch = new PrefixWatch(etcd, keyPrefix, this.#seenRevision + 1, this.#stream, {
      put: (kv) => {
        const service = decodeRecord(kv.value);
        // A key's first revision is its creation; later puts (a changed record, a new lease) are updates.
        if (service) feed.push({ action: kv.create_revision === kv.mod_revision ? "create" : "update", service });
      },
      delete: (kv, previous) => {
        // The previous value gives the full record; without it (compacted) the key still names service and node.
        const service = (previous && decodeRecord(previous.value)) ?? serviceFromKey(kv.key.toString("utf8"));
        if (service) feed.push({ action: "delete", service });
      },
      // etcd came back empty, or compacted changes the watch missed: no event says which nodes went, so the
      // watch ends and its reader reads again.
      reset: (revision) => {
        this.#replaced(revision);
        feed.watcher.stop();
      },
    });
    this.#watches.set(feed, watch);
    return feed.watcher;
  }
}

/** The etcd registry of `options` (see EtcdRegistry); start() connects. */
export function createEtcdRegistry(options: EtcdRegistryOptions): Registry {
  return new EtcdRegistry(options);
}

/** What the registry knows of one of its own nodes. */
interface NodeEntry {
  readonly key: string;
  /** The record and TTL the last register() asked for. */
  wanted: Written;
  /** What etcd holds under `lease`, compared with `wanted` where go-micro compares hashes; undefined when etcd holds nothing. */
  written: Written | undefined;
  /** The revision of the last write, so an older delete reaching the guard late is not taken for a new loss. */
  writtenRevision: number;
  lease: Lease | undefined;
  /** When the last register() of this node began. */
  heartbeatAt: number;
  /** When the lease was last granted or renewed, taken before asking: etcd keeps it at least TTL from then. */
  renewedAt: number;
  recovery: NodeJS.Timeout | undefined;
  failures: number;
  removed: boolean;
}

interface Written {
  readonly record: string;
  readonly ttlSeconds: number;
}

/**
 * Logs once that the watch stream to etcd broke and once that it is back:
 * etcd3 reconnects by itself and says nothing, and every watch of the
 * registry shares the one stream, so each reports the same break. A break
 * while the registry stops is no news.
 */
function streamReport(logger: Logger | undefined, where: string, stopping: () => boolean): StreamReport {
  let lost = false;
  return {
    lost(error) {
      if (lost || stopping()) return;
      lost = true;
      logger?.warn(
        // etcd3 passes on grpc-js's error: its code prefix (`14 UNAVAILABLE: `) says nothing more to a reader.
        { registry: "etcd", address: where, reason: etcdFailure(error).replace(/^\d+ [A-Z_]+: /, "") },
        `lost the etcd registry at ${where}: calls go to the nodes it last listed until it answers; reconnecting`,
      );
    },
    back() {
      if (!lost) return;
      lost = false;
      logger?.info({ registry: "etcd", address: where }, `the etcd registry at ${where} answers again`);
    },
  };
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
function encodeRecord(service: ServiceRecord, node: Node): string {
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
  const typeName = (value: unknown): string => {
    if (!isObject(value)) return "";
    if (typeof value.type === "string" && value.type) return value.type;
    return typeof value.name === "string" ? value.name : "";
  };
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

/** Tries of one request to etcd that went unanswered until its whole timeout. */
class EtcdNoAnswerError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

function messageOf(error: unknown): string {
  // grpc-js ends connection errors with an empty "Resolution note"; it only adds noise.
  return (error instanceof Error ? error.message : String(error)).replace(/\.?\s*Resolution note:\s*$/, "");
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
 * single etcd fails every heartbeat for 5 s after etcd is back.
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

/** Where a service's etcd user is given, for the end of an authentication error. */
const registryCredentialsHint = "--registry_address (user:password@host:2379) or ETCD_USERNAME and ETCD_PASSWORD";

/**
 * etcd's refusal of a client's user at start, as a SetupError (TSM_ERR_ETCD_AUTH)
 * naming the address, the user and what to do; undefined for any other failure.
 * `credentialsHint` says where the user is given (`--registry_address (user:password@…)`).
 */
export function etcdAuthError(
  error: unknown,
  where: string,
  auth: EtcdCredentials | undefined,
  keyPrefix: string,
  credentialsHint: string,
): SetupError | undefined {
  const user = auth ? `the user ${JSON.stringify(auth.username)}` : "";
  if (error instanceof EtcdAuthenticationFailedError)
    return new SetupError(
      "TSM_ERR_ETCD_AUTH",
      where,
      `refused ${user}: authentication failed (wrong user name or password)`,
      `correct the user and password in ${credentialsHint}`,
    );
  if (error instanceof EtcdPermissionDeniedError)
    return new SetupError(
      "TSM_ERR_ETCD_AUTH",
      where,
      `denied ${user || "this client"} access to ${keyPrefix} (permission denied)`,
      `grant the user a role with readwrite on the prefix ${keyPrefix} (etcdctl role grant-permission ROLE --prefix=true readwrite ${keyPrefix}), or name another user in ${credentialsHint}`,
    );
  if (!auth && error instanceof Error && error.message.includes("user name is empty"))
    return new SetupError(
      "TSM_ERR_ETCD_AUTH",
      where,
      "has authentication enabled and no user was given",
      `give one in ${credentialsHint}`,
    );
  if (auth && error instanceof Error && error.message.includes("authentication is not enabled"))
    return new SetupError(
      "TSM_ERR_ETCD_AUTH",
      where,
      `has authentication off, yet ${user} was given`,
      `leave the user out of ${credentialsHint}, or enable authentication on etcd`,
    );
  return undefined;
}

/**
 * A failed etcd request in one line. grpc-js words a refused connection as
 * `14 UNAVAILABLE: No connection established. Last error: Error: connect
 * ECONNREFUSED host:port: 14 UNAVAILABLE: …`, the socket error inside its
 * own text twice; this keeps the socket error and what it means. A host
 * name that does not resolve is said so in words, and a missed deadline by
 * `deadlineMs`, the one set, when given (grpc-js's time runs late on a busy
 * machine: 0.5 s set reads 0.6 s).
 */
export function etcdFailure(error: unknown, deadlineMs?: number): string {
  // etcd3 words these with grpc-js's code in front (`3 INVALID_ARGUMENT: etcdserver: …`).
  if (error instanceof EtcdAuthenticationFailedError) return "authentication failed (wrong user name or password)";
  if (error instanceof EtcdPermissionDeniedError) return "permission denied (the user has no role granting these keys)";
  if (error instanceof EtcdNoAnswerError) return noAnswer(error.timeoutMs / 1000);
  const text = messageOf(error);
  if (text.includes("user name is empty")) return "etcd asks for a user name and password (authentication is enabled)";
  const socket = /connect (E[A-Z]+) ([^\s:]+:\d+)/.exec(text);
  if (socket)
    return `connect ${socket[1]} ${socket[2]}${socket[1] === "ECONNREFUSED" ? ": nothing listens there (is etcd running?)" : ""}`;
  // grpc-js: `14 UNAVAILABLE: Name resolution failed for target dns:nohost.invalid:2379`.
  const unresolved = /Name resolution failed for target (?:dns:(?:\/\/[^/]*\/)?)?(\S+?):\d+(?=[\s)]|$)/.exec(text);
  if (unresolved) return `the name ${unresolved[1]!.replace(/^\[|\]$/g, "")} does not resolve`;
  // grpc-js: `4 DEADLINE_EXCEEDED: Deadline exceeded after 5.001s,name resolution: 0.000s,Waiting for LB pick (…)`.
  const deadline = /DEADLINE_EXCEEDED: Deadline exceeded after (\d+(?:\.\d+)?)s/.exec(text);
  if (deadline) return noAnswer(deadlineMs === undefined ? Number(deadline[1]) : deadlineMs / 1000);
  return text.replace(/\s*Resolution note:.*$/s, "");
}

function noAnswer(seconds: number): string {
  return `etcd did not answer within ${Math.round(seconds * 10) / 10} s; is it running and reachable?`;
}
