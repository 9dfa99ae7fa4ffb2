import type { DescFile, FileRegistry, JsonObject, JsonValue } from "@bufbuild/protobuf";
import {
  compileTemplate,
  createPathSpellings,
  openApiOperationId,
  readHttpRules,
  type PathSpelling,
} from "@tsmicro/runtime/routing";
import type { BackendService } from "./backend-catalogue.js";
import { bindingsBeside, type DocumentedBinding } from "./binding-paths.js";
import type { RuleBinding, RuleOperation, TokenUse } from "./route-rules.js";

/**
 * Builds the OpenAPI document of one proto file, naming fields as the gateway's JSON does
 * (`useProtoNames`: `--json_use_proto_names`); `tsmicro api` passes the generator's.
 */
export type OpenApiBuilder = (
  file: DescFile,
  registry: FileRegistry,
  options: { readonly useProtoNames: boolean },
) => JsonObject;

/** What the gateway does to requests, as the merged document describes it. */
export interface MergeOpenApiOptions {
  /** The gateway's path prefix, put before every path. */
  readonly prefix: string;
  /** Fields by their proto names, as the gateway writes them (`--json_use_proto_names`). */
  readonly useProtoNames?: boolean;
  /**
   * Whether requests to an operation need a bearer JWT, may send one, or send none that is looked
   * at (`path` is the merged document's), by the rules of its path or of its method's other
   * bindings as its requests fill them (`elsewhere`, see bindingsBeside); default none.
   */
  readonly tokenUse?: (operation: RuleOperation, elsewhere: readonly RuleBinding[]) => TokenUse;
  /** Whether requests to an operation are rate-limited by the gateway, so may be answered 429 (as tokenUse); default never. */
  readonly rateLimited?: (operation: RuleOperation, elsewhere: readonly RuleBinding[]) => boolean;
}

/** The name of the security scheme of routes the gateway protects with JWT. */
export const bearerSchemeName = "bearerAuth";

/** A binding as its file's document lists it, with the RPC it calls. */
interface Binding {
  readonly typeName: string;
  readonly rpc: string;
  readonly template: string;
  readonly operationId: string;
}

/** An operation of a file's document, with where it falls in the gateway's route table. */
interface Operation {
  readonly binding: Binding;
  readonly method: string;
  /** Its path in its file's document, prefixed. */
  readonly path: string;
  readonly body: JsonObject;
  /** The route's shape in the gateway's router, where `*` and `**` differ. */
  readonly routeShape: string;
  /** Its service's place in the route table: a later route serves what an earlier one also claims. */
  readonly order: number;
}

const bearerScheme: JsonObject = { type: "http", scheme: "bearer", bearerFormat: "JWT" };

const unauthenticated: JsonObject = {
  description: "A missing or invalid bearer token, as a google.rpc.Status.",
  headers: { "WWW-Authenticate": { description: "The bearer challenge (RFC 6750).", schema: { type: "string" } } },
  content: { "application/json": { schema: { $ref: "#/components/schemas/google.rpc.Status" } } },
};

const rateLimited: JsonObject = {
  description: "Over the gateway's rate limit for this route, as a google.rpc.Status (RESOURCE_EXHAUSTED).",
  headers: { "Retry-After": { description: "Seconds until a request may succeed.", schema: { type: "integer" } } },
  content: { "application/json": { schema: { $ref: "#/components/schemas/google.rpc.Status" } } },
};

/** `operation` with one more response, listed before its `default`. */
function withResponse(operation: JsonObject, status: string, response: JsonObject): JsonObject {
  const { default: fallback, ...responses } = (operation.responses ?? {}) as JsonObject;
  return {
    ...operation,
    responses: { ...responses, [status]: response, ...(fallback === undefined ? {} : { default: fallback }) },
  };
}

/**
 * The merged OpenAPI 3.1 document of every routed service, paths under the prefix, with their
 * events as webhooks. Each operation, tag, summary and description is as in its file's document;
 * operations are merged per path and method. Paths OpenAPI holds to be the same (parameter names
 * aside) are spelled one way, as the generator does in one file (createPathSpellings). Where two
 * files claim one route the operation the gateway serves is listed (the last registered, as the
 * router decides) and the other goes to `x-unlisted-routes` with the reason; where OpenAPI cannot
 * tell two routes apart (`{a=**}` and `{a}`) the first stays. An operationId two services share
 * is qualified by package (`acme_v1_Library_GetShelf`). Operations whose route needs a JWT carry
 * the bearer scheme and a 401 answer.
 */
