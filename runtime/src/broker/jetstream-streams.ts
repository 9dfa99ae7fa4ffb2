import type { JetStreamManager, StreamConfig } from "nats";
import type { Nats } from "./nats-headers.js";

/**
 * Makes sure a JetStream stream stores each subject the broker publishes or
 * subscribes to: a stream that already covers it is used as it is; otherwise
 * the subject is added to the broker's own stream, created when missing.
 * Answers are cached per subject, so this costs a request only the first time.
 */
export class StreamSubjects {
  readonly #covered = new Map<string, Promise<string>>();

  constructor(
    private readonly nats: Nats,
    private readonly jsm: JetStreamManager,
    private readonly streamName: string,
    private readonly maxAgeMs: number,
  ) {}

  /** The name of the stream that stores `subject`, adding it to the broker's stream when no stream does. */
  ensure(subject: string): Promise<string> {
    let stream = this.#covered.get(subject);
    if (!stream) {
      stream = this.#ensure(subject);
      this.#covered.set(subject, stream);
      // Not cached when it failed: the next publish or subscribe tries again.
      stream.catch(() => this.#covered.delete(subject));
    }
    return stream;
  }

  /** Forgets what stores `subject`, so the next ensure() asks again (the stream may be gone: a server on an empty store). */
  forget(subject: string): void {
    this.#covered.delete(subject);
  }

  async #ensure(subject: string): Promise<string> {
    // Other processes add subjects to the same stream; an update may race one, so check and try again.
    for (let attempt = 0; ; attempt++) {
      const existing = await this.#find(subject);
      if (existing) return existing;
      try {
        await this.#addSubject(subject);
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  }

  async #find(subject: string): Promise<string | undefined> {
    try {
      return await this.jsm.streams.find(subject);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #addSubject(subject: string): Promise<void> {
    let config: StreamConfig;
    try {
      config = (await this.jsm.streams.info(this.streamName)).config;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.jsm.streams.add({
        name: this.streamName,
        subjects: [subject],
        storage: this.nats.StorageType.File,
        max_age: this.nats.nanos(this.maxAgeMs),
      });
      return;
    }
    if (config.subjects.includes(subject)) return;
    await this.jsm.streams.update(this.streamName, { ...config, subjects: [...config.subjects, subject] });
  }
}

/** NATS reports a missing stream as a 404 API error (or "no stream matches subject" from find). */
function isNotFound(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${(error as { code?: string }).code ?? ""}` : String(error);
  return /not found|no stream matches|404/i.test(text);
}
