export type {
  DeepPartial,
  HttpRule,
  Idempotency,
  MessageCodec,
  MethodDefinition,
  MethodKind,
  ServiceDefinition,
} from "./definition/definition.js";
export type { CallContext, CallOptions, Caller, Metadata } from "./definition/call.js";
export type { ClientMethod, ClientOf, HandlerMethod, HandlerOf, RequestStream } from "./definition/client.js";
export { createClient } from "./definition/client.js";
export { errorCatalogue, formatError, type ErrorCode } from "./errors/catalogue.js";
export { SetupError, isSetupError } from "./errors/setup-error.js";
