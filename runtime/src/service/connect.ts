import { checkFlagSpelling } from "./flag-values.js";
import { runtimeFlagNames } from "./flag-names.js";
import { RegistryClients } from "../client/registry-clients.js";
import type { ClientOf } from "../definition/client.js";
import type { ServiceDefinition } from "../definition/definition.js";
import { pinoModule, type Logger } from "../logging/logger.js";
import type { AttemptTimeouts } from "../client/attempt-timeout.js";
import type { HedgingPolicies } from "../client/hedging.js";
import type { BreakerOptions } from "../middleware/breaker.js";
import { breakerSettingsFrom } from "../middleware/breaker-settings.js";
import type { Registry } from "../registry/registry.js";
import type { ClientMiddleware } from "../transport/transport.js";
import { RegistryUse } from "./lifecycle.js";
import { metricsListenAddress, resolveServiceSettings, type ServiceSettings } from "./settings.js";
import { metricsRegistry } from "../metrics/process-registry.js";
import { resolveTracingSettings } from "../tracing/tracing-settings.js";
import { TracingUse } from "../tracing/tracing-use.js";
import type { Strategy } from "../selector/selector.js";
import { ownMiddleware } from "../transport/call-result.js";

/** Options of connect: the client half of createService's options. Settings here are overridden by environment and flags. */
export interface ConnectOptions {
  /**
   * Who calls: the `service.name` its spans carry (unless OTEL_SERVICE_NAME
   * says otherwise) and the `service` of its own log lines; default `client`.
   * A web service that calls others gives its own name, so that its calls
   * show in a trace as its own.
   */
  readonly name?: string;
  /** A registry to use instead of the one the settings name; started if needed, never stopped (the caller owns it). */
  readonly registry?: Registry;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Environment to read `TSMICRO_*`/`MICRO_*` from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where breaker state changes are logged; default pino JSON lines on stderr, leaving stdout to the program. */
  readonly logger?: Logger;
  /** Circuit breakers as createService has them (on by default); `--breaker_*` flags override; `false` turns them off. */
  readonly breaker?: BreakerOptions | false;
  /** Hedged methods as createService has them. */
  readonly hedging?: HedgingPolicies;
  /** Attempt timeouts of single methods, as createService has them. */
  readonly attemptTimeouts?: AttemptTimeouts;
  /** Client middleware for every client; in `[a, b]` a wraps b, and the circuit breaker wraps them all. */
  readonly clientMiddleware?: readonly ClientMiddleware[];
  /** The selector's strategy of your own, as createService takes it; given, it replaces `--selector`. */
  readonly strategy?: Strategy;
  /** Registry, selector and `--client_*` settings (the server ones are ignored). */
  readonly settings?: Partial<ServiceSettings>;
}

/** Registry-backed clients for a process that only calls: no server, no registration. */
export interface Connection {
  readonly settings: ServiceSettings;
  readonly logger: Logger;
  /** A typed client of `definition`, served by the registered service `serviceName`. */
  client<S extends ServiceDefinition>(definition: S, serviceName: string): ClientOf<S>;
  /** Closes connections, breakers and watches, and stops the registry if connect created it. */
  stop(): Promise<void>;
}

/**
 * Clients for a script, a job or a CLI: the same selector, retries, request
 * timeout and circuit breakers as a service's clients, from the same flags
 * and variables, without building or registering a gRPC server. The
 * registry is reached on the first call. A bad flag throws a SetupError here.
 */
export function connect(options: ConnectOptions = {}): Connection {
  const args = options.args ?? process.argv.slice(2);
  const env = options.env ?? process.env;
  // A slip of a known flag (--registry_adress) would else leave the script on the defaults, calling another registry's nodes.
  checkFlagSpelling(args, runtimeFlagNames);
  const settings = resolveServiceSettings(options.settings ?? {}, args, env);
  const name = options.name ?? "client";
  const logger = options.logger ?? stderrLogger(settings.logLevel, name);
  const registry = RegistryUse.of(options.registry, settings, logger);
  // Spans name the service `name` unless OTEL_SERVICE_NAME says otherwise. With an exporter the SDK
  // starts loading now and the first call waits for it; without one, calls never wait (see ClientTracing).
  const tracing = new TracingUse(resolveTracingSettings(name, settings, env), {}, logger);
  if (tracing.settings.exporter) void tracing.start().catch(() => undefined);
  const clients = new RegistryClients({
    registry: registry.registry,
    ready: () => registry.ready(),
    settings,
    breaker: options.breaker,
    breakerFlags: breakerSettingsFrom(args, env),
    hedging: options.hedging,
    attemptTimeouts: options.attemptTimeouts,
    logger,
    middleware: ownMiddleware(options.clientMiddleware),
    strategy: options.strategy,
    // Client metrics go to the process registry, for a program that serves it; `--metrics_address=off` records none.
    metrics: metricsListenAddress(settings) === undefined ? undefined : metricsRegistry(),
    tracing,
  });
  let stopping: Promise<void> | undefined;
  return {
    settings,
    logger,
    client: (definition, serviceName) => clients.client(definition, serviceName),
    stop() {
      stopping ??= (async () => {
        await clients.stop();
        await tracing.stop();
        await registry.release();
      })();
      return stopping;
    },
  };
}

/** pino JSON lines on stderr, as service `name`: a program's stdout stays its own. */
function stderrLogger(level: string, name: string): Logger {
  const { pino } = pinoModule();
  return pino({ level, base: { service: name } }, pino.destination(2));
}
