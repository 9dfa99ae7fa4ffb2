/**
 * `@tsmicro/runtime/internal`: what tsmicro's own packages share — the
 * generator, the CLI and `@tsmicro/gateway` — and a service author never
 * imports. Not a public API: it changes with tsmicro's packages, which are
 * always released together at one version.
 */

// The routing core: google.api.http path templates, their matcher, the route
// table and request fields, read by the generator (routes, OpenAPI, route
// conflicts) and served by the gateway.
export * from "./routing/index.js";

// What metadata from outside may hold: the gateway's forwarded headers, tsmicro call --metadata.
export { isMetadataKey, isMetadataText, isReservedMetadataKey } from "./definition/metadata-rules.js";

// A TsmicroError's copy with another message or metadata: what a client or the gateway adds to a failure.
export { copyOfError } from "./errors/tsmicro-error.js";
// The message of anything thrown.
export { isAnswerTooLarge, messageOf } from "./transport/call-errors.js";
// Why a file could not be read, in words: the gateway's config and key files, as config files say it.
export { fileReadProblem } from "./config/file-read-problem.js";
// The registry name the embedded http broker registers subscriptions under (`tsmicro.broker`): no service to call.
export { httpBrokerDefaults } from "./broker/http-broker.js";

// What a gateway compares to see a new build of a service, and which nodes serve it (see nodeRecord).
export { endpointsFingerprint, endpointsSignature } from "./registry/endpoints-fingerprint.js";

// JSON.parse keeping int64 values past 2^53 exact: the gateway's bodies, tsmicro call's requests.
export { parseExactJson } from "./definition/exact-json.js";
// Where and why text is not JSON, in tsmicro's words: the gateway's bodies and config, tsmicro call's requests.
export { jsonMistake, type JsonMistake, repeatedKeyText } from "./definition/json-mistake.js";
// The first key JSON text writes twice in one object: config files and the gateway's bodies refuse it.
export { type DuplicateKey, duplicateKey } from "./config/json-key-offset.js";
export { claimsMetadataKeys } from "./definition/gateway-claims.js";

// Where a request's JSON fails to decode (`at book.tags[1] (5)`): the gateway's 400s, tsmicro call's refusals.
export { faultPlace, jsonFault } from "./definition/json-fault.js";

// proto2 required fields, checked by the gateway on requests it builds from JSON.
export { hasRequiredFields, missingRequiredField } from "./definition/required-fields.js";

// The service lifecycle, settings and flags that createService, the gateway
// and web services share.
export {
  advertised,
  ensureCanListen,
  listenMetrics,
  listenError,
  nodeRecord,
  readOrDefer,
  Registration,
  RegistryUse,
  runUntilSignal,
} from "./service/lifecycle.js";
export { resolveServiceSettings } from "./service/settings.js";
export { serviceLogger, type LoggerIdentity } from "./service/service-logger.js";
export {
  checkFlagSpelling,
  count,
  duration,
  isFlagValue,
  missingValue,
  onOff,
  oneOf,
  readFlags,
  type FlagParser,
} from "./service/flag-values.js";
export { checkRuntimeFlags, runtimeFlagNames, runtimeFlagUsage } from "./service/flag-names.js";
// Which flags are whose: what the gateway and the dashboard warn they do not read (a service's protection, database, broker).
export { brokerFlagNames } from "./broker/broker-settings.js";
export { databaseFlagNames } from "./database/database-options.js";
export { protectionFlagNames } from "./middleware/protection-settings.js";
export { asksForHelp, HelpRequested, serviceHelp } from "./service/service-help.js";
export { createLockFile } from "./database/data-dir-lock.js";
export {
  type LockHolderRecord,
  lockHolderRuns,
  recordedRunOf,
  thisProcessRecord,
} from "./platform/process-identity.js";

// Clients, selection and resilience as the gateway builds them.
export { RegistryClients } from "./client/registry-clients.js";
export { clientTransportOf, type ClientWireSettings } from "./transport/client-transport-of.js";
export { createRegistrySelector } from "./selector/registry-selector.js";
export { strategies } from "./selector/strategies.js";
export { breakerSettingsFrom } from "./middleware/breaker-settings.js";
export { defaultBurst, fullBucket, takeToken, type TokenBucket } from "./middleware/token-bucket.js";

// gRPC error details, as the gateway maps them to and from HTTP.
export { errorReasonDetail, retryDelayOf } from "./errors/error-details.js";
export {
  BadRequest,
  ErrorInfo,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from "./gen/google/rpc/error_details.js";

// Flags and settings as the CLI reads and lists them.
export { defaultServiceSettings, serviceFlagNames, serviceFlagUsage } from "./service/settings.js";
export { breakerFlagNames } from "./middleware/breaker-settings.js";

// Building blocks of a client, for the CLI and the benchmarks.
export { breakerMiddleware, type BreakerMiddleware } from "./middleware/breaker.js";
export { createRpcCaller, defaultBackoff, type RpcClientOptions } from "./client/rpc-client.js";
export { chain } from "./transport/transport.js";
export { writable } from "./platform/writable.js";

// Metrics as the gateway and the CLI record and serve them.
export { metricsRegistry, type MetricsRegistry } from "./metrics/process-registry.js";
export { httpRequestMetrics, type HttpRequestObserver } from "./metrics/http-metrics.js";
export { metricsListenAddress } from "./service/settings.js";
export { MetricsServer } from "./metrics/metrics-server.js";
export { eventMetrics, type EventMetrics } from "./metrics/event-metrics.js";

// The config commands of the CLI (tsmicro config get|set|del|watch|import); they load etcd3 on first use.
export {
  configAddresses,
  configDelete,
  configGet,
  configImport,
  configSet,
  configWatch,
  type ConfigCommandOptions,
} from "./config/config-commands.js";
export { etcdCredentialsFromEnv } from "./registry/etcd-address.js";

// The grpc.health.v1 client, generated into the runtime.
export { HealthCheckResponse_ServingStatus } from "./gen/grpc/health/v1/health.js";
export { HealthDefinition, type HealthClient } from "./gen/grpc/health/v1/health.micro.js";
export { httpNodeHealth, isHttpNode } from "./health/check-health.js";

// Tracing as the gateway and web services run it: settings, the owned provider, HTTP server spans.
export { resolveTracingSettings, type TracingSettings } from "./tracing/tracing-settings.js";
export { TracingUse } from "./tracing/tracing-use.js";
export { startHttpServerSpan, type HttpServerSpan, type HttpRequestFacts } from "./tracing/http-server-span.js";

// The topics every broker refuses, as the gateway's event handler refuses a path before publishing.
export { checkTopic } from "./broker/broker-checks.js";
// Publishing as the gateway's event handler does it: a PRODUCER span and its traceparent in the headers.
export { tracedPublish } from "./tracing/messaging-span.js";

// Keeps credentials out of what the dashboard shows of node metadata, and of the CLI's error lines, as out of logs.
export { redacted, redactText, redactValue, urlPassword } from "./logging/redact.js";
