import { createHash, randomUUID } from "node:crypto";
import type { Broker } from "../broker/broker.js";
import { brokerSettingsFrom } from "../broker/broker-settings.js";
import type { CallContext } from "../definition/call.js";
import type { ClientOf, HandlerOf } from "../definition/client.js";
import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import type { EventHandlerOf, EventsDefinition, PublisherOf } from "../definition/events.js";
import { SetupError } from "../errors/setup-error.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import { RegistryClients } from "../client/registry-clients.js";
import type { AttemptTimeouts } from "../client/attempt-timeout.js";
import type { HedgingPolicies } from "../client/hedging.js";
import type { BreakerOptions } from "../middleware/breaker.js";
import { breakerSettingsFrom } from "../middleware/breaker-settings.js";
import {
  mergeProtection,
  protectionMiddleware,
  protectionSettingsFrom,
  type ProtectionOptions,
} from "../middleware/protection-settings.js";
import type { Logger } from "../logging/logger.js";
import type { Endpoint, Registry } from "../registry/registry.js";
import { createGrpcServerTransport } from "../transport/grpc-server.js";
import { createH2ServerTransport } from "../transport/h2-server.js";
import { chain, type ClientMiddleware, type ServerHandler, type ServerMiddleware } from "../transport/transport.js";
import type { Strategy } from "../selector/selector.js";
import { isAsyncIterable, ownMiddleware, shapedByKind } from "../transport/call-result.js";
import { runHere, tracedStream } from "../tracing/traced-stream.js";
import {
  advertised,
  ensureCanListen,
  listenMetrics,
  listenError,
  nodeRecord,
  readOrDefer,
  PauseLog,
  Registration,
  exitCannotStart,
  RegistryUse,
  runUntilSignal,
} from "./lifecycle.js";
import {
  hasBeenAnswered,
  servedCall,
  servedCallAnswered,
  servedCallKey,
  servedCallScope,
  unansweredServedCall,
} from "./served-call.js";
import { ServedFailureLog } from "./served-failures.js";
import { serviceLogger } from "./service-logger.js";
import { databaseOptionsFrom } from "../database/database-options.js";
import { checkFlagSpelling } from "./flag-values.js";
import { runtimeFlagNames, runtimeFlagUsage } from "./flag-names.js";
import { asksForHelp, HelpRequested, serviceHelp } from "./service-help.js";
import { ServiceEvents, type EventSubscribeOptions } from "./service-events.js";
import { tracingServerMiddleware } from "../tracing/server-middleware.js";
import { resolveTracingSettings } from "../tracing/tracing-settings.js";
import { TracingUse } from "../tracing/tracing-use.js";
import {
  metricsListenAddress,
  resolveServiceSettings,
  serverTransportSettings,
  type ServiceSettings,
} from "./settings.js";
import { MetricsServer } from "../metrics/metrics-server.js";
import { deferDefaultMetrics, metricsRegistry, type MetricsRegistry } from "../metrics/process-registry.js";
import { serverMetricsMiddleware } from "../metrics/server-metrics.js";

