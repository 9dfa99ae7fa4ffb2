import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { networkInterfaces } from "node:os";
import type { CallContext } from "../definition/call.js";
import { createClient, type ClientOf, type HandlerOf } from "../definition/client.js";
import type { ServiceDefinition } from "../definition/definition.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { createRpcCaller } from "../client/rpc-client.js";
import { breakerMiddleware, type BreakerOptions } from "../middleware/breaker.js";
import { breakerSettingsFrom } from "../middleware/breaker-settings.js";
import {
  mergeProtection,
  protectionMiddleware,
  protectionSettingsFrom,
  type ProtectionOptions,
} from "../middleware/protection-settings.js";
import { createLogger, type Logger } from "../logging/logger.js";
import type { Endpoint, Registry, Service as RegistryService } from "../registry/registry.js";
import { createRegistrySelector } from "../selector/registry-selector.js";
import type { Selector } from "../selector/selector.js";
import { strategies } from "../selector/strategies.js";
import { createGrpcClientTransport } from "../transport/grpc-client.js";
import { createGrpcServerTransport } from "../transport/grpc-server.js";
import {
  chain,
  type ClientMiddleware,
  type ClientTransport,
  type ServerHandler,
  type ServerMiddleware,
} from "../transport/transport.js";
import { createRegistry } from "./create-registry.js";
import { resolveServiceSettings, type ServiceSettings } from "./settings.js";

/** Options of createService. Settings given here are overridden by environment and flags. */
export interface ServiceOptions {
  /** The name callers find the service by, such as `greeter`. */
  readonly name: string;
  readonly version?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly settings?: Partial<ServiceSettings>;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Environment to read `TSMICRO_*`/`MICRO_*` from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A registry to use instead of the one the settings name. */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Server middleware; in `[a, b]` a wraps b. */
  readonly serverMiddleware?: readonly ServerMiddleware[];
  /** Client middleware for every client of this service; in `[a, b]` a wraps b, and the circuit breaker wraps them all. */
  readonly clientMiddleware?: readonly ClientMiddleware[];
  /**
   * Circuit breakers on every client method (one per service and method, on
   * by default): settings for all, per service and per method, and
   * fallbacks. `--breaker_*` flags and `TSMICRO_BREAKER_*` variables override
   * the service-wide settings; `false` turns breakers off.
   */
  readonly breaker?: BreakerOptions | false;
  /**
   * Server protection: a token-bucket rate limit, a bulkhead (concurrency
   * limit with a bounded queue) and an adaptive load shedder, service-wide
   * and per method; each off unless configured here or by `--rate_limit`,
   * `--max_concurrent`, `--max_queue`, `--load_shedding*` flags. They run
   * outside the user's server middleware.
   */
  readonly protection?: ProtectionOptions;
}

/** A running (or runnable) service: serves handlers, registers itself, and makes clients of other services. */
export interface MicroService {
  readonly name: string;
  /** This instance's node id in the registry. */
  readonly id: string;
  readonly settings: ServiceSettings;
  readonly logger: Logger;
  /** The registered address, once started. */
  readonly address: string | undefined;
  /** Serves a generated service definition with its handler. Before start. */
  handle<S extends ServiceDefinition>(service: S, handler: HandlerOf<S>): void;
  /** A typed client of `definition`, served by the registered service `name`. */
  client<S extends ServiceDefinition>(definition: S, name: string): ClientOf<S>;
  /** Listens, registers and starts heartbeats; health turns SERVING. */
  start(): Promise<void>;
  /** Graceful shutdown: NOT_SERVING, deregister, stop accepting, finish calls in flight, close clients. */
  stop(): Promise<void>;
  /** Starts, then stops on SIGINT or SIGTERM; resolves once stopped. */
  run(): Promise<void>;
}

/** How long a deregistered node keeps serving so callers' watches drop it before its server stops accepting. */
const drainDelayMs = 300;

/**
 * Creates a service from its name and options, with settings resolved from
 * code, environment (`TSMICRO_*`, `MICRO_*`) and go-micro's flags.
 */
