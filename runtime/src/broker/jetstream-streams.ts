import type { JetStreamManager, StreamConfig } from "nats";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { Nats } from "./nats-headers.js";

/**
 * Makes sure a JetStream stream stores each subject the broker publishes or
 * subscribes to: a stream that already covers it is used as it is; otherwise
 * the subject is added to the broker's own stream, created when missing.
 * Answers are cached per subject, so this costs a request only the first time.
 * A server that refuses to store a subject is a FAILED_PRECONDITION naming
 * it, not retried: asking again would be refused alike.
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

  /**
   * The name of the stream that stores `subject`, adding nothing: NOT_FOUND when no stream does.
   * What is found is cached as ensure() caches; what is not, not, so a later subscriber's topic is seen.
   */
  async stored(subject: string): Promise<string> {
    const known = this.#covered.get(subject);
    if (known) return known;
    const found = await this.#find(subject);
    if (found === undefined)
      throw new TsmicroError(
        Code.NOT_FOUND,
        `publish: no JetStream stream stores topic ${JSON.stringify(subject)}, and this publisher adds no topics to ` +
          `stream ${this.streamName}; a topic is stored once a JetStream subscriber subscribes to it ` +
          "(or a service publishing it adds it): check the topic's spelling, or start its subscriber first",
      );
    this.#covered.set(subject, Promise.resolve(found));
    return found;
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
        if (attempt >= 3 || error instanceof TsmicroError) throw error;
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
      await this.jsm.streams
        .add({
          name: this.streamName,
          subjects: [subject],
          storage: this.nats.StorageType.File,
          max_age: this.nats.nanos(this.maxAgeMs),
        })
        .catch((failure: unknown) => this.#refused(subject, failure));
      return;
    }
    // A mirror has no subjects at all; the server then says why it cannot take one.
    const subjects = config.subjects ?? [];
    if (subjects.includes(subject)) return;
    await this.jsm.streams
      .update(this.streamName, { ...config, subjects: [...subjects, subject] })
      .catch((failure: unknown) => this.#refused(subject, failure));
  }

  /** A failed stream add or update: the server's refusal (a JetStream API error) as FAILED_PRECONDITION, anything else as it is. */
  #refused(subject: string, error: unknown): never {
    const refusal = apiErrorOf(error);
    // 503: JetStream not ready (a leader election, a restart); worth the caller's retries.
    if (!refusal || refusal.code === 503) throw error;
    throw new TsmicroError(
      Code.FAILED_PRECONDITION,
      `publish: NATS JetStream refuses to store topic ${JSON.stringify(subject)} in stream ${this.streamName}: ` +
        `${refusal.description} (error ${refusal.err_code ?? refusal.code}); publish to another topic, or change ` +
        "the stream's configuration on the server (nats stream info)",
      { cause: error },
    );
  }
}

/** The JetStream API's answer in a failed request (nats.js keeps it as `api_error`), if the server gave one. */
function apiErrorOf(error: unknown): { code: number; err_code?: number; description: string } | undefined {
  const api = (error as { api_error?: { code?: unknown; err_code?: unknown; description?: unknown } } | null)
    ?.api_error;
  if (!api || typeof api.code !== "number") return undefined;
  return {
    code: api.code,
    ...(typeof api.err_code === "number" ? { err_code: api.err_code } : {}),
    description: typeof api.description === "string" ? api.description : "refused",
  };
}

/** NATS reports a missing stream as a 404 API error (or "no stream matches subject" from find). */
function isNotFound(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message} ${(error as { code?: string }).code ?? ""}` : String(error);
  return /not found|no stream matches|404/i.test(text);
}