/** Options of createService. Settings given here are overridden by environment and flags. */
export interface ServiceOptions {
  /** The name callers find the service by, such as `greeter`. */
  readonly name: string;
  readonly version?: string;
  /**
   * Registered with the service and with each of its nodes (as go-micro's `micro.Metadata`), such
   * as `{ zone: "eu-1" }` for a selector strategy to read; tsmicro's own node keys (transport,
   * protocol, server, registry, runtime, metrics) are left off the node.
   */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly settings?: Partial<ServiceSettings>;
  /** Command-line arguments to read flags from; default `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Environment to read `TSMICRO_*`/`MICRO_*` from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * A registry to use instead of the one the settings name. It is started
   * if needed but never stopped: whoever made it may share it with others.
   */
  readonly registry?: Registry;
  /** A logger to use instead of pino on stdout; like the registry, it stays the caller's. */
  readonly logger?: Logger;
  /**
   * A broker to use instead of the one `--broker`/`--broker_address` name
   * (default: the embedded http broker on this service's registry). Like
   * the registry, it is started if needed but never stopped.
   */
  readonly broker?: Broker;
  /** Server middleware; in `[a, b]` a wraps b. */
  readonly serverMiddleware?: readonly ServerMiddleware[];
  /** Client middleware for every client of this service; in `[a, b]` a wraps b, and the circuit breaker wraps them all. */
  readonly clientMiddleware?: readonly ClientMiddleware[];
  /**
   * The selector's strategy of your own, as go-micro's `selector.SetStrategy`: it makes each
   * service's picker, which chooses among the nodes left after failing and slow ones (see
   * docs/selector.md). Given, it replaces `--selector`.
   */
  readonly strategy?: Strategy;
  /**
   * Circuit breakers on every client method (one per service and method, on
   * by default): settings for all, per service and per method, and
   * fallbacks. `--breaker_*` flags and `TSMICRO_BREAKER_*` variables override
   * the service-wide settings; `false` turns breakers off.
   */
  readonly breaker?: BreakerOptions | false;
  /**
   * Hedged client methods, by `service/Method` or gRPC path (idempotent
   * unary methods only): a call unanswered for `delayMs` is sent to another
   * node too, the first answer wins (gRPC's hedging policy), within a budget
   * of a tenth of the calls.
   */
  readonly hedging?: HedgingPolicies;
  /**
   * Attempt timeouts of single idempotent unary methods, by `service/Method`
   * or gRPC path: milliseconds, `auto` or `none`, over
   * `--client_attempt_timeout` (which sets them for every method).
   */
  readonly attemptTimeouts?: AttemptTimeouts;
  /**
   * Server protection: a token-bucket rate limit, a bulkhead (concurrency
   * limit with a bounded queue) and an adaptive load shedder, service-wide
   * and per method; each off unless configured here or by `--rate_limit`,
   * `--max_concurrent`, `--max_queue`, `--load_shedding*` flags. They run
   * outside the user's server middleware.
   */
  readonly protection?: ProtectionOptions;
  /**
   * Where RPC, breaker and node metrics are recorded and `/metrics` reads
   * from; default the process's `metricsRegistry()`. Unused when
   * `--metrics_address=off`.
   */
  readonly metricsRegistry?: MetricsRegistry;
}

