import { SetupError } from "@tsmicro/runtime/errors";
import { posix } from "node:path";
import type { DescFile, DescMethod, DescService, Registry } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { docLines, indexComments } from "./doc-comment.js";
import { buildErrorEnums, type ErrorEnumModel } from "./error-model.js";
import { buildEventsModel, eventsNames, type EventMessage, type EventsModel } from "./event-model.js";
import { readHttpRules } from "@tsmicro/runtime/routing";
import { ImportCollector, type ImportStatement } from "./import-collector.js";
import type { TsProtoSymbol } from "./ts-proto.js";

/** Everything the `micro.ts` template prints for one proto file. */
export interface MicroFileModel {
  readonly header: string;
  /** Base64 FileDescriptorSet of the file and its imports, as a string literal. */
  readonly fileDescriptorSetLiteral: string;
  /** What the descriptors serve, for their doc comment. */
  readonly fileDescriptorSetUse: string;
  readonly imports: readonly ImportStatement[];
  readonly services: readonly ServiceModel[];
  readonly errorEnums: readonly ErrorEnumModel[];
  /** Runtime identifiers the error constructors and checks use. */
  readonly errorNames: ErrorRuntimeNames;
  /** The file's events, when it marks messages with `(tsmicro.event)`. */
  readonly events: EventsModel | undefined;
  /** Runtime identifiers the events definition and its handler interface use. */
  readonly eventNames: EventRuntimeNames;
}

/** Identifiers of the runtime's event types as the generated file spells them. */
export interface EventRuntimeNames {
  readonly eventsDefinition: string;
  readonly eventContext: string;
}

/** Identifiers of the runtime's error helpers as the generated file spells them. */
export interface ErrorRuntimeNames {
  readonly code: string;
  readonly tsmicroError: string;
  readonly reasonError: string;
  readonly hasErrorReason: string;
}

/** One service, with the names of everything generated for it. */
export interface ServiceModel {
  readonly doc: readonly string[];
  /** The proto service's name, such as `Library`. */
  readonly name: string;
  /** The proto name as a string literal. */
  readonly typeNameLiteral: string;
  readonly fileLiteral: string;
  readonly deprecated: boolean;
  readonly definitionName: string;
  readonly handlerName: string;
  readonly clientName: string;
  readonly factoryName: string;
  /** The typed route table's name (`LibraryRoutes`); it is generated when `routes` is not empty. */
  readonly routesName: string;
  /** One object literal per `google.api.http` binding, naming the method by its TypeScript name. */
  readonly routes: readonly string[];
  readonly methods: readonly MethodModel[];
  readonly names: RuntimeNames;
}

/** One method, its signatures already spelled out. */
export interface MethodModel {
  readonly doc: readonly string[];
  readonly localName: string;
  /** The name as an interface member: `new` is quoted, or it would declare a construct signature. */
  readonly memberName: string;
  readonly nameLiteral: string;
  readonly pathLiteral: string;
  readonly kindLiteral: string;
  readonly input: string;
  readonly output: string;
  readonly inputTypeLiteral: string;
  readonly outputTypeLiteral: string;
  readonly idempotencyLiteral: string;
  readonly deprecated: boolean;
  /** Object literals of its `google.api.http` bindings. */
  readonly http: readonly string[];
  /** Each binding's fields as `key: literal` strings, for the route table. */
  readonly httpFields: readonly (readonly string[])[];
  readonly handlerSignature: string;
  readonly clientSignature: string;
}

/** Identifiers of the runtime's exports as the generated file spells them. */
export interface RuntimeNames {
  readonly serviceDefinition: string;
  readonly serviceRoutes: string;
  readonly caller: string;
  readonly createClient: string;
  readonly callContext: string;
  readonly callOptions: string;
  readonly deepPartial: string;
  readonly requestStream: string;
}

/**
 * Property names that would break a handler class or a client object:
 * `constructor` cannot be a class method, `then` makes an object a
 * thenable, and the rest shadow what logging and JSON rely on.
 */
const unsafeProperties = new Set(["constructor", "toString", "toJSON", "valueOf", "then", "__proto__"]);

/** The TypeScript name of a method: lower camel case, escaped with `$` where unsafe. */
export function methodLocalName(name: string): string {
  const local = name.charAt(0).toLowerCase() + name.slice(1);
  return unsafeProperties.has(local) ? `${local}$` : local;
}

