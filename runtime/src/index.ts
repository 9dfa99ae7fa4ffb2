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

// Clients without a server: through the registry, or to a known address.
export { connect, type ConnectOptions, type Connection } from "./service/connect.js";
export { createDirectCaller, type DirectCallerOptions } from "./client/direct-caller.js";
export { createGrpcClientTransport, type GrpcClientTransportOptions } from "./transport/grpc-client.js";
export type { ClientTransport } from "./transport/transport.js";
export { checkHealth, type CheckHealthOptions } from "./health/check-health.js";

// Errors.
export { Code, codeName, isTsmicroError, TsmicroError, type TsmicroErrorOptions } from "./errors/tsmicro-error.js";
export { errorReasonOf, type ErrorReason } from "./errors/error-details.js";
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

// Middleware and protection: circuit breakers, rate limits, bulkheads, load shedding.
export type { CallResult, ClientCall, ClientMiddleware, ServerCall, ServerMiddleware } from "./transport/transport.js";
export {
  isBreakerOpen,
  type BreakerFallback,
  type BreakerMethodOptions,
  type BreakerOptions,
} from "./middleware/breaker.js";
export type { ProtectionOptions } from "./middleware/protection-settings.js";
export type { RateLimitOptions } from "./middleware/rate-limit.js";
export type { BulkheadOptions } from "./middleware/bulkhead.js";
export type { LoadShedderOptions } from "./middleware/load-shedder.js";

// Logging.
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logging/logger.js";

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
