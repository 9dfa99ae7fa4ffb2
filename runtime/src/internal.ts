/**
 * `@tsmicro/runtime/internal`: what tsmicro's own packages share — the
 * generator, the CLI and `@tsmicro/gateway` — and a service author never
 * imports. Not a public API: it changes with tsmicro's packages, which are
 * always released together at one version.
 */

// The routing core: google.api.http path templates, their matcher, the route
// table and request fields, read by the generator (routes, OpenAPI, route
// conflicts) and served by the gateway.
export {
  parsePathTemplate,
  type PathSegment,
  type PathTemplate,
  type PlainSegment,
  type VariableSegment,
} from "./routing/path-template.js";
export { compileTemplate, type CompiledTemplate } from "./routing/compile-template.js";
export { createRouter, type RouteConflict, type RouteDefinition, type RouteMatch, type Router } from "./routing/router.js";
export {
  buildRequestFields,
  lowerCamel,
  type RequestFields,
  type RequestFieldsInput,
} from "./routing/request-fields.js";
export { readHttpRules, type HttpBinding } from "./routing/http-rules.js";
