/**
 * Settings kept in etcd, as go-micro's config centre keeps them under
 * `/micro/config`: one key per leaf under a prefix, `/micro/config/user/database/url`
 * holding the JSON of `database.url` of service `user`. A value that is not
 * JSON (written by hand with etcdctl) is read as a string. This module loads
 * etcd3; the etcd source and the CLI import it only when they use etcd.
 */
import { Etcd3, type IKeyValue, type IOptions, type Watcher as EtcdWatcher } from "etcd3";
import { SetupError } from "../errors/setup-error.js";
import { etcdDefaultPort, etcdTarget, type EtcdCredentials } from "../registry/etcd-address.js";
import { etcdAuthError, etcdFailure } from "../registry/etcd-registry.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { ConfigTree, ConfigValue } from "./config.js";
import { leavesAt, leavesOf, parseLooseValue } from "./key-paths.js";

/** Options of openEtcdConfigStore. */
export interface EtcdConfigStoreOptions {
  /**
   * etcd client addresses, `host:port` or `http://host:port` (port 2379 when omitted); with
   * authentication on, the user goes first: `http://app:PASSWORD@host:2379`.
   */
  readonly addresses: readonly string[];
  /** The user to authenticate as when the addresses name none (go-micro's ETCD_USERNAME and ETCD_PASSWORD). */
  readonly auth?: EtcdCredentials;
  /** The key prefix of the settings, ending in `/`, such as `/micro/config/user/`. */
  readonly prefix: string;
  /** How long opening waits for etcd to answer. Default 5000. */
  readonly dialTimeoutMs?: number;
  /** Deadline of each later call. Default 5000. */
  readonly requestTimeoutMs?: number;
  /** The end of the message when etcd cannot be reached: what to do. */
  readonly unreachableHint?: string;
  /** What a malformed address is refused as coming from (TSM_ERR_FLAG), such as `--registry_address`. */
  readonly addressFlag?: string;
  /** Where the user is given, for the end of an authentication error: `--registry_address (user:password@host:2379)…`. */
  readonly credentialsHint?: string;
}

/** One setting in etcd. */
export interface ConfigEntry {
  /** The etcd key. */
  readonly key: string;
  /** The key below the prefix, split at `/`: the setting's path. */
  readonly segments: readonly string[];
  readonly value: ConfigValue;
}

/** A change under the prefix, as a watch reports it. */
export interface ConfigChange {
  readonly action: "put" | "delete";
  readonly key: string;
  readonly segments: readonly string[];
  /** The new value; undefined for a delete. */
  readonly value?: ConfigValue;
  readonly revision: number;
}

/** What a watch of the store reports. */
export interface StoreWatchEvents {
  /** Changes etcd made at one revision, in order: an import of many keys arrives as one batch. */
  changes(changes: readonly ConfigChange[]): void;
  /** The watch had to start over (etcd compacted the revisions it missed): every entry as it is now. */
  resync(entries: readonly ConfigEntry[]): void;
}

/** An open watch of the store. */
export interface StoreWatch {
  close(): Promise<void>;
}

const defaults = { dialTimeoutMs: 5_000, requestTimeoutMs: 5_000 } as const;
/** How many times a read older than what the watch delivered is made again before it is taken as it is. */
const maxStaleReads = 20;

/** etcd3 reconnects a broken watch after this backoff; its default grows to 30 s, too slow for settings after an etcd restart. */
const watchBackoff = { firstMs: 100, maxMs: 2_000 } as const;
/** etcd3 puts at most this many operations in one transaction by default (etcd's --max-txn-ops). */
const maxTxnOps = 128;