/** Options of `handle`. */
export interface HandleOptions {
  /**
   * `true` serves a handler that implements only some methods; the others
   * answer UNIMPLEMENTED. Default `false`: a missing method is a SetupError
   * (TSM_ERR_HANDLER_METHOD) that start() rejects with (and run() prints as
   * one line), so a forgotten method never ships.
   */
  readonly partial?: boolean;
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
  /** The advertised `host:port` of its `GET /metrics`, once started; undefined when `--metrics_address=off`. */
  readonly metricsAddress: string | undefined;
  /** Serves a generated service definition with a handler of every method. Before start. */
  handle<S extends ServiceDefinition>(service: S, handler: HandlerOf<S>, options?: HandleOptions): void;
  /** Serves the methods `handler` has; calls of the others answer UNIMPLEMENTED. Before start. */
  handle<S extends ServiceDefinition>(
    service: S,
    handler: Partial<HandlerOf<S>>,
    options: { readonly partial: true },
  ): void;
  /** A typed client of `definition`, served by the registered service `name`. */
  client<S extends ServiceDefinition>(definition: S, name: string): ClientOf<S>;
  /**
   * The broker events go through: the one handed in, or the service's own
   * (started and stopped with it). Throws the SetupError of a bad broker flag.
   */
  readonly broker: Broker;
  /**
   * A typed publisher of a generated events definition:
   * `service.publisher(UserEvents).userCreated({ id })`. Publishing waits
   * for the broker to start; trace context goes in the message headers.
   */
  publisher<E extends EventsDefinition>(events: E): PublisherOf<E>;
  /**
   * Subscribes a handler with a method per event of `events`; before start.
   * Each event reaches one node of this service (queue group: the service's
   * name) unless `queue` says otherwise; a handler that throws asks for
   * redelivery where the broker has it, and is logged with the message id.
   */
  subscribe<E extends EventsDefinition>(
    events: E,
    handler: EventHandlerOf<E>,
    options?: EventSubscribeOptions & { readonly partial?: false },
  ): void;
  /** Subscribes to the events `handler` has methods for; before start. */
  subscribe<E extends EventsDefinition>(
    events: E,
    handler: Partial<EventHandlerOf<E>>,
    options: EventSubscribeOptions & { readonly partial: true },
  ): void;
  /**
   * Listens, registers and starts heartbeats; health turns SERVING. Rejects
   * with a SetupError for a bad flag, a taken `--server_address`
   * (TSM_ERR_ADDRESS_IN_USE) or an unreachable registry.
   */
  start(): Promise<void>;
  /** Graceful shutdown: NOT_SERVING, deregister, stop accepting, finish calls in flight, close clients. */
  stop(): Promise<void>;
  /**
   * Marks the node NOT_SERVING (false) or SERVING again (true) in grpc.health.v1, the whole server
   * and each of its services, as `tsmicro health`, Kubernetes' gRPC probes and the Dockerfile's
   * HEALTHCHECK read it: for a dependency the service cannot work without going down. The node stays
   * registered and keeps serving calls. Outside start and stop; before start, it starts so marked.
   */
  setServing(serving: boolean): void;
  /**
   * Starts, then stops on SIGINT or SIGTERM; resolves once stopped. If start
   * fails it prints `<name>: cannot start: <message>` on stderr and exits 1;
   * given `--help` (or `-h`), it prints the flags on stdout and exits 0.
   */
  run(): Promise<void>;
  /**
   * Ends a start that failed outside run(), such as opening a database in
   * main: prints `<name>: cannot start: <message>` and exits 1, as run()
   * does. Bound, so `.catch(service.fatal)` works.
   */
  readonly fatal: (error: unknown) => never;
  /**
   * Rejects, as start() would, with the SetupError of a bad flag or
   * variable (a bad value, or a slip such as `--databse_dir`), of a
   * handler given to handle() so far that misses a method of its service,
   * or of a registry that does not answer (`TSM_ERR_REGISTRY_UNREACHABLE`;
   * it connects to it, as start() then needs); resolves otherwise. A main
   * that opens or migrates a database before start() checks first,
   * `await service.checkFlags().catch(service.fatal)`, so a bad flag, an
   * unreachable registry or an unfinished handler changes nothing. Given
   * `--help` (or `-h`), it rejects with the flags' help, which `fatal` prints
   * on stdout before exiting 0.
   */
  checkFlags(): Promise<void>;
}

type MethodFunction = (request: unknown, context: CallContext) => unknown;

/**
 * Creates a service from its name and options, with settings resolved from
 * code, environment (`TSMICRO_*`, `MICRO_*`) and go-micro's flags. A bad
 * flag does not throw here: start() (and so run()) reports it.
 */
