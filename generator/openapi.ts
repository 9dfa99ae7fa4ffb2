import type { DescEnum, DescField, DescFile, DescMessage, DescMethod, Registry } from "@bufbuild/protobuf";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { docLines, indexComments, type CommentIndex } from "./doc-comment.js";
import {
  compileTemplate,
  createPathSpellings,
  openApiOperationId,
  readHttpRules,
  toOpenApiPath,
  type HttpBinding,
  type OpenApiPath,
  type PathParameter,
  type PathSpellings,
  queryStringMessages,
} from "@tsmicro/runtime/routing";
import { fieldBehaviors } from "./field-behavior.js";
import { eventsNames, readEvents, type EventMessage } from "./event-model.js";
import { SchemaCollector, isWellKnown, type CommentLookup, type JsonSchema, type JsonValue } from "./openapi-schema.js";

/** HTTP methods an OpenAPI path item can hold; other custom kinds cannot be described and are left out. */
const openApiMethods = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/** The error body the gateway writes: a `google.rpc.Status` in proto3 JSON. */
const errorSchema: JsonSchema = {
  type: "object",
  properties: {
    code: { type: "integer", format: "int32", description: "The gRPC status code." },
    message: { type: "string" },
    details: {
      type: "array",
      items: { type: "object", properties: { "@type": { type: "string" } }, additionalProperties: true },
    },
  },
};

/**
 * The OpenAPI 3.1 document of a file's `google.api.http` routes, and of its
 * events (messages marked `(tsmicro.event)`) as `webhooks` keyed by topic, as
 * 2-space indented JSON with a trailing newline. Every binding, additional
 * ones included, is an operation on its expanded path (`/v1/{name=shelves/*}`
 * is `/v1/shelves/{shelf}`). Methods without bindings (reachable on the
 * default `/{package.Service}/{Method}` routes) are left out; bindings
 * OpenAPI cannot describe are listed in `x-unlisted-routes` with the reason:
 * a custom HTTP method, a route a later binding claims (the gateway serves
 * the last one), or a path OpenAPI cannot tell from another's (`{a=**}` and `{a}`).
 * Pure: the same descriptors always give the same bytes.
 */
export function buildOpenApi(
  file: DescFile,
  proto: FileDescriptorProto,
  registry: Registry,
  version: string,
  options: OpenApiOptions = {},
): string {
  return `${JSON.stringify(openApiDocument(file, indexComments(proto), registry, version, options), null, 2)}\n`;
}

/** How the document names things. */
export interface OpenApiOptions {
  /** Fields by their proto names (`create_time`), for a gateway that writes them so (`--json_use_proto_names`). */
  readonly useProtoNames?: boolean;
}

/**
 * The source-info paths (`6,0,2,1`) of the comments buildOpenApi prints for a file: the only
 * comments the generator keeps in the descriptors it embeds, so that a gateway, which builds
 * the document from those, prints the same summaries and descriptions.
 */
export function openApiCommentPaths(file: DescFile, proto: FileDescriptorProto, registry: Registry): Set<string> {
  const comments = new ReadComments(indexComments(proto));
  openApiDocument(file, comments, registry, "");
  return comments.read;
}

/** A comment index that remembers which of its comments were read. */
class ReadComments extends Map<string, string> {
  readonly read = new Set<string>();
  override get(path: string): string | undefined {
    const comment = super.get(path);
    if (comment !== undefined) this.read.add(path);
    return comment;
  }
}

