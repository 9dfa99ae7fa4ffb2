/**
 * `@tsmicro/runtime`: what a tsmicro service needs at run time. The first
 * part is for service authors; the second is what generated `*.micro.ts`
 * files and tsmicro's other packages import. Internals shared by tsmicro's
 * own packages are in `@tsmicro/runtime/internal`; the HTTP gateway and web
 * services are the separate package `@tsmicro/gateway`.
 */

// ---------------------------------------------------------------------------
// For service authors
// ---------------------------------------------------------------------------

// A service: serve handlers, register, call other services.
export { createService, type HandleOptions, type MicroService, type ServiceOptions } from "./service/service.js";
export type { ServiceSettings } from "./service/settings.js";
export type { ClientOf, HandlerOf, RequestStream } from "./definition/client.js";
export type { CallContext, CallOptions, Compression, Metadata } from "./definition/call.js";
export { gatewayClaims, type GatewayClaims } from "./definition/gateway-claims.js";
export { activeTraceId } from "./tracing/active-trace-fields.js";

// Clients without a server: through the registry, or to a known address.
export { connect, type ConnectOptions, type Connection } from "./service/connect.js";
export { createDirectCaller, type DirectCallerOptions } from "./client/direct-caller.js";
export { createGrpcClientTransport, type GrpcClientTransportOptions } from "./transport/grpc-client.js";
export { createH2ClientTransport, type H2ClientTransportOptions } from "./transport/h2-client.js";
export type { ClientTransport } from "./transport/transport.js";
export { checkHealth, type CheckHealthOptions } from "./health/check-health.js";

// Errors.
export { Code, codeName, isTsmicroError, TsmicroError, type TsmicroErrorOptions } from "./errors/tsmicro-error.js";
export { errorReasonOf, type ErrorReason } from "./errors/error-details.js";
export { failedService, failedServiceKey } from "./errors/failed-service.js";
export { httpStatusOf } from "./errors/http-status.js";
export { isSetupError, SetupError } from "./errors/setup-error.js";

// Discovery: the registry interface and its three backends, and node selection.
export type {
  Endpoint,
  Node,
  RegisterOptions,
  Registry,
  RegistryEvent,
  Service,
  Watcher,
  WatchOptions,
} from "./registry/registry.js";
export { createRegistry } from "./service/create-registry.js";
export { createMemoryRegistry, type MemoryRegistryOptions } from "./registry/memory-registry.js";
export { createLocalRegistry, type LocalRegistryOptions } from "./registry/local-registry.js";
export { createEtcdRegistry, type EtcdRegistryOptions } from "./registry/lazy-etcd-registry.js";
export type { Next, NodeState, Selector, Strategy } from "./selector/selector.js";
export { leastInflight, random, roundRobin } from "./selector/strategies.js";

// Pub/sub: the broker interface and its backends (memory, the embedded http default, NATS with JetStream).
export type {
  Broker,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from "./broker/broker.js";
export { createBroker, type CreateBrokerOptions } from "./broker/create-broker.js";
export { brokerSettingsFrom, type BrokerSettings } from "./broker/broker-settings.js";
export { createMemoryBroker, type MemoryBrokerOptions } from "./broker/memory-broker.js";
export type { JetStreamOptions } from "./broker/nats-broker.js";
// Typed events from the proto: service.publisher(XEvents), service.subscribe(XEvents, handler).
export type { EventContext, EventHandlerOf, PublisherOf } from "./definition/events.js";
export type { EventSubscribeOptions } from "./service/service-events.js";

// Middleware and protection: circuit breakers, rate limits, bulkheads, load shedding.
export type { CallResult, ClientCall, ClientMiddleware, ServerCall, ServerMiddleware } from "./transport/transport.js";
export {
  isBreakerOpen,
  type BreakerFallback,
  type BreakerMethodOptions,
  type BreakerOptions,
} from "./middleware/breaker.js";
export type { HedgingPolicies, HedgingPolicy } from "./client/hedging.js";
export type { AttemptTimeout, AttemptTimeouts } from "./client/attempt-timeout.js";
export type { ProtectionOptions } from "./middleware/protection-settings.js";
export type { RateLimitOptions } from "./middleware/rate-limit.js";
export type { BulkheadOptions } from "./middleware/bulkhead.js";
export type { LoadShedderOptions } from "./middleware/load-shedder.js";

// Metrics: the process's Prometheus registry that `/metrics` serves, for a service's own metrics.
export { metricsRegistry, type MetricsRegistry } from "./metrics/process-registry.js";

// Logging.
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logging/logger.js";

// Work a handler does for its call whatever the caller does: its caller's cancel and deadline do not bound it.
export { withoutCancel } from "./service/served-call.js";

// Tests: a handler's CallContext, for calling it directly.
export { testCallContext, type TestCallContextOptions } from "./service/test-call-context.js";

// Configuration: layered sources (defaults < file < env < etcd), validated by any Standard Schema library, watched.
export { createConfig, type ConfigOptions } from "./config/create-config.js";
export type {
  Config,
  ConfigPath,
  ConfigSource,
  ConfigTree,
  ConfigValue,
  ConfigValueAt,
  ConfigWatcher,
  SourceEvents,
  SourceWatch,
  Unwatch,
} from "./config/config.js";
export { fileSource, type FileSourceOptions } from "./config/file-source.js";
export { envSource, type EnvSourceOptions } from "./config/env-source.js";
export { etcdSource, type EtcdSourceOptions } from "./config/etcd-source.js";
export { createMemorySource, type MemorySource } from "./config/memory-source.js";
export { serviceConfigSources, type ServiceConfigSourcesOptions } from "./config/service-sources.js";

// ---------------------------------------------------------------------------
// For generated code and other tsmicro packages. Generated `*.micro.ts` files
// import these; a service author rarely needs them by name.
// ---------------------------------------------------------------------------

export type {
  DeepPartial,
  HttpRule,
  Idempotency,
  InputOf,
  MessageCodec,
  MethodDefinition,
  MethodKind,
  OutputOf,
  RouteBinding,
  ServiceDefinition,
  ServiceRoutes,
} from "./definition/definition.js";
export type { EventDefinition, EventOf, EventsDefinition } from "./definition/events.js";
export { eventContentTypes } from "./definition/events.js";
export type { Caller } from "./definition/call.js";
export type { ClientMethod, HandlerMethod } from "./definition/client.js";
export { createClient } from "./definition/client.js";
export { hasErrorReason, reasonError, type ErrorDetail } from "./errors/error-details.js";
export { dynamicMethod } from "./definition/dynamic-method.js";
export {
  createReflectionClient,
  type ReflectionClient,
  type ReflectionClientOptions,
} from "./transport/reflection-client.js";
