import { Worker } from "node:worker_threads";
import type { Attributes } from "@opentelemetry/api";
import type { ExportWorkerData, FromExportWorker, ToExportWorker } from "./export-worker.js";
import type { RecordingSpan } from "./recording-span.js";
import { SpanWriter } from "./span-record.js";
import type { TraceExport } from "./tracing-settings.js";

/**
 * Batches ended spans and exports them on a worker thread, as the OTel SDK's
 * BatchSpanProcessor does on the service's own: a batch leaves when it is
 * full (`maxBatchSize`) or `delayMs` after its first span; while the
 * collector is slow, at most `maxQueueSize` spans wait and newer ones are
 * dropped. Encoding spans as OTLP holds the event loop for milliseconds a
 * batch, so here the service's thread only writes each span's fields into
 * bytes the worker takes over (SpanWriter), and the worker runs
 * OpenTelemetry's OTLP/HTTP exporter. The worker does not keep the process
 * alive; shutdown ends it.
 */
export class WorkerExporter {
  readonly #worker: Worker;
  readonly #target: TraceExport;
  readonly #answers = new Map<number, (error?: Error) => void>();
  #next = 1;
  #exited: Error | undefined;
  /** The spans waiting, written as they end so the span objects die young. */
  readonly #batch = new SpanWriter();
  /** Spans ended this turn, not yet written. */
  #ended: RecordingSpan[] = [];
  #waiting = 0;
  /** Spans posted to the worker and not yet answered for. */
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #failure: Error | undefined;
  /** Told of the first batch the collector refuses after one it took (or the first of all). */
  readonly #onFailure: ((error: Error) => void) | undefined;
  #failing = false;
  /** Buffers of exported batches, written again: a busy service allocates no buffer per batch. */
  readonly #spares: ArrayBuffer[] = [];

  private constructor(worker: Worker, target: TraceExport, onFailure: ((error: Error) => void) | undefined) {
    this.#worker = worker;
    this.#target = target;
    this.#onFailure = onFailure;
    worker.on("message", (message: FromExportWorker) => {
      if (message.spare && this.#spares.length < maxSpares) this.#spares.push(message.spare);
      const settle = this.#answers.get(message.id);
      this.#answers.delete(message.id);
      settle?.(message.error === undefined ? undefined : new Error(message.error));
    });
    worker.on("error", (error: Error) => this.#end(new Error(`the span export worker failed: ${error.message}`)));
    worker.on("exit", () => this.#end(new Error("the span export worker has stopped")));
  }

  /**
   * Starts the worker; resolves once its exporter is ready. `onFailure` hears of a batch the
   * collector did not take, once until a later batch gets through: spans are dropped meanwhile.
   */
  static async start(
    target: TraceExport,
    resource: Attributes,
    scope: string,
    onFailure?: (error: Error) => void,
  ): Promise<WorkerExporter> {
    const data: ExportWorkerData = { target, resource, scope };
    const worker = new Worker(workerFile, { workerData: data, ...workerOptions });
    const exporter = new WorkerExporter(worker, target, onFailure);
    await exporter.#answer(0);
    worker.unref();
    return exporter;
  }

  /**
   * Takes an ended span for export. It is written once the event loop's turn
   * has sent what it had to send (setImmediate runs after the turn's I/O and
   * the HTTP/2 writes it scheduled), so writing spans never delays a
   * response or the caller's next request.
   */
  readonly record = (span: RecordingSpan): void => {
    const { maxQueueSize } = this.#target.batch;
    if (this.#waiting + this.#ended.length + this.#inFlight >= maxQueueSize) return;
    this.#ended.push(span);
    if (this.#ended.length === 1) setImmediate(this.#writeEnded).unref();
  };

  readonly #writeEnded = (): void => {
    const { maxBatchSize, delayMs } = this.#target.batch;
    const ended = this.#ended;
    this.#ended = [];
    for (const span of ended) {
      this.#batch.write(span);
      if (++this.#waiting >= maxBatchSize) this.#flush();
    }
    if (this.#waiting > 0 && !this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), delayMs);
      this.#timer.unref();
    }
  };

  /** Sends what is waiting and resolves once the worker answered for every batch sent so far. */
  async forceFlush(): Promise<void> {
    this.#writeEnded();
    this.#flush();
    await Promise.all([...this.#answers.keys()].map((id) => this.#answer(id).catch(() => undefined)));
  }

  /**
   * Exports the spans not yet sent, then ends the worker. Rejects when the
   * collector did not take them (down, or no answer within the export timeout).
   */
  async shutdown(): Promise<void> {
    this.#failure = undefined;
    // The worker does not hold the process while it runs; while it sends the
    // last spans it must, or a process with nothing else left to wait on (a
    // gateway that has closed its port) ends before the spans are out.
    this.#worker.ref();
    const closed = (async () => {
      await this.forceFlush();
      await this.#send({ id: this.#next++, shutdown: true });
    })();
    try {
      // The exporter gives up after its timeout; this bound covers anything past it.
      if (!(await settlesWithin(closed, this.#target.timeoutMs + 1_000)))
        throw new Error(
          `the collector at ${this.#target.url} did not take the last spans within ${this.#target.timeoutMs} ms`,
        );
      await closed;
      if (this.#failure) throw this.#failure;
    } finally {
      await this.#worker.terminate();
    }
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiting === 0) return;
    const batch = this.#batch.take(this.#spares.pop());
    const spans = this.#waiting;
    this.#waiting = 0;
    this.#inFlight += spans;
    this.#send({ id: this.#next++, spans: batch })
      .then(
        () => {
          this.#failing = false;
        },
        (error: Error) => {
          this.#failure = error;
          if (!this.#failing) this.#onFailure?.(error);
          this.#failing = true;
        },
      )
      .finally(() => {
        this.#inFlight -= spans;
      });
  }

  #send(message: ToExportWorker): Promise<void> {
    const answered = this.#answer(message.id);
    // A batch's bytes move to the worker rather than being copied.
    const transfer = "spans" in message ? [message.spans.bytes.buffer] : [];
    if (!this.#exited) this.#worker.postMessage(message, transfer);
    return answered;
  }

  /** The worker's answer to request `id`: it resolves, or rejects with the worker's reason. */
  #answer(id: number): Promise<void> {
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      const earlier = this.#answers.get(id);
      this.#answers.set(id, (error) => {
        earlier?.(error);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Fails what is still waiting: the worker is gone. */
  #end(reason: Error): void {
    this.#exited ??= reason;
    for (const settle of this.#answers.values()) settle(this.#exited);
    this.#answers.clear();
  }
}

/** Spare buffers kept: enough for the batches that overlap while a collector is slow. */
const maxSpares = 2;

/** True when `promise` settles within `ms` (its rejection is left to the caller); the timer does not hold the process. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The worker's module beside this one; from the TypeScript sources (unit tests) it runs through tsx. */
const fromSources = import.meta.url.endsWith(".ts");
const workerFile = new URL(`./export-worker.${fromSources ? "ts" : "js"}`, import.meta.url);
const workerOptions = fromSources ? { execArgv: ["--import", "tsx"] } : {};
