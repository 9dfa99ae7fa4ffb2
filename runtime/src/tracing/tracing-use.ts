import type { Logger } from "../logging/logger.js";
import type { TracingResource } from "./start-tracing.js";
import type { Tracing } from "./tracing.js";
import type { TracingSettings } from "./tracing-settings.js";
import { outsideTrace } from "./active-trace-fields.js";

/**
 * The tracing a service, gateway or connection owns: started with it (the
 * SDK loads then, and only when tracing is enabled), flushed and shut down
 * when it stops. Middleware reads `current()` per call, so calls made before
 * start or after stop pass untraced. Spans the collector did not take, while
 * running (once until it takes them again) or at stop, are logged as a
 * warning on `logger`, never a failed call or stop.
 */
export class TracingUse {
  readonly settings: TracingSettings;
  readonly #resource: TracingResource;
  readonly #logger: Logger | undefined;
  #tracing: Tracing | undefined;
  #starting: Promise<void> | undefined;

  constructor(settings: TracingSettings, resource: TracingResource = {}, logger?: Logger) {
    this.settings = settings;
    this.#resource = resource;
    this.#logger = logger;
  }

  /** False with OTEL_SDK_DISABLED=true: then no middleware is installed and nothing loads. */
  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** The running tracing, or undefined before start, after stop, or when disabled. */
  current(): Tracing | undefined {
    return this.#tracing;
  }

  /** Loads the SDK and starts the tracer provider; once, and not at all when disabled. */
  start(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    this.#starting ??= import("./start-tracing.js")
      .then(({ startTracing }) => startTracing(this.settings, this.#resource, (error) => this.#exportFailed(error)))
      .then((tracing) => {
        this.#tracing = tracing;
      });
    return this.#starting;
  }

  /**
   * A batch the collector did not take, said once until one gets through: the spans meanwhile are
   * lost. Outside any span: the flush's timer was set in the context of whichever call ended a
   * span, and the line is about none.
   */
  #exportFailed(error: Error): void {
    outsideTrace(() =>
      this.#logger?.warn(
        { reason: reasonOf(error), endpoint: this.settings.exporter?.url },
        "tracing: spans could not be exported and are dropped until the collector takes them; is the collector at the OTLP endpoint running?",
      ),
    );
  }

  /** Exports what is left and shuts the provider down; later calls are untraced. */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const tracing = this.#tracing;
    this.#tracing = undefined;
    try {
      await tracing?.shutdown();
    } catch (error) {
      // A collector that is down must not fail the owner's stop: the spans are lost, and said so.
      this.#logger?.warn(
        { reason: reasonOf(error), endpoint: this.settings.exporter?.url },
        "tracing: the last spans could not be exported; is the collector at the OTLP endpoint running?",
      );
    }
  }
}

/**
 * What went wrong with an export, as one line (`connect ECONNREFUSED 127.0.0.1:4318`). Not the
 * error itself: its stack is the worker's message plumbing, which tells a reader nothing.
 */
function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
