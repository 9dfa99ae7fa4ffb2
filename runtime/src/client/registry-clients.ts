import type { CallContext, Caller } from "../definition/call.js";
import { createClient, type ClientOf } from "../definition/client.js";
import type { ServiceDefinition } from "../definition/definition.js";
import type { Logger } from "../logging/logger.js";
import { breakerMiddleware, type BreakerMiddleware, type BreakerOptions } from "../middleware/breaker.js";
import type { BreakerSettings } from "../middleware/breaker-settings.js";
import type { Registry } from "../registry/registry.js";
import { createRegistrySelector } from "../selector/registry-selector.js";
import type { Selector, Strategy } from "../selector/selector.js";
import { strategies } from "../selector/strategies.js";
import type { AttemptTimeout } from "./attempt-timeout.js";
import { checkHedging, type HedgingPolicies } from "./hedging.js";
import { type AttemptTimeouts, checkAttemptTimeouts } from "./attempt-timeout.js";
import { clientTransportOf, type ClientWireSettings } from "../transport/client-transport-of.js";
import type { ClientMiddleware, ClientTransport } from "../transport/transport.js";
import { createRpcCaller } from "./rpc-client.js";
import { ClientTracing } from "../tracing/client-tracing.js";
import type { TracingUse } from "../tracing/tracing-use.js";
import { clientMetricsMiddleware } from "../metrics/client-metrics.js";
import type { MetricsRegistry } from "../metrics/process-registry.js";
import { registryNodesGauge } from "../metrics/registry-node-metrics.js";

/** Options of RegistryClients: the `--client_*` and `--selector` settings, breakers and middleware. */
export interface RegistryClientsOptions {
  readonly registry: Registry;
  /** Starts the registry once (the owner decides who stops it); awaited before the first lookup. */
  readonly ready: () => Promise<void>;
  readonly settings: ClientWireSettings & {
    readonly clientPoolSize: number;
    readonly clientAttemptTimeout?: AttemptTimeout;
    readonly selector: string;
    readonly clientRetries: number;
    readonly clientRequestTimeoutMs: number;
    /** Streaming calls' timeout when they set none; undefined for none. */
    readonly clientStreamTimeoutMs?: number | undefined;
  };
  /** Code's breaker options; `false` turns breakers off. */
  readonly breaker: BreakerOptions | false | undefined;
  /** Breaker settings from `--breaker_*` flags and variables, laid over the code's. */
  readonly breakerFlags: Partial<BreakerSettings>;
  /** Hedged methods, by `service/Method` or gRPC path. */
  readonly hedging?: HedgingPolicies | undefined;
  /** Attempt timeouts of single methods, by `service/Method` or gRPC path. */
  readonly attemptTimeouts?: AttemptTimeouts | undefined;
  readonly logger: Logger;
  /** In `[a, b]` a wraps b, and the breaker wraps them all. */
  readonly middleware: readonly ClientMiddleware[] | undefined;
  /** A strategy of the program's own, in place of `settings.selector`'s. */
  readonly strategy?: Strategy | undefined;
  /** The call being served, whose deadline and cancellation pass downstream. */
  readonly currentCall?: () => CallContext | undefined;
  /** Whether a served call has been answered: from then on its deadline and cancel pass on no more. */
  readonly answered?: (call: CallContext) => boolean;
  /** Where client, breaker and registry-node metrics are recorded; undefined records none. */
  readonly metrics?: MetricsRegistry | undefined;
  /**
   * The owner's tracing: a CLIENT span per call and one per attempt; a call made before the
   * owner started it starts it. Undefined or disabled installs nothing.
   */
  readonly tracing?: TracingUse | undefined;
}

/**
 * The one place registry-backed clients are built, for createService and
 * connect(): one selector fed by the registry's watch, one gRPC transport
 * (both made on the first client), one breaker per service and method,
 * retries and the request timeout. stop() closes what it made; the registry
 * belongs to whoever passed it.
 */
export class RegistryClients {
  readonly breaker: BreakerMiddleware | undefined;
  readonly #metrics: ClientMiddleware | undefined;
  readonly #tracing: ClientTracing | undefined;
  #tracedTransport: ClientTransport | undefined;
  #transport: ClientTransport | undefined;
  #selector: Selector | undefined;
  readonly #options: RegistryClientsOptions;