/** Connects to etcd and checks it answers; a SetupError (TSM_ERR_CONFIG_UNREACHABLE) when it does not. */
export async function openEtcdConfigStore(options: EtcdConfigStoreOptions): Promise<EtcdConfigStore> {
  const { endpoints: addresses, auth } = etcdTarget(
    options.addresses.length > 0 ? options.addresses : [`127.0.0.1:${etcdDefaultPort}`],
    options.addressFlag ?? "the etcd config source's address",
    options.auth,
  );
  const dialTimeoutMs = options.dialTimeoutMs ?? defaults.dialTimeoutMs;
  const requestTimeoutMs = options.requestTimeoutMs ?? defaults.requestTimeoutMs;
  const etcd = new Etcd3({
    hosts: addresses,
    ...(auth ? { auth: { ...auth } } : {}),
    dialTimeout: dialTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    faultHandling: { watchBackoff: exponentialBackoff(watchBackoff.firstMs, watchBackoff.maxMs) },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const check = etcd.get(options.prefix).exec();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${dialTimeoutMs} ms`)), dialTimeoutMs);
    });
    await Promise.race([check, timeout]);
  } catch (error) {
    etcd.close();
    throw (
      etcdAuthError(
        error,
        addresses.join(","),
        auth,
        options.prefix,
        options.credentialsHint ??
          "the config source's addresses (user:password@host:2379) or ETCD_USERNAME and ETCD_PASSWORD",
      ) ??
      new SetupError(
        "TSM_ERR_CONFIG_UNREACHABLE",
        "etcd",
        addresses.join(","),
        etcdFailure(error),
        options.unreachableHint ?? "start etcd, or correct its address",
      )
    );
  } finally {
    clearTimeout(timer);
  }
  return new EtcdConfigStore(etcd, normalizePrefix(options.prefix), addresses.join(","), requestTimeoutMs);
}

/** Settings under one etcd prefix: read, write, delete and watch them. Close it when done. */
export class EtcdConfigStore {
  readonly #etcd: Etcd3;
  readonly #watches = new Set<StoreWatch>();
  /** The key prefix, ending in `/`. */
  readonly prefix: string;
  /** The etcd addresses, for messages. */
  readonly where: string;
  /** Each request's deadline, which messages name when etcd misses it. */
  readonly #requestTimeoutMs: number;

  /** Use openEtcdConfigStore, which checks that etcd answers. */
  constructor(etcd: Etcd3, prefix: string, where: string, requestTimeoutMs: number) {
    this.#etcd = etcd;
    this.prefix = prefix;
    this.where = where;
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  /** The etcd key of a setting's path. */
  keyOf(segments: readonly string[]): string {
    for (const segment of segments)
      if (segment === "" || segment.includes("/"))
        throw new TsmicroError(
          Code.INVALID_ARGUMENT,
          `${JSON.stringify(segments.join("."))} is not a usable setting path: parts must be non-empty and hold no /`,
        );
    return this.prefix + segments.join("/");
  }

  /** Every entry at or under `segments` (everything by default), and the revision it was read at. */
  async read(segments: readonly string[] = []): Promise<{ entries: ConfigEntry[]; revision: number }> {
    const exact = segments.length > 0 ? this.keyOf(segments) : undefined;
    const [self, below] = await this.#call(`reading ${exact ?? this.prefix}`, () =>
      Promise.all([
        exact ? this.#etcd.get(exact).exec() : undefined,
        this.#etcd
          .getAll()
          .prefix(exact ? `${exact}/` : this.prefix)
          .exec(),
      ]),
    );
    const kvs = [...(self?.kvs ?? []), ...below.kvs];
    return { entries: kvs.flatMap((kv) => this.#entryOf(kv) ?? []), revision: Number(below.header.revision) };
  }

  /** Writes one setting; a tree value is written as one key per leaf under it. Returns the keys written. */
  async put(segments: readonly string[], value: ConfigValue): Promise<number> {
    // An empty object is a value of its own: it is written as {} rather than as no keys at all.
    const leaves = leavesAt(segments, value);
    const puts = leaves.map((leaf) => this.#etcd.put(this.keyOf(leaf.segments)).value(JSON.stringify(leaf.value)));
    await this.#transact(`writing ${this.keyOf(segments)}`, puts);
    return puts.length;
  }

  /**
   * Writes a whole tree, one key per leaf, in one etcd transaction (or one
   * per 128 keys), so a watcher sees the new settings together. With
   * `replace`, keys under the prefix that the tree does not hold are deleted.
   */
  async putTree(tree: ConfigTree, options: { replace?: boolean } = {}): Promise<{ written: number; deleted: number }> {
    const leaves = leavesOf(tree);
    const keys = new Set(leaves.map((leaf) => this.keyOf(leaf.segments)));
    const stale = options.replace ? (await this.read()).entries.filter((entry) => !keys.has(entry.key)) : [];
    const operations = [
      ...stale.map((entry) => this.#etcd.delete().key(entry.key)),
      ...leaves.map((leaf) => this.#etcd.put(this.keyOf(leaf.segments)).value(JSON.stringify(leaf.value))),
    ];
    await this.#transact(`writing under ${this.prefix}`, operations);
    return { written: leaves.length, deleted: stale.length };
  }

  /** Deletes the setting at `segments` and everything under it (everything under the prefix for none). Returns the keys deleted. */
  async delete(segments: readonly string[] = []): Promise<number> {
    const exact = segments.length > 0 ? this.keyOf(segments) : undefined;
    const [self, below] = await this.#call(`deleting ${exact ?? this.prefix}`, () =>
      Promise.all([
        exact ? this.#etcd.delete().key(exact).exec() : undefined,
        this.#etcd
          .delete()
          .prefix(exact ? `${exact}/` : this.prefix)
          .exec(),
      ]),
    );
    return Number(self?.deleted ?? 0) + Number(below.deleted);
  }

  /**
   * Watches the prefix from `afterRevision` on: nothing between a read and
   * its watch is lost. etcd3 reconnects a broken stream and resumes where it
   * stopped; when etcd cancels the watch (the revisions were compacted) it
   * is read again whole and reported as a resync. After each reconnection the
   * prefix is read again and reported as a resync too, and watched from
   * there: an etcd that came back empty (a new cluster, its data directory
   * lost) restarted its revisions, and the resumed watch would wait for one
   * it has not reached, missing every setting written again. A resync that
   * finds what was there changes nothing. The resumed watch may deliver a
   * change while that read is under way; a read older than what it delivered
   * is stale, and is made again rather than undo the change.
   */
  watch(afterRevision: number, events: StoreWatchEvents): StoreWatch {
    let current: EtcdWatcher | undefined;
    let closed = false;
    /** The newest revision the current watcher delivered since it (re)connected. */
    let delivered = 0;
    /**
     * Ends `watcher` and watches from `revision` on, first reporting `entries` (what etcd holds at
     * `revision`) when given; nothing when `watcher` was replaced or closed meanwhile.
     */
    const reopen = (watcher: EtcdWatcher, revision: number, entries?: ConfigEntry[]) => {
      if (closed || current !== watcher) return;
      void watcher.cancel().catch(() => undefined);
      if (entries) events.resync(entries);
      open(revision);
    };
    const startOver = (watcher: EtcdWatcher, retryFrom: number | undefined, stale = 0): Promise<unknown> =>
      this.read().then(
        ({ entries, revision: now }): unknown => {
          // Read again shortly, a few times at most: the read was made before a change the watch delivered.
          if (!closed && current === watcher && now < delivered && stale < maxStaleReads)
            return new Promise((wake) => setTimeout(wake, 100)).then(() => startOver(watcher, retryFrom, stale + 1));
          return reopen(watcher, now, entries);
        },
        () => retryFrom !== undefined && setTimeout(() => reopen(watcher, retryFrom), 1_000),
      );
    const open = (revision: number) => {
      const watcher = this.#etcd
        .watch()
        .prefix(this.prefix)
        .startRevision(String(revision + 1))
        .watcher();
      current = watcher;
      delivered = 0;
      let broken = false;
      watcher.on("data", (response) => {
        // A watcher being replaced may still deliver: what it has is in the resync already.
        if (closed || current !== watcher) return;
        const changes = response.events.flatMap((event) => this.#changeOf(event.type, event.kv) ?? []);
        for (const change of changes) delivered = Math.max(delivered, change.revision);
        if (changes.length > 0) events.changes(changes);
      });
      watcher.on("disconnected", () => {
        broken = true;
      });
      watcher.on("connected", () => {
        // Revisions delivered before a reconnection may be an old cluster's, far ahead of a new one's.
        delivered = 0;
        if (broken) void startOver(watcher, undefined);
        broken = false;
      });
      watcher.on("error", () => {
        if (closed || current !== watcher) return;
        // A watch etcd cancelled on a reconnection comes here without "connected": what it delivered may be an old cluster's.
        delivered = 0;
        void startOver(watcher, revision);
      });
    };
    open(afterRevision);
    const watch: StoreWatch = {
      close: async () => {
        if (closed) return;
        closed = true;
        this.#watches.delete(watch);
        await current?.cancel().catch(() => undefined);
      },
    };
    this.#watches.add(watch);
    return watch;
  }

  /** Closes the watches and the connection. */
  async close(): Promise<void> {
    await Promise.all([...this.#watches].map((watch) => watch.close()));
    this.#etcd.close();
  }

  #entryOf(kv: IKeyValue): ConfigEntry | undefined {
    const key = kv.key.toString("utf8");
    if (!key.startsWith(this.prefix)) return undefined;
    const segments = key.slice(this.prefix.length).split("/");
    if (segments.some((segment) => segment === "")) return undefined;
    return { key, segments, value: parseLooseValue(kv.value.toString("utf8")) };
  }

  #changeOf(type: string, kv: IKeyValue): ConfigChange | undefined {
    const entry = this.#entryOf(kv);
    if (!entry) return undefined;
    const revision = Number(kv.mod_revision);
    return type === "Delete"
      ? { action: "delete", key: entry.key, segments: entry.segments, revision }
      : { action: "put", key: entry.key, segments: entry.segments, value: entry.value, revision };
  }

  async #transact(what: string, operations: Parameters<ReturnType<Etcd3["if"]>["then"]>): Promise<void> {
    for (let i = 0; i < operations.length; i += maxTxnOps) {
      const batch = operations.slice(i, i + maxTxnOps);
      // An always-true comparison: etcd3 builds transactions from a condition.
      await this.#call(what, () =>
        this.#etcd
          .if(this.prefix, "Create", ">", -1)
          .then(...batch)
          .commit(),
      );
    }
  }

  async #call<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new TsmicroError(
        Code.UNAVAILABLE,
        `etcd at ${this.where}: ${what} failed: ${etcdFailure(error, this.#requestTimeoutMs)}`,
        {
          cause: error,
        },
      );
    }
  }
}

type WatchBackoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>;

/** Doubling delays from `firstMs` up to `maxMs`, as the etcd registry reconnects its watches. */
function exponentialBackoff(firstMs: number, maxMs: number): WatchBackoff {
  const at = (duration: number): WatchBackoff => ({ duration, next: () => at(Math.min(duration * 2, maxMs)) });
  return { duration: firstMs, next: () => at(firstMs) };
}

/** The prefix with exactly one `/` at the end. */
function normalizePrefix(prefix: string): string {
  return `${prefix.replace(/\/+$/, "")}/`;
}