const idempotency: Record<MethodOptions_IdempotencyLevel, string> = {
  [MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN]: "unknown",
  [MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS]: "no_side_effects",
  [MethodOptions_IdempotencyLevel.IDEMPOTENT]: "idempotent",
};

/** Globals generated code refers to; an imported message must not shadow them. */
const usedGlobals = ["Promise", "AsyncIterable"];

/** What building a file's model needs besides the file itself. */
export interface ModelContext {
  readonly registry: Registry;
  readonly symbols: ReadonlyMap<string, TsProtoSymbol>;
  readonly runtimeImport: string;
  readonly header: string;
  /** Base64 FileDescriptorSet of the file and its imports. */
  readonly fileDescriptorSet: string;
  /** The file's messages marked `(tsmicro.event)` (see readEvents). */
  readonly events: readonly EventMessage[];
}

/** Prepares the `micro.ts` model of a file that declares services. */
export function buildMicroFileModel(file: DescFile, proto: FileDescriptorProto, ctx: ModelContext): MicroFileModel {
  const comments = indexComments(proto);
  const errorEnums = buildErrorEnums(file, ctx.registry, comments);
  const exported = [
    "fileDescriptorSet",
    ...file.services.flatMap((s) => Object.values(serviceNames(s))),
    ...errorEnums.flatMap((e) => [e.containerName, ...e.values.map((v) => v.checkName)]),
    ...(ctx.events.length > 0 ? Object.values(eventsNames(file)) : []),
  ];
  const imports = new ImportCollector([...exported, ...usedGlobals]);
  const runtime = (name: string, typeOnly: boolean) => imports.use(ctx.runtimeImport, name, typeOnly);
  const kinds = new Set(file.services.flatMap((s) => s.methods.map((m) => m.methodKind)));
  const runtimeIf = (used: boolean, name: string, typeOnly = true) => (used ? runtime(name, typeOnly) : name);
  const hasServices = file.services.length > 0;
  const hasRoutes = file.services.some((s) =>
    s.methods.some((m) => readHttpRules(ctx.registry, m.proto.options).length > 0),
  );
  const hasErrors = errorEnums.length > 0;
  const errorNames: ErrorRuntimeNames = {
    code: runtimeIf(hasErrors, "Code", false),
    tsmicroError: runtimeIf(hasErrors, "TsmicroError"),
    reasonError: runtimeIf(hasErrors, "reasonError", false),
    hasErrorReason: runtimeIf(hasErrors, "hasErrorReason", false),
  };
  const names: RuntimeNames = {
    serviceDefinition: runtimeIf(hasServices, "ServiceDefinition"),
    serviceRoutes: runtimeIf(hasRoutes, "ServiceRoutes"),
    caller: runtimeIf(hasServices, "Caller"),
    createClient: runtimeIf(hasServices, "createClient", false),
    callContext: runtimeIf(kinds.size > 0, "CallContext"),
    callOptions: runtimeIf(kinds.size > 0, "CallOptions"),
    deepPartial: runtimeIf(kinds.has("unary") || kinds.has("server_streaming"), "DeepPartial"),
    requestStream: runtimeIf(kinds.has("client_streaming") || kinds.has("bidi_streaming"), "RequestStream"),
  };
  const hasEvents = ctx.events.length > 0;
  const eventNames: EventRuntimeNames = {
    eventsDefinition: runtimeIf(hasEvents, "EventsDefinition"),
    eventContext: runtimeIf(hasEvents, "EventContext"),
  };
  const fromDir = posix.dirname(file.proto.name);

  const message = (typeName: string): string => {
    const symbol = ctx.symbols.get(typeName);
    if (!symbol) throw new Error(`ts-proto produced no symbol for ${typeName}`);
    let from = posix.relative(fromDir, symbol.module);
    if (!from.startsWith(".")) from = `./${from}`;
    return imports.use(`${from}.js`, symbol.name, false);
  };

  const services = file.services.map((service, serviceIndex) => {
    refuseSameNames(service, file.proto.name, methodLocalName, (name) => `the method ${name} in TypeScript`);
    const methods = service.methods.map((method, methodIndex) =>
      buildMethodModel(method, comments.get(`6,${serviceIndex},2,${methodIndex}`), ctx.registry, message, names),
    );
    return {
      doc: docLines(comments.get(`6,${serviceIndex}`), service.deprecated),
      typeNameLiteral: JSON.stringify(service.typeName),
      fileLiteral: JSON.stringify(file.proto.name),
      deprecated: service.deprecated,
      name: service.name,
      ...serviceNames(service),
      routes: methods.flatMap((m) =>
        m.httpFields.map((fields) => `{ ${[...fields, `rpc: ${JSON.stringify(m.localName)}`].join(", ")} }`),
      ),
      methods,
      names,
    };
  });
  const events = buildEventsModel(file, ctx.events, comments, message);
  return {
    header: ctx.header,
    fileDescriptorSetLiteral: JSON.stringify(ctx.fileDescriptorSet),
    fileDescriptorSetUse: [
      ...(file.services.length > 0 ? ["for server reflection"] : []),
      ...(events ? ["for the gateway to check events' JSON"] : []),
    ].join(" and "),
    imports: imports.statements(),
    services,
    errorEnums,
    errorNames,
    events,
    eventNames,
  };
}

