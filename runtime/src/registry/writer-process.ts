/**
 * The process that wrote a local registry entry, recorded in the entry so a
 * reader on the same machine can drop the node of a process that was killed
 * (`kill -9`, a crash, the OOM killer) at once instead of after its TTL.
 * Only a reader that can be sure decides: the same boot of the same kernel,
 * the same pid namespace (a container has its own) and time namespace, on Linux. Any other
 * reader (another container or machine sharing the folder, another OS, an
 * entry of an older tsmicro without the record) leaves it to the TTL.
 */
import {
  type ProcessRecord,
  parseProcessRecord,
  runEnded,
  sameClockAndPids,
  thisProcessRecord,
} from "../platform/process-identity.js";

/** Who wrote an entry: one run of one process, as /proc names it (the record locks keep of their holder too). */
export type WriterProcess = ProcessRecord;

/** This process as an entry records it; undefined where readers could not check it (not Linux, /proc unreadable). */
export const thisWriterProcess: () => Promise<WriterProcess | undefined> = thisProcessRecord;

/** The writer record of an entry read from a file, or undefined when it has none or a damaged one (the TTL decides). */
export const parseWriterProcess: (value: unknown) => WriterProcess | undefined = parseProcessRecord;

/** A check of one writer, shared by the reads that want it while it is fresh. */
interface Check {
  readonly at: number;
  readonly gone: Promise<boolean>;
  usedAt: number;
}

/** Checks nobody asked for in this long are dropped, so the cache holds only writers still seen. */
const forgetAfterMs = 60_000;

/**
 * Whether writers of entries are gone, checked against /proc and cached per
 * writer: a lookup reuses a check younger than its `maxAgeMs`, so reads in a
 * loop do not read /proc for every node on every call, while a watch's
 * rescan asks afresh and so learns of a death within one poll.
 */
export class WriterChecks {
  readonly #checks = new Map<string, Check>();
  #own: Promise<WriterProcess | undefined> | undefined;
  #sweptAt = Date.now();

  /** This process's record: what it writes into its entries, and what tells which writers it can check. */
  own(): Promise<WriterProcess | undefined> {
    this.#own ??= thisWriterProcess();
    return this.#own;
  }

  /**
   * Whether `writer` has certainly exited, by a check at most `maxAgeMs` old; false when it
   * runs, and when this process cannot tell (no record, another boot or pid namespace).
   */
  async gone(writer: WriterProcess | undefined, maxAgeMs: number): Promise<boolean> {
    if (writer === undefined) return false;
    const own = await this.own();
    if (own === undefined || !sameClockAndPids(writer, own)) return false;
    const now = Date.now();
    this.#sweep(now);
    const key = `${writer.pid}/${writer.ticks}`;
    let check = this.#checks.get(key);
    if (check === undefined || now - check.at > maxAgeMs) {
      check = { at: now, gone: runEnded(writer), usedAt: now };
      this.#checks.set(key, check);
    }
    check.usedAt = now;
    return check.gone;
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < forgetAfterMs) return;
    this.#sweptAt = now;
    for (const [key, check] of this.#checks) if (now - check.usedAt > forgetAfterMs) this.#checks.delete(key);
  }
}