export function mergeOpenApi(
  services: readonly BackendService[],
  build: OpenApiBuilder,
  options: MergeOpenApiOptions,
): JsonObject {
  const { prefix } = options;
  const routed = routeOrder(services);
  const schemas: Record<string, JsonValue> = {};
  const webhooks: Record<string, JsonValue> = {};
  const tags = new Map<string, JsonValue>();
  const operations: Operation[] = [];
  const unlisted: { binding: Binding; entry: JsonObject }[] = [];
  const rpcsById = new Map<string, Set<string>>();

  for (const { file, registry } of routedFiles(services)) {
    const document = build(file, registry, { useProtoNames: options.useProtoNames ?? false });
    const bindings = fileBindings(file, registry, routed);
    for (const binding of bindings.values())
      rpcsById.set(binding.operationId, (rpcsById.get(binding.operationId) ?? new Set()).add(binding.rpc));
    for (const tag of (document.tags ?? []) as JsonObject[])
      if (routed.has(String(tag.name)) && !tags.has(String(tag.name))) tags.set(String(tag.name), tag);
    for (const entry of (document["x-unlisted-routes"] ?? []) as JsonObject[]) {
      const binding = bindings.get(String(entry.operationId));
      if (binding) unlisted.push({ binding, entry: { ...entry, path: `${prefix}${String(entry.path)}` } });
    }
    for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, JsonObject>)) {
      for (const [method, body] of Object.entries(item as Record<string, JsonObject>)) {
        const binding = bindings.get(String(body.operationId));
        if (!binding) continue;
        const routeShape = compileTemplate(binding.template).shape;
        const order = routed.get(binding.typeName) ?? 0;
        operations.push({ binding, method, path: `${prefix}${path}`, body, routeShape, order });
      }
    }
    const components = (document.components ?? {}) as JsonObject;
    Object.assign(schemas, (components.schemas ?? {}) as JsonObject);
    Object.assign(webhooks, (document.webhooks ?? {}) as JsonObject);
  }

  // An operationId is qualified by package where two services use it.
  const idOf = (binding: Binding): string =>
    (rpcsById.get(binding.operationId)?.size ?? 0) > 1
      ? `${binding.typeName.slice(0, binding.typeName.lastIndexOf(".") + 1).replaceAll(".", "_")}${binding.operationId}`
      : binding.operationId;

  const spellings = createPathSpellings();
  const listed = new Map<string, Operation & { spelling: PathSpelling }>();
  // Stable: one file's operations keep their document's order.
  for (const operation of [...operations].sort((a, b) => a.order - b.order)) {
    const spelling = spellings.spell(operation.path);
    const key = `${operation.method} ${spelling.shape}`;
    const earlier = listed.get(key);
    const { binding } = operation;
    if (earlier && earlier.routeShape !== operation.routeShape) {
      const reason = `OpenAPI cannot tell its path from that of ${idOf(earlier.binding)} (${earlier.binding.template})`;
      unlisted.push({ binding, entry: unlistedRoute(operation, idOf(binding), reason, prefix) });
      continue;
    }
    if (earlier) {
      const reason = `${binding.rpc} (${binding.template}) claims the same route; the gateway serves the last one registered`;
      unlisted.push({ binding: earlier.binding, entry: unlistedRoute(earlier, idOf(earlier.binding), reason, prefix) });
    }
    listed.set(key, { ...operation, spelling });
  }

  const bindingsOf = new Map<string, DocumentedBinding[]>();
  for (const { binding, method } of operations)
    bindingsOf.set(binding.rpc, [...(bindingsOf.get(binding.rpc) ?? []), { method, template: binding.template }]);
  const paths = new Map<string, Map<string, JsonObject>>();
  let secured = false;
  for (const operation of listed.values()) {
    const path = operation.spelling.path;
    let body = renameParameters(operation.body, operation.spelling.renamed);
    body = { ...body, operationId: idOf(operation.binding) };
    const { rpc, template } = operation.binding;
    const subject = { rpc, method: operation.method, path };
    const elsewhere = bindingsBeside(rpc, { method: operation.method, template }, bindingsOf.get(rpc) ?? [], prefix);
    const tokenUse = options.tokenUse?.(subject, elsewhere) ?? "none";
    if (tokenUse !== "none") {
      secured = true;
      // An empty requirement is OpenAPI's "or no credentials at all".
      const bearer: JsonObject = { [bearerSchemeName]: [] };
      const security = tokenUse === "required" ? [bearer] : [bearer, {}];
      body = { ...withResponse(body, "401", unauthenticated), security };
    }
    if (options.rateLimited?.(subject, elsewhere)) body = withResponse(body, "429", rateLimited);
    const item = paths.get(path) ?? new Map<string, JsonObject>();
    paths.set(path, item.set(operation.method, body));
  }

  const unlistedRoutes = unlisted.map(({ binding, entry }) => ({ ...entry, operationId: idOf(binding) }));
  return {
    openapi: "3.1.0",
    info: { title: "tsmicro gateway", version: "1.0.0" },
    // Relative to where the document is served, so it holds behind a proxy as well.
    servers: [{ url: "/", description: "this gateway" }],
    security: [],
    ...(unlistedRoutes.length > 0 ? { "x-unlisted-routes": unlistedRoutes } : {}),
    tags: [...tags.values()],
    paths: Object.fromEntries(
      sorted([...paths]).map(([path, item]) => [path, Object.fromEntries(sorted([...item]))] as const),
    ),
    ...(Object.keys(webhooks).length > 0 ? { webhooks } : {}),
    components: {
      schemas,
      ...(secured ? { securitySchemes: { [bearerSchemeName]: bearerScheme } } : {}),
    },
  };
}

