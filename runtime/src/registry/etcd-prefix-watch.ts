import { type Etcd3, GRPCOutOfRangeError, type IKeyValue, type Watcher as EtcdWatcher } from "etcd3";

/** Hears of the registry's watch stream breaking and coming back. */
export interface StreamReport {
  lost(error: unknown): void;
  back(): void;
}

/** What a prefix watch tells its owner. */
export interface PrefixEvents {
  put(kv: IKeyValue): void;
  delete(kv: IKeyValue, previous: IKeyValue | undefined): void;
  /** What the owner was told is stale as of `revision` (see PrefixWatch): it reads again. */
  reset?(revision: number): void;
}

/**
 * Watches a key prefix from `startRevision`. etcd3 reconnects a broken
 * stream by itself and resumes after the last revision it delivered, so no
 * change is lost while etcd restarts or the client moves to another member;
 * `stream` hears of the break and of the reconnection.
 *
 * An etcd that came back empty (a new cluster, its data directory lost)
 * restarts its revisions: the resumed watch would wait for revisions it has
 * not reached, or, once its writers have caught up, get events of another
 * history. So the watch reads the prefix itself when it opens, and keeps
 * what the prefix holds as of the newest revision it knows (`seen`); after
 * each reconnection it reads the prefix as of that revision again. An etcd
 * that has not reached it, or holds other keys there, is not the one the
 * watch followed: the watch opens again from the present and calls
 * `on.reset` with the cluster's revision, since what its reader knows is
 * stale. The watch's own read, not the caller's, is what it compares
 * against, so a watch opened before any read (whose events from the past
 * may not have arrived when etcd went away) notices it as well.
 *
 * When etcd cancels the watch (the revision it was to resume from was
 * compacted away, after a long break or for a watch begun in the past), the
 * changes it had not delivered are lost, deletes among them. It reads the
 * prefix and opens again after that read; when the read holds just what its
 * reader was told (the watch's own read and the events it delivered),
 * nothing missed mattered, else it calls `on.reset`, as for an etcd that
 * came back empty. A reconnection that finds the history compacted makes
 * the same check at once.
 */
export class PrefixWatch {
  readonly #etcd: Etcd3;
  readonly #keyPrefix: string;
  readonly #stream: StreamReport;
  readonly #on: PrefixEvents;
  #current: EtcdWatcher | undefined;
  #closing: Promise<void> | undefined;
  /** The newest revision the watch knows the prefix at. */
  #seen: number;
  /** Every change up to this revision has reached the reader (events arrive in order). */
  #delivered: number;
  readonly #state = new PrefixState();
  /**
   * Watches etcd itself canceled: cancelling one again gets a second answer etcd3 finds no watcher
   * for, and it throws ('Failed to find watcher for IWatchResponse') out of the stream every watch shares.
   */
  readonly #endedByEtcd = new WeakSet<EtcdWatcher>();
  /**
   * A revision, after etcd compacted the history a reconnected watch resumed from, at which the
   * prefix held just what the reader was told: when etcd then cancels that watch, it opens after it.
   */
  #verified: { readonly watch: EtcdWatcher; readonly revision: number } | undefined;

  constructor(etcd: Etcd3, keyPrefix: string, startRevision: number, stream: StreamReport, on: PrefixEvents) {
    this.#etcd = etcd;
    this.#keyPrefix = keyPrefix;
    this.#stream = stream;
    this.#on = on;
    this.#seen = startRevision - 1;
    this.#delivered = startRevision - 1;
    this.#open(startRevision);
  }

  /** Cancels the watch; waits a second at most for etcd to confirm. */
  close(): Promise<void> {
    if (!this.#closing) {
      const watch = this.#current;
      this.#current = undefined;
      this.#closing = watch ? withTimeout(this.#cancel(watch), 1_000) : Promise.resolve();
    }
    return this.#closing;
  }

  #open(revision: number | undefined): void {
    let builder = this.#etcd.watch().prefix(this.#keyPrefix).withPreviousKV();
    if (revision !== undefined && revision > 1) builder = builder.startRevision(String(revision));
    // watcher() rather than create(): handlers are in place before the first event or error can arrive.
    const watch = builder.watcher();
    this.#current = watch;
    let broken = false;
    // The revision etcd3 resumes the watch from after a break (0: the present); its created answer moves it on.
    let resumedFrom = 0;
    // A watch replaced (or closed) may still get events before etcd confirms its cancel: its successor
    // delivers them, in order, or the reader reads again.
    watch.on("put", (kv) => {
      if (this.#current !== watch) return;
      this.#delivering(this.#state.put(kv));
      this.#on.put(kv);
    });
    watch.on("delete", (kv, previous) => {
      if (this.#current !== watch) return;
      this.#delivering(this.#state.delete(kv));
      this.#on.delete(kv, previous);
    });
    watch.on("disconnected", (error) => {
      broken = true;
      resumedFrom = Number(watch.lastRevision() ?? 0);
      this.#stream.lost(error);
    });
    watch.on("connected", () => {
      this.#stream.back();
      if (broken) void this.#checkReconnected(watch, resumedFrom);
      broken = false;
    });
    watch.on("error", () => {
      this.#endedByEtcd.add(watch);
      if (this.#current === watch) void this.#resume(watch);
    });
    void this.#readPrefix(watch);
  }

  #delivering(revision: number): void {
    this.#seen = Math.max(this.#seen, revision);
    this.#delivered = Math.max(this.#delivered, revision);
  }

  #cancel(watch: EtcdWatcher): Promise<void> {
    return this.#endedByEtcd.has(watch) ? Promise.resolve() : watch.cancel().catch(() => undefined);
  }