function openApiDocument(
  file: DescFile,
  comments: CommentIndex,
  registry: Registry,
  version: string,
  options: OpenApiOptions = {},
): JsonSchema {
  const schemas = new SchemaCollector(
    commentLookup(file, comments),
    fieldBehaviors(registry),
    options.useProtoNames ?? false,
  );
  const paths = new Map<string, Map<string, JsonSchema>>();
  const unlisted = new Map<string, JsonSchema>();
  const spellings = createPathSpellings();
  const listed = new Map<string, Listed>();

  file.services.forEach((service, s) => {
    service.methods.forEach((method, m) => {
      const bindings = readHttpRules(registry, method.proto.options);
      const streamsRequests = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
      // Read only for a method the document lists: the comments read are those descriptors keep.
      const listable = bindings.length > 0 && !streamsRequests;
      const comment = listable ? commentText(comments.get(`6,${s},2,${m}`)) : undefined;
      bindings.forEach((binding, index) => {
        const operationId = openApiOperationId(service.name, method.name, index);
        const httpMethod = binding.method.toLowerCase();
        if (streamsRequests) {
          const reason = "the method streams requests, which HTTP/JSON cannot carry (the gateway answers 501)";
          unlisted.set(operationId, unlistedRoute(binding, operationId, reason));
          return;
        }
        if (!openApiMethods.has(httpMethod)) {
          unlisted.set(operationId, unlistedRoute(binding, operationId, "OpenAPI has no such HTTP method"));
          return;
        }
        const { expanded, shape } = spellPath(binding.path, spellings);
        const routeShape = compileTemplate(binding.path).shape;
        const earlier = listed.get(`${httpMethod} ${shape}`);
        if (earlier && earlier.routeShape !== routeShape) {
          const reason = `OpenAPI cannot tell its path from that of ${earlier.operationId} (${earlier.template})`;
          unlisted.set(operationId, unlistedRoute(binding, operationId, reason));
          return;
        }
        if (earlier) {
          // The same route twice: the gateway serves the last one declared, as grpc-gateway does.
          const reason = `${operationId} (${binding.path}) serves the same route; the last one declared wins`;
          unlisted.set(earlier.operationId, unlistedRoute(earlier.binding, earlier.operationId, reason));
        }
        listed.set(`${httpMethod} ${shape}`, { operationId, template: binding.path, binding, routeShape });
        const item = paths.get(expanded.path) ?? new Map<string, JsonSchema>();
        paths.set(expanded.path, item);
        item.set(httpMethod, operation(method, binding, operationId, expanded, comment, schemas));
      });
    });
  });

  return {
    openapi: "3.1.0",
    "x-generated-by": `protoc-gen-tsmicro v${version} from ${file.proto.name}; DO NOT EDIT`,
    info: { title: file.proto.name, version: packageVersion(file.proto.package) },
    // Said outright rather than left to the defaults they equal: paths relative to where the
    // document is served, and no authentication of the service's own (the gateway adds its JWT).
    servers: [{ url: "/" }],
    security: [],
    ...(unlisted.size > 0 ? { "x-unlisted-routes": [...unlisted.values()] } : {}),
    tags: file.services.map((service, s) => describe({ name: service.typeName }, commentText(comments.get(`6,${s}`)))),
    paths: Object.fromEntries(
      sorted([...paths]).map(([path, item]) => [path, Object.fromEntries(sorted([...item]))] as const),
    ),
    ...webhooks(file, readEvents(file, registry), comments, schemas),
    components: {
      schemas: Object.fromEntries(
        sorted([
          ...Object.entries(schemas.components()),
          ...(paths.size > 0 ? [["google.rpc.Status", errorSchema] as [string, JsonSchema]] : []),
        ]),
      ),
    },
  };
}

/** An operation on an OpenAPI path and method, with what decides whether a later one is the same route. */
interface Listed {
  readonly operationId: string;
  readonly template: string;
  readonly binding: HttpBinding;
  /** The route's shape in the gateway's router, where `*` and `**` differ. */
  readonly routeShape: string;
}

/**
 * A binding's OpenAPI path and its shape (parameter names erased). OpenAPI holds paths differing
 * only in parameter names to be one path, so a later path of a shape already listed takes the
 * parameter names of the first (createPathSpellings, which the gateway's merged document shares).
 */
function spellPath(template: string, spellings: PathSpellings): { expanded: OpenApiPath; shape: string } {
  const expanded = toOpenApiPath(template);
  const spelling = spellings.spell(expanded.path);
  return {
    expanded: spelling.renamed.size > 0 ? toOpenApiPath(template, spelling.names) : expanded,
    shape: spelling.shape,
  };
}

function unlistedRoute(binding: HttpBinding, operationId: string, reason: string): JsonSchema {
  return { method: binding.method, path: binding.path, operationId, reason };
}

/** `v1` from `acme.library.v1`, `v1beta2` from `x.v1beta2`; "0" when the package has no version. */
export function packageVersion(pkg: string): string {
  const last = pkg.split(".").pop() ?? "";
  return /^v\d+((alpha|beta)\d*)?$/.test(last) ? last : "0";
}

/**
 * Events as OpenAPI 3.1 webhooks, one per topic: what the service sends
 * subscribers, in the proto3 JSON that `tsmicro api --handler event` takes
 * at `POST /{topic}` (subscribers receive protobuf).
 */
function webhooks(
  file: DescFile,
  events: readonly EventMessage[],
  comments: CommentIndex,
  schemas: SchemaCollector,
): JsonSchema {
  if (events.length === 0) return {};
  const { containerName } = eventsNames(file);
  const entries = events.map(({ message, topic, path }): [string, JsonSchema] => {
    const [summary, ...rest] = (commentText(comments.get(path)) ?? "").split(/\n\s*\n/);
    const op: JsonSchema = {
      operationId: `${containerName}_${message.name}`,
      "x-topic": topic,
      "x-message-type": message.typeName,
    };
    op.summary = summary ? summary.replace(/\s*\n\s*/g, " ") : message.name;
    if (rest.length > 0) op.description = rest.join("\n\n");
    if (message.deprecated) op.deprecated = true;
    op.requestBody = { required: true, content: { "application/json": { schema: schemas.message(message) } } };
    op.responses = { "202": { description: "Accepted by the subscriber." } };
    return [topic, { post: op }];
  });
  return { webhooks: Object.fromEntries(sorted(entries)) };
}