export function createService(options: ServiceOptions): MicroService {
  const args = options.args ?? process.argv.slice(2);
  const help = asksForHelp(args) ? new HelpRequested(serviceHelp(options.name, runtimeFlagUsage)) : undefined;
  const { value: config, error: flagError } = readOrDefer(
    (args, env) => {
      checkFlagSpelling(args, runtimeFlagNames, undefined, { serves: true });
      // Read by main.ts (databaseOptionsFrom) after checkFlags(): a bad value is refused with the others.
      databaseOptionsFrom(args, env);
      const settings = resolveServiceSettings(options.settings ?? {}, args, env);
      return {
        settings,
        breakerFlags: breakerSettingsFrom(args, env),
        protection: mergeProtection(options.protection ?? {}, protectionSettingsFrom(args, env)),
        tracing: resolveTracingSettings(options.name, settings, env),
        broker: brokerSettingsFrom(args, env),
      };
    },
    args,
    options.env ?? process.env,
  );
  const { settings } = config;
  const id = `${options.name}-${randomUUID()}`;
  const { logger, error: loggerError } = options.logger
    ? { logger: options.logger, error: undefined }
    : serviceLogger({ service: options.name, version: options.version, node: id }, settings);
  const registry = RegistryUse.of(options.registry, settings, logger);
  const handled: { service: ServiceDefinition; handler: ServerHandler }[] = [];
  const createServer = settings.serverTransport === "grpc" ? createGrpcServerTransport : createH2ServerTransport;
  const server = createServer({
    logger,
    health: true,
    reflection: true,
    ...serverTransportSettings(settings),
  });
  const protection = protectionMiddleware(config.protection);
  // Failed calls' lines, the repeats of an outage summed up rather than one per call.
  const failures = new ServedFailureLog(logger);
  const metricsAt = metricsListenAddress(settings);
  const metrics = metricsAt === undefined ? undefined : (options.metricsRegistry ?? metricsRegistry());
  const serverMetrics = metrics ? serverMetricsMiddleware(metrics) : undefined;
  const metricsServer = metrics ? new MetricsServer(metrics) : undefined;
  // Node.js and process metrics load once the service is registered, not before.
  const collectDefaultMetrics = metrics ? deferDefaultMetrics(metrics) : undefined;
  // Tracing is on unless OTEL_SDK_DISABLED=true; its SDK loads at start, and exports only to a configured endpoint.
  const tracing = new TracingUse(config.tracing, { serviceVersion: options.version, instanceId: id }, logger);
  // A handled call's context: in the served-call scope, or in the trace context the tracing middleware made active.
  const serverTracing = tracing.enabled
    ? tracingServerMiddleware(
        () => tracing.current(),
        () => address,
        servedCallKey,
      )
    : undefined;
  const currentCall = servedCall;
  // The node and the http broker's subscriptions each find a pause; one of them says so.
  const pauses = new PauseLog();
  const events = new ServiceEvents({
    name: options.name,
    handed: options.broker,
    settings: config.broker,
    server: { address: settings.serverAddress, advertise: settings.serverAdvertise },
    registration: { ttlMs: settings.registerTtlMs, intervalMs: settings.registerIntervalMs, pauses },
    registry: registry.registry,
    registryReady: () => registry.ready(),
    logger,
    metrics,
    tracing: () => tracing.current(),
    // A publish by work the handler left running once it answered is not given up at its call's cancel.
    callSignal: () => unansweredServedCall()?.signal,
  });
  const clients = new RegistryClients({
    registry: registry.registry,
    ready: () => registry.ready(),
    settings,
    breaker: options.breaker,
    breakerFlags: config.breakerFlags,
    hedging: options.hedging,
    attemptTimeouts: options.attemptTimeouts,
    logger,
    middleware: ownMiddleware(options.clientMiddleware),
    strategy: options.strategy,
    currentCall,
    answered: hasBeenAnswered,
    metrics,
    tracing,
  });

  let handlerError: SetupError | undefined;
  let registration: Registration | undefined;
  let address: string | undefined;
  let metricsAddress: string | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  // What setServing asked for, and whether the node is up (started and not stopping): both make it SERVING.
  let serving = true;
  let running = false;

  // Handlers run inside the call's scope, so the clients they call find its deadline and cancellation,
  // and the database bounds its queries by that deadline, until the handler has answered. Its answer
  // settles here, where a failure of the service's (not the caller's) is logged: the success path
  // pays one branch, for an answer after the deadline.
  const inScope: ServerMiddleware = (next) => (call) => {
    const { context } = call;
    // A traced call's handler runs in its span's context, which holds the call: no scope of its own.
    const traced = currentCall() === context;
    let result: ReturnType<ServerHandler>;
    try {
      result = traced ? next(call) : servedCallScope.run(context, () => next(call));
    } catch (error) {
      answeredFailing(context, error, failures);
      throw error;
    }
    if (!isAsyncIterable(result)) {
      void Promise.resolve(result).then(
        () => answered(context, failures),
        (error: unknown) => answeredFailing(context, error, failures),
      );
      return result;
    }
    // A stream's handler runs as its responses are read, after this returns: each step runs in the
    // call's scope (a traced call's steps already run in its span's), and the call is answered when
    // its stream ends.
    return tracedStream(result, traced ? runHere : inScopeOf(context), (failed, error) =>
      failed ? answeredFailing(context, error, failures) : answered(context, failures),
    );
  };

  function handle(definition: ServiceDefinition, handler: object, handleOptions: HandleOptions = {}): void {
    if (starting)
      throw new Error(`handle(${definition.typeName}) after start: add handlers before starting ${options.name}`);
    const byPath = new Map<string, MethodFunction>();
    for (const [localName, method] of Object.entries(definition.methods)) {
      const fn = (handler as Record<string, unknown>)[localName];
      if (typeof fn === "function") byPath.set(method.path, fn.bind(handler) as MethodFunction);
      else if (handleOptions.partial) byPath.set(method.path, unimplemented(method));
      else {
        // Reported by start(), as a bad flag is: run() prints it as one line, not a stack from main's top level.
        handlerError ??= new SetupError("TSM_ERR_HANDLER_METHOD", definition.typeName, localName, method.name);
        return;
      }
    }
    const dispatch: ServerHandler = shapedByKind((call) => {
      const fn = byPath.get(call.method.path);
      if (!fn) throw new TsmicroError(Code.UNIMPLEMENTED, `${call.method.path.slice(1)} is not implemented`);
      return fn(call.request, call.context) as ReturnType<ServerHandler>;
    });
    const middleware = [
      ...(serverTracing ? [serverTracing] : []),
      ...(serverMetrics ? [serverMetrics] : []),
      ...protection.middleware,
      ...ownMiddleware(options.serverMiddleware),
      inScope,
    ];
    handled.push({ service: definition, handler: chain(middleware, dispatch) });
  }

  async function start(): Promise<void> {
    const setupError = help ?? flagError ?? loggerError ?? handlerError ?? events.setupError;
    if (setupError) throw setupError;
    if (stopping) throw new Error(`${options.name} was stopped; create a new service to start again`);
    await registry.ready();
    await tracing.start();
    await events.start();
    for (const { service: definition, handler } of handled) server.add(definition, handler);
    // The gateway and tools read events' messages by reflection, even those no RPC of this service uses.
    for (const definition of events.definitions()) server.reflect(definition.fileDescriptorSet);
    await ensureCanListen(settings.serverAddress, "--server_address");
    let bound: string;
    try {
      bound = await server.listen(settings.serverAddress);
    } catch (error) {
      throw listenError(error, "--server_address", settings.serverAddress);
    }
    address = settings.serverAdvertise ?? advertised(bound);
    if (metricsServer && metricsAt !== undefined)
      metricsAddress = await listenMetrics(metricsServer, metricsAt, settings.serverAdvertise);
    registration = new Registration(
      registry.registry,
      nodeRecord({
        name: options.name,
        version: options.version,
        metadata: options.metadata,
        endpoints: [...handled.flatMap(({ service: definition }) => endpointsOf(definition)), ...events.endpoints()],
        id,
        address,
        protocol: "grpc",
        registryKind: registry.registry.kind,
        metricsAddress,
      }),
      { ttlMs: settings.registerTtlMs, intervalMs: settings.registerIntervalMs, logger, pauses },
    );
    await registration.start();
    running = true;
    server.setServing(serving);
    logger.info(
      { id, address, metrics: metricsAddress, registry: registry.registry.kind, broker: events.broker.kind },
      `${options.name} started`,
    );
    if (collectDefaultMetrics) setImmediate(collectDefaultMetrics);
  }

  // Reverse order of start: stop being found, stop taking events and calls (the event handlers and
  // calls in flight finish, within one --shutdown_grace, while clients still work), then close what
  // calls out and publishes.
  async function stop(): Promise<void> {
    await starting?.catch(() => undefined);
    running = false;
    server.setServing(false);
    await registration?.stop();
    await Promise.all([events.unsubscribe(settings.shutdownGraceMs), server.stop(settings.shutdownGraceMs)]);
    await metricsServer?.stop();
    await clients.stop();
    await events.release();
    protection.stop();
    // After the server's stop: the calls it drained are counted, and said here.
    failures.stop();
    await tracing.stop();
    await registry.release();
    logger.info({ id }, `${options.name} stopped`);
  }

  const service: MicroService = {
    name: options.name,
    id,
    settings,
    logger,
    get address() {
      return address;
    },
    get metricsAddress() {
      return metricsAddress;
    },
    handle,
    setServing(value) {
      serving = value;
      if (running) server.setServing(value);
    },
    client: (definition, name) => clients.client(definition, name),
    get broker() {
      return events.tracedBroker;
    },
    publisher: (definition) => events.publisher(definition, !starting),
    subscribe(definition: EventsDefinition, handler: object, subscribeOptions: EventSubscribeOptions = {}) {
      if (starting)
        throw new Error(`subscribe(${definition.typeName}) after start: subscribe before starting ${options.name}`);
      events.subscribe(definition, handler, subscribeOptions);
    },
    start() {
      starting ??= start();
      return starting;
    },
    stop() {
      stopping ??= stop();
      return stopping;
    },
    run: () => runUntilSignal(options.name, service, logger),
    fatal: (error) => exitCannotStart(options.name, error, logger),
    checkFlags: async () => {
      const setupError = help ?? flagError ?? loggerError ?? handlerError;
      if (setupError) throw setupError;
      // The registry the flags name answers too, as start() checks first: a main that opens or
      // migrates its database after this leaves it untouched when it does not.
      await registry.ready();
    },
  };
  return service;
}

