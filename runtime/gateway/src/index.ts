/**
 * `@tsmicro/gateway`: the HTTP gateway (`tsmicro api`), custom gateways
 * (`mountRoutes`), web services and their proxy, JWT and rate limits. A package of its own so
 * services, which never serve HTTP, neither install nor load fastify and jose.
 */
export { createGateway, findMethod, type Gateway, type GatewayOptions } from "./gateway.js";
export { forwardedMetadata } from "./forwarded-metadata.js";
export { mergeOpenApi, type OpenApiBuilder } from "./merge-openapi.js";
export {
  defaultGatewaySettings,
  gatewayFlagNames,
  resolveGatewaySettings,
  type GatewaySettings,
} from "./gateway-settings.js";
export {
  createBackendCatalogue,
  type BackendCatalogue,
  type BackendCatalogueOptions,
  type BackendService,
  type GatewayRoute,
} from "./backend-catalogue.js";
export { gatewayMethods, queryFieldOf, queryValue, type GatewayMethod, type QueryField } from "./gateway-method.js";
export { errorResponse, requestMessage, responseJson, type ErrorBody, type HttpRequestParts } from "./http-mapping.js";
export {
  mountRoutes,
  routesOf,
  type MethodHooks,
  type MountableRoutes,
  type MountRoutesOptions,
  type RouteHooks,
} from "./mount-routes.js";
export { mapStream, sendStream } from "./http-stream.js";
export { createRouteGuard, gatewayRateLimitedReason, type RouteGuard, type RouteGuardOptions } from "./route-guard.js";
export { createWebService, type WebService, type WebServiceOptions } from "./web-service.js";
export { createWebProxy, serviceFromPath, webProxyRoutes, type WebProxy, type WebProxyOptions } from "./web-proxy.js";
export {
  claimsMetadata,
  createJwtVerifier,
  jwtMetadataKeys,
  type JwtClaims,
  type JwtOptions,
  type JwtVerifier,
} from "./jwt-auth.js";
export {
  createClientLimiter,
  type ClientLimiter,
  type ClientLimiterOptions,
  type ClientLimitResult,
} from "./client-limits.js";
export { createRouteRules, type RouteRule, type RouteRules, type ResolvedRule } from "./route-rules.js";
export { loadGatewayConfig, type GatewayConfig } from "./gateway-config.js";