function operation(
  method: DescMethod,
  binding: HttpBinding,
  operationId: string,
  path: OpenApiPath,
  comment: string | undefined,
  schemas: SchemaCollector,
): JsonSchema {
  const input = method.input;
  const parameters: JsonValue[] = path.parameters.map((parameter) => pathParameter(input, parameter, schemas));
  const bound = new Set(path.boundFields);
  if (binding.body !== "*") {
    const excluded = binding.body === undefined ? bound : new Set([...bound, binding.body]);
    parameters.push(...queryParameters(input, "", "", excluded, new Set(), schemas));
  }
  const [summary, ...rest] = (comment ?? "").split(/\n\s*\n/);
  const op: JsonSchema = {
    operationId,
    tags: [method.parent.typeName],
  };
  // Viewers list operations by summary; a method without a comment is listed by its name.
  op.summary = summary ? summary.replace(/\s*\n\s*/g, " ") : method.name;
  if (rest.length > 0) op.description = rest.join("\n\n");
  if (method.deprecated) op.deprecated = true;
  if (parameters.length > 0) op.parameters = parameters;
  if (binding.body !== undefined) {
    const body = bodySchema(input, binding.body, path.boundFields, schemas);
    op.requestBody = { required: true, content: { "application/json": { schema: body } } };
  }
  const response =
    binding.responseBody === undefined
      ? schemas.message(method.output)
      : fieldSchema(method.output, binding.responseBody, schemas);
  op.responses = {
    "200": method.methodKind === "server_streaming" ? streamAnswer(method, response) : okAnswer(response),
    default: {
      description: "An error, as a google.rpc.Status.",
      content: { "application/json": { schema: { $ref: "#/components/schemas/google.rpc.Status" } } },
    },
  };
  return op;
}

function okAnswer(response: JsonSchema): JsonSchema {
  return { description: "OK", content: { "application/json": { schema: response } } };
}

/**
 * A server stream's answer as the gateway writes it: NDJSON, one `{"result": …}` object per
 * message and a last `{"error": …}` if the stream fails (as grpc-gateway documents its streams,
 * "Stream result of …"), or server-sent events for a client that accepts them.
 */
function streamAnswer(method: DescMethod, response: JsonSchema): JsonSchema {
  const line: JsonSchema = {
    title: `Stream result of ${method.output.typeName}`,
    type: "object",
    properties: { result: response, error: { $ref: "#/components/schemas/google.rpc.Status" } },
  };
  return {
    description:
      'OK: a stream, one JSON object per line, {"result": …} for each message and a last {"error": …} if the stream fails; with Accept: text/event-stream, server-sent events (each message as data, a failure as an error event).',
    content: { "application/x-ndjson": { schema: line }, "text/event-stream": { schema: { type: "string" } } },
  };
}

/**
 * A path parameter: one that is a whole field takes the field's schema and comment; one that is
 * part of a field (a segment of `shelves/{shelf}`) is a string naming the field it goes into.
 */
function pathParameter(input: DescMessage, parameter: PathParameter, schemas: SchemaCollector): JsonSchema {
  const { name, fieldPath, fieldValue, multiSegment } = parameter;
  // google.api.http: a client leaves a multi-segment variable's "/" unencoded, and the server keeps %2F as it is.
  const slash = multiSegment
    ? ' (the value may contain "/"; send it unencoded: an encoded %2F stays so in the field)'
    : "";
  if (fieldPath === undefined) {
    const description = `Any ${multiSegment ? "path segments" : "path segment"}${slash}; sets no request field.`;
    return { name, in: "path", required: true, description, schema: { type: "string" } };
  }
  if (fieldValue !== `{${name}}`) {
    const description = `Part of \`${fieldPath}\`, which the gateway sets to \`${fieldValue}\`${slash}.`;
    return { name, in: "path", required: true, description, schema: { type: "string" } };
  }
  const field = resolveField(input, fieldPath);
  const notes = [`Binds \`${fieldPath}\`; matches \`${multiSegment ? "**" : "*"}\`${slash}.`];
  const schema = field && field.fieldKind === "scalar" ? schemas.field(field) : { type: "string" };
  const description = typeof schema.description === "string" ? schema.description : undefined;
  if (description) notes.unshift(description);
  const { description: _, ...rest } = schema;
  return { name, in: "path", required: true, description: notes.join("\n\n"), schema: rest };
}

/**
 * Request fields the query string can set: scalars, enums, repeated scalars and the fields of
 * nested messages, OUTPUT_ONLY ones left out; REQUIRED ones (inside REQUIRED messages) are required.
 */