  constructor(options: RegistryClientsOptions) {
    this.#options = options;
    this.breaker =
      options.breaker === false
        ? undefined
        : breakerMiddleware({
            ...options.breaker,
            ...options.breakerFlags,
            logger: options.breaker?.logger ?? options.logger,
            ...(options.metrics ? { metrics: options.metrics } : {}),
          });
    this.#metrics = options.metrics ? clientMetricsMiddleware(options.metrics) : undefined;
    const tracing = options.tracing;
    this.#tracing = tracing?.enabled
      ? new ClientTracing(
          () => tracing.current(),
          () => tracing.start(),
          tracing.settings.exporter !== undefined,
        )
      : undefined;
  }

  /** The caller behind typed clients of the registered service `serviceName`. */
  caller(serviceName: string): Caller {
    const { settings, middleware = [], currentCall, answered } = this.#options;
    return createRpcCaller(serviceName, {
      selector: this.selector(),
      transport: this.callTransport(),
      retries: settings.clientRetries,
      requestTimeoutMs: settings.clientRequestTimeoutMs,
      ...(settings.clientAttemptTimeout === undefined ? {} : { attemptTimeout: settings.clientAttemptTimeout }),
      ...(this.#options.hedging ? { hedging: this.#options.hedging } : {}),
      ...(this.#options.attemptTimeouts ? { attemptTimeouts: this.#options.attemptTimeouts } : {}),
      ...(settings.clientStreamTimeoutMs === undefined ? {} : { streamTimeoutMs: settings.clientStreamTimeoutMs }),
      // Metrics outside the breaker: a call failed fast by an open breaker is a call the caller saw fail.
      // Tracing outermost: its span covers metrics, the breaker, retries and every attempt.
      middleware: [
        ...(this.#tracing ? [this.#tracing.middleware] : []),
        ...(this.#metrics ? [this.#metrics] : []),
        ...(this.breaker ? [this.breaker] : []),
        ...middleware,
      ],
      ...(currentCall ? { currentCall } : {}),
      ...(answered ? { answered } : {}),
    });
  }

  /** A typed client of `definition`, served by the registered service `serviceName`. */
  client<S extends ServiceDefinition>(definition: S, serviceName: string): ClientOf<S> {
    checkHedging(this.#options.hedging, definition, serviceName);
    checkAttemptTimeouts(this.#options.attemptTimeouts, definition, serviceName);
    return createClient(definition, this.caller(serviceName));
  }

  /** Closes connections, breakers and watches; calls made after this fail. */
  async stop(): Promise<void> {
    await this.#transport?.close();
    this.breaker?.stop();
    await this.#selector?.stop();
  }

  /** The gRPC transport every client shares, made on first use; for callers that need it directly (the gateway's reflection). */
  transport(): ClientTransport {
    this.#transport ??= clientTransportOf(this.#options.settings);
    return this.#transport;
  }

  /** The transport under the retry loop: the shared one, with a span per attempt when tracing is on. */
  private callTransport(): ClientTransport {
    if (!this.#tracing) return this.transport();
    this.#tracedTransport ??= this.#tracing.transport(this.transport());
    return this.#tracedTransport;
  }

  private selector(): Selector {
    if (!this.#selector) {
      const { registry, ready, settings, metrics, strategy } = this.#options;
      const inner = createRegistrySelector({
        registry,
        strategy: strategy ?? strategies[settings.selector],
        ...(metrics ? { onNodes: registryNodesGauge(metrics) } : {}),
      });
      // The registry starts on the first lookup, so a process that makes clients but never calls connects to nothing.
      // Once it has started, a lookup answers from the cache at once, without a promise per call.
      let started = false;
      this.#selector = {
        mark: (name, node, error, elapsedMs) => inner.mark(name, node, error, elapsedMs),
        start: () => inner.start(),
        stop: () => inner.stop(),
        select: (name, selectOptions) =>
          started
            ? inner.select(name, selectOptions)
            : ready().then(() => {
                started = true;
                return inner.select(name, selectOptions);
              }),
      };
    }
    return this.#selector;
  }
}