/** The stand-in for a method a partial handler leaves out, shaped for its kind so streams end cleanly too. */
function unimplemented(method: MethodDefinition): MethodFunction {
  const error = () =>
    new TsmicroError(Code.UNIMPLEMENTED, `${method.path.slice(1)} is not implemented by this service`);
  if (method.kind === "server_streaming" || method.kind === "bidi_streaming") {
    // A generator, so the caller gets a stream that fails before its first message.
    // biome-ignore lint/correctness/useYield: a stream that fails before its first message yields nothing.
    return async function* () {
      throw error();
    };
  }
  return async () => {
    throw error();
  };
}

/**
 * Endpoints as go-micro names them: `Service.Method`. Each names its
 * service's descriptor by a fingerprint, so a gateway sees a new build of
 * the proto (a route, a field) even when the methods are the same.
 */
function endpointsOf(definition: ServiceDefinition): Endpoint[] {
  const shortName = definition.typeName.slice(definition.typeName.lastIndexOf(".") + 1);
  const descriptor = createHash("sha256").update(definition.fileDescriptorSet).digest("hex").slice(0, 16);
  return Object.values(definition.methods).map((method) => ({
    name: `${shortName}.${method.name}`,
    request: method.inputType,
    response: method.outputType,
    metadata: { service: definition.typeName, kind: method.kind, descriptor },
  }));
}

/** The served call `context` was answered: logged in `failures` only when that was after its deadline. */
function answered(context: CallContext, failures: ServedFailureLog): void {
  servedCallAnswered(context);
  if (context.signal.aborted) failures.failed(context, undefined);
}

/** The served call `context` failed with `error`: logged in `failures` when that is the service's failure. */
function answeredFailing(context: CallContext, error: unknown, failures: ServedFailureLog): void {
  servedCallAnswered(context);
  failures.failed(context, error);
}

/** Runs each step of a served stream in the scope of its call, `context`. */
function inScopeOf(context: CallContext): <R>(step: () => R) => R {
  return (step) => servedCallScope.run(context, step);
}
