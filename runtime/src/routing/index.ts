/**
 * `@tsmicro/runtime/routing`: google.api.http rules, path templates and the
 * router, without the rest of the runtime, for the code generator and the
 * CLI's route table.
 */
export {
  parsePathTemplate,
  type PathSegment,
  type PathTemplate,
  type PlainSegment,
  type VariableSegment,
} from "./path-template.js";
export { compileTemplate, type CompiledTemplate } from "./compile-template.js";
export { overlappingPath } from "./template-overlap.js";
export {
  createRouter,
  type RouteConflict,
  type RouteDefinition,
  type RouteMatch,
  type Router,
} from "./router.js";
export {
  buildRequestFields,
  isPlainObject,
  lowerCamel,
  queryStringMessages,
  type RequestFields,
  type RequestFieldsInput,
} from "./request-fields.js";
export { readHttpRules, type HttpBinding } from "./http-rules.js";
export {
  createPathSpellings,
  openApiOperationId,
  singular,
  toOpenApiPath,
  type OpenApiPath,
  type PathParameter,
  type PathSpelling,
  type PathSpellings,
} from "./openapi-path.js";