function queryParameters(
  message: DescMessage,
  protoPrefix: string,
  jsonPrefix: string,
  excluded: ReadonlySet<string>,
  seen: ReadonlySet<string>,
  schemas: SchemaCollector,
): JsonSchema[] {
  return message.fields.flatMap((field): JsonSchema[] => {
    const protoPath = protoPrefix + field.name;
    const name = jsonPrefix + schemas.nameOf(field);
    const behavior = schemas.behavior(field);
    if (excluded.has(protoPath) || behavior.outputOnly) return [];
    // A map of scalars or enums takes its entries as `name[key]=value`: OpenAPI's deepObject style.
    if (field.fieldKind === "map")
      return field.mapKind === "message"
        ? []
        : [{ name, in: "query", style: "deepObject", explode: true, ...describeParameter(schemas.field(field)) }];
    const nested = field.fieldKind === "message" ? field.message : undefined;
    if (nested && !isWellKnown(nested)) {
      if (seen.has(nested.typeName)) return [];
      const inner = new Set([...seen, message.typeName, nested.typeName]);
      const parameters = queryParameters(nested, `${protoPath}.`, `${name}.`, excluded, inner, schemas);
      // A required field inside an optional message is required only when the message is sent.
      return behavior.required ? parameters : parameters.map(({ required: _, ...rest }) => rest);
    }
    // Struct, Value, Any and the like take JSON, which a query string does not carry.
    if (nested && !queryStringMessages.has(nested.typeName)) return [];
    // Repeated messages take JSON too, but for those a string sets (`?ts=…&ts=…`, as the gateway reads them).
    if (field.fieldKind === "list" && field.listKind === "message" && !queryStringMessages.has(field.message.typeName))
      return [];
    const required: JsonSchema = behavior.required ? { required: true } : {};
    return [{ name, in: "query", ...required, ...describeParameter(schemas.field(field)) }];
  });
}

/** Moves a schema's description onto the parameter, where viewers show it. */
function describeParameter(schema: JsonSchema): JsonSchema {
  const { description, ...rest } = schema;
  return description === undefined ? { schema: rest } : { description, schema: rest };
}

/** The request body: the message (`*`) or one field of it, without the fields the path sets. */
function bodySchema(
  input: DescMessage,
  body: string,
  fromPath: readonly string[],
  schemas: SchemaCollector,
): JsonSchema {
  if (body === "*") return schemas.bodyWithout(input, fromPath);
  const field = resolveField(input, body);
  const inner = fromPath.filter((p) => p.startsWith(`${body}.`)).map((p) => p.slice(body.length + 1));
  if (field?.fieldKind !== "message" || inner.length === 0) return fieldSchema(input, body, schemas);
  const schema = schemas.bodyWithout(field.message, inner);
  const { description } = schemas.field(field);
  return description === undefined ? schema : { ...schema, description };
}

function fieldSchema(message: DescMessage, fieldPath: string, schemas: SchemaCollector): JsonSchema {
  const field = resolveField(message, fieldPath);
  return field ? schemas.field(field) : {};
}

/** The field a dotted proto-name path leads to; undefined when the path names no field. */
function resolveField(message: DescMessage, fieldPath: string): DescField | undefined {
  let current: DescMessage | undefined = message;
  let field: DescField | undefined;
  for (const part of fieldPath.split(".")) {
    field = current?.fields.find((f) => f.name === part);
    if (!field) return undefined;
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return field;
}

/** Comments of a file's own messages, enums and fields (source info of imports differs between protoc and buf). */
function commentLookup(file: DescFile, comments: CommentIndex): CommentLookup {
  const path = (desc: DescMessage | DescEnum | DescField): string | undefined => {
    if (desc.kind === "field") {
      const parent = path(desc.parent);
      return parent && `${parent},2,${desc.parent.fields.indexOf(desc)}`;
    }
    if (desc.file !== file) return undefined;
    const parent = desc.parent;
    if (desc.kind === "message") {
      return parent ? `${path(parent)},3,${parent.nestedMessages.indexOf(desc)}` : `4,${file.messages.indexOf(desc)}`;
    }
    return parent ? `${path(parent)},4,${parent.nestedEnums.indexOf(desc)}` : `5,${file.enums.indexOf(desc)}`;
  };
  return (desc) => {
    const key = path(desc);
    return key === undefined ? undefined : commentText(comments.get(key));
  };
}

function commentText(comment: string | undefined): string | undefined {
  const text = docLines(comment, false)
    .join("\n")
    .replace(/\*\\\//g, "*/")
    .trim();
  return text === "" ? undefined : text;
}

function describe(value: JsonSchema, description: string | undefined): JsonSchema {
  return description ? { ...value, description } : value;
}

function sorted<T>(entries: [string, T][]): [string, T][] {
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