export function createService(options: ServiceOptions): MicroService {
  const settings = resolveServiceSettings(
    options.settings ?? {},
    options.args ?? process.argv.slice(2),
    options.env ?? process.env,
  );
  const logger = options.logger ?? createLogger({ service: options.name, level: settings.logLevel });
  const registry = options.registry ?? createRegistry(settings);
  const id = `${options.name}-${randomUUID()}`;
  const scope = new AsyncLocalStorage<CallContext>();
  const handled: { service: ServiceDefinition; handler: ServerHandler }[] = [];
  const server = createGrpcServerTransport({ logger, health: true, reflection: true });
  const args = options.args ?? process.argv.slice(2);
  const env = options.env ?? process.env;
  const protection = protectionMiddleware(mergeProtection(options.protection ?? {}, protectionSettingsFrom(args, env)));
  const breaker =
    options.breaker === false
      ? undefined
      : breakerMiddleware({
          ...options.breaker,
          ...breakerSettingsFrom(args, env),
          logger: options.breaker?.logger ?? logger,
        });

  let registryReady: Promise<void> | undefined;
  const ensureRegistry = () => (registryReady ??= registry.start());
  let clientTransport: ClientTransport | undefined;
  let selector: Selector | undefined;
  let record: RegistryService | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let address: string | undefined;
  let stopping: Promise<void> | undefined;

  // Handlers run inside the scope, so clients they call find the call's deadline and cancellation.
  const inScope: ServerMiddleware = (next) => (call) => scope.run(call.context, () => next(call));

  function clientSide(): { transport: ClientTransport; selector: Selector } {
    clientTransport ??= createGrpcClientTransport({ poolSize: settings.clientPoolSize });
    if (!selector) {
      const inner = createRegistrySelector({ registry, strategy: strategies[settings.selector] });
      selector = {
        ...inner,
        select: async (name, selectOptions) => {
          await ensureRegistry();
          return inner.select(name, selectOptions);
        },
      };
    }
    return { transport: clientTransport, selector };
  }

  async function register(): Promise<void> {
    if (record) await registry.register(record, { ttlMs: settings.registerTtlMs });
  }

  const service: MicroService = {
    name: options.name,
    id,
    settings,
    logger,
    get address() {
      return address;
    },

    handle<S extends ServiceDefinition>(definition: S, handler: HandlerOf<S>): void {
      if (record)
        throw new Error(`handle(${definition.typeName}) after start: add handlers before starting ${options.name}`);
      const byPath = new Map<string, (request: unknown, context: CallContext) => unknown>();
      for (const [localName, method] of Object.entries(definition.methods)) {
        const fn = (handler as Record<string, unknown>)[localName];
        if (typeof fn !== "function") {
          throw new Error(`handler for ${definition.typeName} has no method ${localName} (for rpc ${method.name})`);
        }
        byPath.set(method.path, fn.bind(handler) as (request: unknown, context: CallContext) => unknown);
      }
      const dispatch: ServerHandler = (call) => {
        const fn = byPath.get(call.method.path);
        if (!fn) throw new TsmicroError(Code.UNIMPLEMENTED, `${call.method.path} is not implemented`);
        return fn(call.request, call.context) as ReturnType<ServerHandler>;
      };
      const middleware = [...protection.middleware, ...(options.serverMiddleware ?? []), inScope];
      handled.push({ service: definition, handler: chain(middleware, dispatch) });
    },

    client<S extends ServiceDefinition>(definition: S, name: string): ClientOf<S> {
      const { transport, selector: sel } = clientSide();
      const caller = createRpcCaller(name, {
        selector: sel,
        transport,
        retries: settings.clientRetries,
        requestTimeoutMs: settings.clientRequestTimeoutMs,
        middleware: breaker ? [breaker, ...(options.clientMiddleware ?? [])] : (options.clientMiddleware ?? []),
        currentCall: () => scope.getStore(),
      });
      return createClient(definition, caller);
    },

    async start(): Promise<void> {
      await ensureRegistry();
      for (const { service: definition, handler } of handled) server.add(definition, handler);
      const bound = await server.listen(settings.serverAddress);
      address = settings.serverAdvertise ?? advertised(bound);
      record = {
        name: options.name,
        version: options.version ?? "latest",
        metadata: options.metadata ?? {},
        endpoints: handled.flatMap(({ service: definition }) => endpointsOf(definition)),
        nodes: [
          {
            id,
            address,
            metadata: {
              transport: "grpc",
              protocol: "grpc",
              server: "grpc",
              registry: registry.kind,
              runtime: "tsmicro",
            },
          },
        ],
      };
      await register();
      heartbeat = setInterval(() => {
        register().catch((error: unknown) => logger.warn({ err: error }, "heartbeat to the registry failed; retrying"));
      }, settings.registerIntervalMs);
      heartbeat.unref();
      server.setServing(true);
      logger.info({ id, address, registry: registry.kind }, `${options.name} started`);
    },

    stop(): Promise<void> {
      stopping ??= (async () => {
        server.setServing(false);
        if (heartbeat) clearInterval(heartbeat);
        if (record) {
          await registry
            .deregister(record)
            .catch((error: unknown) => logger.warn({ err: error }, "deregistration failed"));
          await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
        }
        await server.stop(settings.shutdownGraceMs);
        await clientTransport?.close();
        breaker?.stop();
        protection.stop();
        await selector?.stop();
        if (registryReady) await registry.stop();
        logger.info({ id }, `${options.name} stopped`);
      })();
      return stopping;
    },

    async run(): Promise<void> {
      await service.start();
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          logger.info({ signal }, "shutting down");
          process.once(signal, () => process.exit(1));
          service.stop().then(resolve, (error: unknown) => {
            logger.error({ err: error }, "shutdown failed");
            process.exitCode = 1;
            resolve();
          });
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
      });
    },
  };
  return service;
}

/** Endpoints as go-micro names them: `Service.Method`. */
function endpointsOf(definition: ServiceDefinition): Endpoint[] {
  const shortName = definition.typeName.slice(definition.typeName.lastIndexOf(".") + 1);
  return Object.values(definition.methods).map((method) => ({
    name: `${shortName}.${method.name}`,
    request: method.inputType,
    response: method.outputType,
    metadata: { service: definition.typeName, kind: method.kind },
  }));
}

/** A bound wildcard address is advertised on the first external IPv4 address, as go-micro does. */
export function advertised(bound: string): string {
  const colon = bound.lastIndexOf(":");
  const host = bound.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = bound.slice(colon + 1);
  if (host !== "0.0.0.0" && host !== "::" && host !== "") return bound;
  const external = Object.values(networkInterfaces())
    .flat()
    .find((info) => info && info.family === "IPv4" && !info.internal);
  return `${external?.address ?? "127.0.0.1"}:${port}`;
}