  /** The watch's own read of the prefix, the base its events are applied on. */
  async #readPrefix(watch: EtcdWatcher): Promise<void> {
    this.#state.reading();
    const response = await this.#etcd
      .getAll()
      .prefix(this.#keyPrefix)
      .exec()
      .catch(() => undefined);
    if (this.#current !== watch) return;
    this.#state.read(response);
    if (response) this.#seen = Math.max(this.#seen, Number(response.header.revision));
  }

  /** After a reconnection: whether etcd is the one the watch followed, and whether the resumed watch skips changes. */
  async #checkReconnected(watch: EtcdWatcher, resumedFrom: number): Promise<void> {
    if (await this.#checkReplaced(watch, resumedFrom)) return;
    if (this.#current === watch) await this.#checkSkipped(watch, resumedFrom);
  }

  /**
   * etcd3 resumes a watch after the revision of the last answer it got, which is etcd's revision
   * when it answered, not that of the last event it delivered: etcd sends a watch begun in the past
   * its past in batches (1,000 revisions each, 100 ms apart), after its created answer, so a break
   * between two would skip the rest. When the resumed watch begins past what the reader was told
   * and the prefix changed in between, or that cannot be told, the watch opens again after what it
   * delivered (etcd ends that one, and the watch reads again, if the revision has been compacted).
   */
  async #checkSkipped(watch: EtcdWatcher, resumedFrom: number): Promise<void> {
    const told = this.#delivered;
    if (!(resumedFrom - 1 > told)) return;
    if (await sameBetween(this.#etcd, this.#keyPrefix, told, resumedFrom - 1)) {
      this.#delivered = Math.max(this.#delivered, resumedFrom - 1);
      return;
    }
    // etcd ends a watch resumed from a compacted revision itself (see #endedByEtcd), and #resume goes on.
    if ((await isCompacted(this.#etcd, this.#keyPrefix, resumedFrom)) || this.#current !== watch) return;
    // Events the resumed watch delivered meanwhile come again from the new one, in order.
    void this.#cancel(watch);
    this.#delivered = told;
    this.#open(told + 1);
  }

  /**
   * After a reconnection: whether etcd still holds, as of `seen`, what the watch knows; on.reset when
   * it does not. True when it found another etcd or a compacted history: the watch is opened again,
   * or etcd ends it.
   */
  async #checkReplaced(watch: EtcdWatcher, resumedFrom: number): Promise<boolean> {
    const at = this.#seen;
    const known = this.#state.snapshot();
    let now: number | undefined;
    if (known && at > 0) {
      try {
        const then = await this.#etcd.getAll().prefix(this.#keyPrefix).revision(at).exec();
        if (!known.matches(then.kvs)) now = Number(then.header.revision);
      } catch (error) {
        // No answer: nothing to tell here, and #checkSkipped reopens the watch when it cannot tell either.
        if (!(error instanceof GRPCOutOfRangeError)) return false;
        if (error.message.includes("compacted")) {
          // The same etcd, its history compacted: the present says whether the reader missed a change.
          // When it did not, the watch goes on; etcd cancels it if it resumed from a compacted revision.
          const present = await this.#readPresent();
          if (!present || this.#current !== watch) return true;
          if (present.same) {
            this.#delivered = Math.max(this.#delivered, present.revision);
            this.#verified = { watch, revision: present.revision };
            return true;
          }
          // etcd cancels a watch that resumed from a compacted revision, and #resume goes on from there:
          // cancelling it too would get etcd3 two answers for one watch (see #endedByEtcd).
          if (await isCompacted(this.#etcd, this.#keyPrefix, resumedFrom)) return true;
          now = present.revision;
        } else {
          // A revision etcd has not reached: another etcd.
          now = await currentRevision(this.#etcd, this.#keyPrefix);
          if (now === undefined) return false;
        }
      }
    } else {
      // The watch could not read the prefix when it opened: an etcd behind it is all it can tell.
      const revision = await currentRevision(this.#etcd, this.#keyPrefix);
      if (revision !== undefined && revision < at) now = revision;
    }
    if (now === undefined || this.#current !== watch) return false;
    void this.#cancel(watch);
    this.#seen = now;
    this.#delivered = now;
    this.#open(now + 1);
    this.#on.reset?.(now);
    return true;
  }

  /**
   * The prefix now, and whether it holds just what the reader was told: what the watch knows as of
   * the last event it delivered (unknown, so not the same, when its read is newer than that event).
   */
  async #readPresent(): Promise<{ revision: number; same: boolean } | undefined> {
    const told = this.#state.snapshot(this.#delivered);
    const response = await this.#etcd
      .getAll()
      .prefix(this.#keyPrefix)
      .exec()
      .catch(() => undefined);
    return response && { revision: Number(response.header.revision), same: told?.matches(response.kvs) ?? false };
  }

  /** etcd canceled the watch: open it again after a read, and on.reset unless the read holds what the reader was told. */
  async #resume(watch: EtcdWatcher): Promise<void> {
    if (this.#verified?.watch === watch) {
      this.#open(this.#verified.revision + 1);
      return;
    }
    const present = await this.#readPresent();
    if (this.#current !== watch) return;
    if (present) this.#seen = this.#delivered = Math.max(this.#seen, present.revision);
    this.#open(present ? present.revision + 1 : undefined);
    if (!present?.same) this.#on.reset?.(present?.revision ?? this.#seen);
  }
}

/** Whether etcd has compacted away `revision`; false too when it does not answer. */
async function isCompacted(etcd: Etcd3, keyPrefix: string, revision: number): Promise<boolean> {
  if (!(revision > 0)) return false;
  try {
    await etcd.get(keyPrefix).revision(revision).exec();
    return false;
  } catch (error) {
    return error instanceof GRPCOutOfRangeError && error.message.includes("compacted");
  }
}

/**
 * Whether the prefix held the same keys, each last changed at the same revision, at revisions `from`
 * and `to`: no change in between. False when that cannot be told (a revision compacted, no answer).
 */
async function sameBetween(etcd: Etcd3, keyPrefix: string, from: number, to: number): Promise<boolean> {
  if (!(from > 0)) return false;
  const at = (revision: number) => etcd.getAll().prefix(keyPrefix).revision(revision).exec();
  try {
    const [before, after] = await Promise.all([at(from), at(to)]);
    const modified = new Map(before.kvs.map((kv) => [kv.key.toString("utf8"), kv.mod_revision]));
    return (
      after.kvs.length === modified.size &&
      after.kvs.every((kv) => modified.get(kv.key.toString("utf8")) === kv.mod_revision)
    );
  } catch {
    return false;
  }
}

/** The cluster's revision now, or undefined when etcd does not answer. */
function currentRevision(etcd: Etcd3, keyPrefix: string): Promise<number | undefined> {
  return etcd
    .get(keyPrefix)
    .exec()
    .then((response) => Number(response.header.revision))
    .catch(() => undefined);
}

/**
 * What a watch knows its prefix holds: each key's last modification, from
 * the watch's own read and the events after that read's revision (events
 * before it, the past a watch may begin in, are in the read already). Events
 * that arrive while the read is under way wait for it.
 */
class PrefixState {
  #keys: Map<string, number> | undefined;
  #readAt = 0;
  #early: { key: string; revision: number; deleted: boolean }[] | undefined;

  /** A read of the prefix has begun: what the watch knew before it no longer counts. */
  reading(): void {
    this.#keys = undefined;
    this.#early = [];
  }

  /** The read's answer, or undefined when it failed (the watch then knows nothing to compare). */
  read(response: { header: { revision: string }; kvs: IKeyValue[] } | undefined): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    if (!response) return;
    this.#readAt = Number(response.header.revision);
    this.#keys = new Map(response.kvs.map((kv) => [kv.key.toString("utf8"), Number(kv.mod_revision)]));
    for (const change of early) this.#apply(change.key, change.revision, change.deleted);
  }

  /** Records a put event; returns its revision. */
  put(kv: IKeyValue): number {
    return this.#note(kv, false);
  }

  /** Records a delete event (its kv's mod_revision is the deletion's); returns its revision. */
  delete(kv: IKeyValue): number {
    return this.#note(kv, true);
  }

  /**
   * What the watch knows now, unchanged by later events; undefined when it has no read to build on,
   * or its read is newer than `upTo` (it holds changes a reader told of events up to `upTo` was not).
   */
  snapshot(upTo = Number.POSITIVE_INFINITY): { matches(kvs: readonly IKeyValue[]): boolean } | undefined {
    if (!this.#keys || this.#readAt > upTo) return undefined;
    const keys = new Map(this.#keys);
    return {
      matches: (kvs) =>
        kvs.length === keys.size && kvs.every((kv) => keys.get(kv.key.toString("utf8")) === Number(kv.mod_revision)),
    };
  }

  #note(kv: IKeyValue, deleted: boolean): number {
    const key = kv.key.toString("utf8");
    const revision = Number(kv.mod_revision);
    if (this.#early) this.#early.push({ key, revision, deleted });
    else this.#apply(key, revision, deleted);
    return revision;
  }

  #apply(key: string, revision: number, deleted: boolean): void {
    if (!this.#keys || revision <= this.#readAt) return;
    if (deleted) this.#keys.delete(key);
    else this.#keys.set(key, revision);
  }
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