/**
 * Refuses two rpcs of `service` that `nameOf` names alike (`GetUser` and `getUser`): one
 * would overwrite the other. `what` says what that name is, for the message.
 */
export function refuseSameNames(
  service: DescService,
  file: string,
  nameOf: (rpc: string) => string,
  what: (name: string) => string,
): void {
  const seen = new Map<string, string>();
  for (const method of service.methods) {
    const name = nameOf(method.name);
    const other = seen.get(name);
    if (other !== undefined)
      throw new SetupError("TSM_ERR_METHOD_NAME", other, method.name, service.typeName, file, what(name));
    seen.set(name, method.name);
  }
}

function serviceNames(service: DescService) {
  return {
    definitionName: `${service.name}Definition`,
    handlerName: `${service.name}Handler`,
    clientName: `${service.name}Client`,
    factoryName: `create${service.name}Client`,
    routesName: `${service.name}Routes`,
  };
}

function buildMethodModel(
  method: DescMethod,
  comment: string | undefined,
  registry: Registry,
  message: (typeName: string) => string,
  names: RuntimeNames,
): MethodModel {
  const input = message(method.input.typeName);
  const output = message(method.output.typeName);
  const { callContext: context, callOptions: options, deepPartial: partial, requestStream: stream } = names;
  const localName = methodLocalName(method.name);

  let handlerSignature: string;
  let clientSignature: string;
  switch (method.methodKind) {
    case "unary":
      handlerSignature = `(request: ${input}, context: ${context}): Promise<${output}>`;
      clientSignature = `(request: ${partial}<${input}>, options?: ${options}): Promise<${output}>`;
      break;
    case "server_streaming":
      handlerSignature = `(request: ${input}, context: ${context}): AsyncIterable<${output}>`;
      clientSignature = `(request: ${partial}<${input}>, options?: ${options}): AsyncIterable<${output}>`;
      break;
    case "client_streaming":
      handlerSignature = `(requests: AsyncIterable<${input}>, context: ${context}): Promise<${output}>`;
      clientSignature = `(requests: ${stream}<${input}>, options?: ${options}): Promise<${output}>`;
      break;
    case "bidi_streaming":
      handlerSignature = `(requests: AsyncIterable<${input}>, context: ${context}): AsyncIterable<${output}>`;
      clientSignature = `(requests: ${stream}<${input}>, options?: ${options}): AsyncIterable<${output}>`;
      break;
  }

  const httpFields = readHttpRules(registry, method.proto.options).map((rule) => {
    const fields = [`method: ${JSON.stringify(rule.method)}`, `path: ${JSON.stringify(rule.path)}`];
    if (rule.body !== undefined) fields.push(`body: ${JSON.stringify(rule.body)}`);
    if (rule.responseBody !== undefined) fields.push(`responseBody: ${JSON.stringify(rule.responseBody)}`);
    return fields;
  });
  const http = httpFields.map((fields) => `{ ${fields.join(", ")} }`);

  return {
    doc: docLines(comment, method.deprecated),
    localName,
    memberName: localName === "new" ? '"new"' : localName,
    nameLiteral: JSON.stringify(method.name),
    pathLiteral: JSON.stringify(`/${method.parent.typeName}/${method.name}`),
    kindLiteral: JSON.stringify(method.methodKind),
    input,
    output,
    inputTypeLiteral: JSON.stringify(method.input.typeName),
    outputTypeLiteral: JSON.stringify(method.output.typeName),
    idempotencyLiteral: JSON.stringify(idempotency[method.idempotency]),
    deprecated: method.deprecated,
    http,
    httpFields,
    handlerSignature,
    clientSignature,
  };
}
