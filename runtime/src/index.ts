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
export type { CallContext, CallOptions, Caller, Compression, Metadata } from "./definition/call.js";
export type { ClientMethod, ClientOf, HandlerMethod, HandlerOf, RequestStream } from "./definition/client.js";
export { createClient } from "./definition/client.js";
export { errorCatalogue, formatError, type ErrorCode } from "./errors/catalogue.js";
export { SetupError, isSetupError } from "./errors/setup-error.js";
export { Code, codeName, TsmicroError, isTsmicroError, type TsmicroErrorOptions } from "./errors/tsmicro-error.js";
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
export { registryDefaults } from "./registry/registry.js";
export type { Next, NodeState, SelectOptions, Selector, Strategy } from "./selector/selector.js";
export type {
  CallResult,
  ClientCall,
  ClientHandler,
  ClientMiddleware,
  ClientTransport,
  ServerCall,
  ServerHandler,
  ServerMiddleware,
  ServerTransport,
} from "./transport/transport.js";
export { chain } from "./transport/transport.js";
export { createDirectCaller, type DirectCallerOptions } from "./client/direct-caller.js";
export { createRpcCaller, defaultBackoff, type RpcClientOptions } from "./client/rpc-client.js";
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logging/logger.js";
export { createRegistrySelector, type RegistrySelectorOptions } from "./selector/registry-selector.js";
export { leastInflight, random, roundRobin, strategies } from "./selector/strategies.js";
export { createRegistry } from "./service/create-registry.js";
export { createService, type HandleOptions, type MicroService, type ServiceOptions } from "./service/service.js";
export { connect, type ConnectOptions, type Connection } from "./service/connect.js";
export {
  defaultServiceSettings,
  resolveServiceSettings,
  serviceFlagNames,
  type ServiceSettings,
} from "./service/settings.js";
export { createGrpcClientTransport, type GrpcClientTransportOptions } from "./transport/grpc-client.js";
export {
  createGrpcServerTransport,
  type GrpcServerTransport,
  type GrpcServerTransportOptions,
  type ServerErrorLogger,
} from "./transport/grpc-server.js";
export { createMemoryRegistry, type MemoryRegistryOptions } from "./registry/memory-registry.js";
export { createLocalRegistry, defaultLocalRegistryDir, type LocalRegistryOptions } from "./registry/local-registry.js";
export { createEtcdRegistry, type EtcdRegistryOptions } from "./registry/etcd-registry.js";
export {
  decodeStatus,
  encodeStatus,
  errorReasonDetail,
  errorReasonOf,
  hasErrorReason,
  reasonError,
  statusDetailsKey,
  type ErrorDetail,
  type ErrorReason,
} from "./errors/error-details.js";
export { httpStatusByCode, httpStatusOf } from "./errors/http-status.js";
export {
  breakerFailureCodes,
  breakerMiddleware,
  breakerOpenReason,
  countsAsFailure,
  isBreakerOpen,
  type BreakerFallback,
  type BreakerMethodOptions,
  type BreakerMiddleware,
  type BreakerOptions,
  type BreakerState,
  type BreakerStats,
} from "./middleware/breaker.js";
export {
  breakerFlagNames,
  breakerSettingsFrom,
  checkBreakerSettings,
  defaultBreakerSettings,
  type BreakerSettings,
} from "./middleware/breaker-settings.js";
export {
  checkRateLimitSettings,
  defaultRateLimitSettings,
  rateLimitMiddleware,
  rateLimitedReason,
  type RateLimitOptions,
  type RateLimitSettings,
} from "./middleware/rate-limit.js";
export {
  bulkheadFullReason,
  bulkheadMiddleware,
  checkBulkheadSettings,
  defaultBulkheadSettings,
  type BulkheadMiddleware,
  type BulkheadOptions,
  type BulkheadSettings,
  type BulkheadStats,
} from "./middleware/bulkhead.js";
export {
  loadShedderMiddleware,
  overloadedReason,
  type LoadShedderMiddleware,
  type LoadShedderOptions,
  type LoadShedderStats,
} from "./middleware/load-shedder.js";
export {
  mergeProtection,
  protectionFlagNames,
  protectionMiddleware,
  protectionSettingsFrom,
  type Protection,
  type ProtectionOptions,
} from "./middleware/protection-settings.js";
export {
  parsePathTemplate,
  type PathSegment,
  type PathTemplate,
  type PlainSegment,
  type VariableSegment,
} from "./routing/path-template.js";
export { compileTemplate, type CompiledTemplate } from "./routing/compile-template.js";
export {
  createRouter,
  type RouteConflict,
  type RouteDefinition,
  type RouteMatch,
  type Router,
} from "./routing/router.js";
export {
  buildRequestFields,
  lowerCamel,
  type RequestFields,
  type RequestFieldsInput,
} from "./routing/request-fields.js";
export { readHttpRules, type HttpBinding } from "./routing/http-rules.js";
export { dynamicCodec, dynamicMethod } from "./definition/dynamic-method.js";
export {
  createReflectionClient,
  type ReflectionClient,
  type ReflectionClientOptions,
} from "./transport/reflection-client.js";
export { HealthCheckResponse_ServingStatus } from "./gen/grpc/health/v1/health.js";
export { HealthDefinition, type HealthClient } from "./gen/grpc/health/v1/health.micro.js";
export { checkHealth, type CheckHealthOptions } from "./health/check-health.js";
