/**
 * The definition types and `createClient`, for code generated inside this
 * package (its `runtime_import`): importing the package index from there
 * would be an import cycle.
 */
export type { CallContext, CallOptions, Caller, Metadata } from "./call.js";
export { createClient, type ClientOf, type HandlerOf, type RequestStream } from "./client.js";
export type { DeepPartial, MessageCodec, MethodDefinition, ServiceDefinition, ServiceRoutes } from "./definition.js";
export type { EventContext, EventsDefinition } from "./events.js";
