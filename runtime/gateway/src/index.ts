/**
 * `@tsmicro/gateway`: the HTTP gateway (`tsmicro api`), custom gateways
 * (`mountRoutes`), web services and their proxy, JWT and rate limits. A package of its own so
 * services, which never serve HTTP, neither install nor load fastify and jose.
 */

// The gateway: `tsmicro api`, or embedded with createGateway.
export { createGateway, type Gateway, type GatewayOptions } from "./gateway.js";
export type { GatewaySettings } from "./gateway-settings.js";
export type { BackendCatalogue, BackendService, GatewayRoute } from "./backend-catalogue.js";
export type { OpenApiBuilder } from "./merge-openapi.js";
export type { JwtClaims, JwtOptions } from "./jwt-auth.js";
export type { RouteAuth, RouteRule } from "./route-rules.js";
export { loadGatewayConfig, type GatewayConfig } from "./gateway-config.js";

// The dashboard: `tsmicro web` (also `tsmicro api --dashboard on`).
export { createDashboard, type Dashboard, type DashboardOptions } from "./dashboard/dashboard.js";
export type { DashboardSettings } from "./dashboard/dashboard-settings.js";

// Generated route tables on your own fastify app.
export {
  mountRoutes,
  routesOf,
  type MethodHooks,
  type MountableRoutes,
  type MountRoutesOptions,
  type RouteHooks,
} from "./mount-routes.js";

// Web services (go-micro's web handler): a fastify app that registers like a service.
export { createWebService, type WebService, type WebServiceOptions } from "./web-service.js";