/**
 * Each routed proto service's place in the route table, which lists services by registry name
 * and then their proto services: the last place counts, as the router's last route wins.
 */
function routeOrder(services: readonly BackendService[]): Map<string, number> {
  const order = new Map<string, number>();
  let place = 0;
  for (const service of [...services].sort((a, b) => a.name.localeCompare(b.name)))
    for (const typeName of service.typeNames) {
      order.delete(typeName);
      order.set(typeName, place++);
    }
  return order;
}

/** Each file that holds a routed service, once, with the descriptors to build its document. */
function routedFiles(services: readonly BackendService[]): { file: DescFile; registry: FileRegistry }[] {
  const files = new Map<string, { file: DescFile; registry: FileRegistry }>();
  for (const service of [...services].sort((a, b) => a.name.localeCompare(b.name)))
    for (const typeName of service.typeNames) {
      const registry = service.descriptors.get(typeName);
      const file = registry?.getService(typeName)?.file;
      if (registry && file && !files.has(file.name)) files.set(file.name, { file, registry });
    }
  return [...files.values()];
}

/** The bindings of a file's routed services by the operationId its document gives them. */
function fileBindings(
  file: DescFile,
  registry: FileRegistry,
  routed: ReadonlyMap<string, number>,
): Map<string, Binding> {
  const bindings = new Map<string, Binding>();
  for (const service of file.services) {
    if (!routed.has(service.typeName)) continue;
    for (const method of service.methods)
      readHttpRules(registry, method.proto.options).forEach((rule, index) => {
        const operationId = openApiOperationId(service.name, method.name, index);
        const rpc = `${service.typeName}.${method.name}`;
        bindings.set(operationId, { typeName: service.typeName, rpc, template: rule.path, operationId });
      });
  }
  return bindings;
}

/** An operation listed in its file but not served as such here. */
function unlistedRoute(operation: Operation, operationId: string, reason: string, prefix: string): JsonObject {
  return {
    method: operation.method.toUpperCase(),
    path: `${prefix}${operation.binding.template}`,
    operationId,
    reason,
  };
}

/** An operation with its path parameters renamed, in their names and in the values their descriptions spell. */
function renameParameters(body: JsonObject, renamed: ReadonlyMap<string, string>): JsonObject {
  if (renamed.size === 0 || !Array.isArray(body.parameters)) return body;
  const rename = (text: string) =>
    text.replace(/\{([^}]*)\}/g, (whole, name: string) => {
      const to = renamed.get(name);
      return to === undefined ? whole : `{${to}}`;
    });
  const parameters = (body.parameters as JsonObject[]).map((parameter) => {
    if (parameter.in !== "path") return parameter;
    const name = String(parameter.name);
    const description = typeof parameter.description === "string" ? rename(parameter.description) : undefined;
    return {
      ...parameter,
      name: renamed.get(name) ?? name,
      ...(description === undefined ? {} : { description }),
    };
  });
  return { ...body, parameters };
}

function sorted<T>(entries: [string, T][]): [string, T][] {
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
