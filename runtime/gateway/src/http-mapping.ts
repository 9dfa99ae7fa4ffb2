import type { IncomingMessage } from "node:http";
import {
  create,
  fromBinary,
  fromJson,
  ScalarType,
  toBinary,
  toJson,
  type DescField,
  type DescMessage,
  type JsonObject,
  type JsonValue,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  Code,
  codeName,
  failedService,
  isBreakerOpen,
  type ErrorDetail,
  type HttpRule,
  httpStatusOf,
  isTsmicroError,
  TsmicroError,
} from "@tsmicro/runtime";
import {
  BadRequest,
  copyOfError,
  buildRequestFields,
  ErrorInfo,
  faultPlace,
  isAnswerTooLarge,
  isPlainObject,
  Help,
  jsonFault,
  LocalizedMessage,
  messageOf,
  missingRequiredField,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
  retryDelayOf,
} from "@tsmicro/runtime/internal";
import { fillUpdateMask, patchMaskFields } from "./field-mask.js";
import { queryFieldOf, TranscodedResponse, type GatewayMethod } from "./gateway-method.js";
import { jsonToBinary } from "./json-transcoder.js";
import { oddNumberString } from "./number-strings.js";

/** The parts of an HTTP request that make an RPC's request. */
export interface HttpRequestParts {
  readonly variables: Readonly<Record<string, string>>;
  readonly query: string | URLSearchParams | undefined;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: unknown;
}

/**
 * Builds the request message from an HTTP request for one binding (grpc-gateway's rules, see
 * buildRequestFields) and decodes it as strict proto3 JSON: a wrong type or an unknown body
 * field is INVALID_ARGUMENT naming the field and the value, and a bad query value names the
 * query parameter. Query parameters naming no field are ignored; bools and enum numbers in the
 * query are converted by the field's type. A proto2 required field left out is INVALID_ARGUMENT
 * naming it. A PATCH that sends no update mask gets one listing the fields its body sets (see
 * fillUpdateMask).
 */
export function requestMessage(method: GatewayMethod, rule: HttpRule | undefined, parts: HttpRequestParts): Message {
  return decodeRequest(method, rule, parts, requestFields(method, rule, parts));
}

/**
 * The request of requestMessage, encoded: straight from the JSON when the transcoder takes it
 * (see jsonToBinary), else through requestMessage, which decodes it or says what is wrong.
 */
export function requestBytes(method: GatewayMethod, rule: HttpRule | undefined, parts: HttpRequestParts): Uint8Array {
  const input = method.desc.input;
  const fields = requestFields(method, rule, parts);
  // Required fields and PATCH update masks are checked and filled on the message.
  if (!method.checksRequired && !patchMaskFields(input, rule)) {
    const bytes = jsonToBinary(input, fields);
    if (bytes) return bytes;
  }
  return toBinary(input, decodeRequest(method, rule, parts, fields));
}

/** The request's fields as proto3 JSON, from path, query and body (see buildRequestFields). */
export function requestFields(method: GatewayMethod, rule: HttpRule | undefined, parts: HttpRequestParts): unknown {
  if (rule?.body && rule.body !== "*")
    checkBodyShape(
      method.desc.input.fields.find((f) => f.name === rule.body),
      parts.body,
    );
  return buildRequestFields({
    variables: parts.variables,
    query: parts.query,
    body: parts.body,
    bodyField: rule ? (rule.body ?? "") : "*",
    field: method.requestField,
  });
}

function decodeRequest(
  method: GatewayMethod,
  rule: HttpRule | undefined,
  parts: HttpRequestParts,
  built: unknown,
): Message {
  const input = method.desc.input;
  let fields = built;
  if (parts.body !== undefined) {
    // Numbers in strings are checked (and whole 64-bit ones rewritten) in the body itself, so the fields are built again.
    fields = requestFields(method, rule, { ...parts, body: checkNumberStrings(method, rule, parts.body) });
  }
  let message: Message;
  try {
    message = fromJson(input, fields as JsonValue, { registry: method.registry });
  } catch (error) {
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      badPathVariable(method, rule, parts) ??
        badQueryParameter(method, rule, parts) ??
        wrappedBody(method, rule, parts.body) ??
        `the request does not fit ${input.typeName}: ${bodyFault(method, fields, error)}`,
    );
  }
  if (method.checksRequired) {
    const missing = missingRequiredField(input, message);
    if (missing)
      throw new TsmicroError(
        Code.INVALID_ARGUMENT,
        `the request lacks ${missing.path} (${missing.field}), a required field: send it, even at its zero value`,
      );
  }
  const patch = patchMaskFields(input, rule);
  if (patch) fillUpdateMask(message, patch, parts.body);
  return message;
}

/**
 * Refuses a number written in a string that is no JSON number (`"0x10"`, `"+5"`, `"007"`), which
 * protobuf-es would take and grpc-gateway's protojson refuses (see oddNumberString). Only the
 * body's: path variables and query parameters are text, read by their field's type. Returns the
 * body as rewritten: a new value when it is a 64-bit field's string itself (`body: "total"`, `"1e3"`).
 */
function checkNumberStrings(method: GatewayMethod, rule: HttpRule | undefined, body: unknown): unknown {
  const bodyField = rule ? rule.body : "*";
  if (!bodyField) return body;
  const input = method.desc.input;
  const holder = bodyField === "*" ? body : { [bodyField]: body };
  const odd = oddNumberString(input, holder);
  if (odd)
    throw new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the request does not fit ${input.typeName}: at ${odd.path} (${JSON.stringify(odd.value)}): ${odd.expected}`,
    );
  return bodyField === "*" ? body : (holder as Record<string, unknown>)[bodyField];
}

/** What is wrong with the request's fields: protobuf-es's words, with where and what when it does not say. */
function bodyFault(method: GatewayMethod, fields: unknown, error: unknown): string {
  const fault = jsonFault(method.desc.input, fields, method.registry);
  return fault ? `${faultPlace(fault)}: ${fault.reason}` : messageOf(error);
}

/**
 * A refusal of a call whose route takes a body (`POST`, `PUT`, `PATCH` with `body`) and that
 * came with none, or a blank one: the gateway calls it anyway, as grpc-gateway does (an empty
 * body is `{}` for `body: "*"`, the field left unset for `body: "field"`), so an
 * INVALID_ARGUMENT from the service ("shop is required") gets a note saying the body was empty
 * and what the route takes. Other failures, and requests with a body, pass as they are. Only
 * failed requests pay for this.
 */
export function withEmptyBodyNote(
  error: unknown,
  method: GatewayMethod,
  rule: HttpRule | undefined,
  body: unknown,
  prefix = "",
): unknown {
  if (body !== undefined || !rule?.body || !isTsmicroError(error) || error.code !== Code.INVALID_ARGUMENT) return error;
  const note = `; the request body was empty, so ${method.desc.name} was called ${rule.body === "*" ? "with no fields set" : `without ${rule.body}`}: ${expectedBody(method, rule, prefix)}`;
  return copyOfError(error, { message: `${error.message}${note}` });
}

/** What a route takes as its body, said for a client that sent none: `POST /v1/shops takes shop.v1.Shop's fields (name, description, …) as JSON`. */
function expectedBody(method: GatewayMethod, rule: HttpRule, prefix: string): string {
  const route = `${rule.method.toUpperCase()} ${prefix}${rule.path}`;
  const field = rule.body === "*" ? undefined : method.desc.input.fields.find((f) => f.name === rule.body);
  const message = rule.body === "*" ? method.desc.input : field?.fieldKind === "message" ? field.message : undefined;
  if (message === undefined || message.typeName.startsWith("google.protobuf."))
    return `${route} takes ${rule.body} (${field ? valueKind(field) : "a value"}) as its JSON body`;
  // Fields the path binds are not the body's to send.
  const bound = rule.body === "*" ? new Set(Object.keys(pathFields(rule.path))) : new Set<string>();
  const names = message.fields.filter((f) => !bound.has(f.name)).map((f) => f.jsonName);
  const shown = names.length > 8 ? `${names.slice(0, 8).join(", ")}, …` : names.join(", ");
  return `${route} takes a JSON object of ${message.typeName}'s fields${shown === "" ? "" : ` (${shown})`} as its body`;
}

/**
 * The top-level fields a path template binds whole (`/v1/{shop.id}/x/{name=*}` binds name; of
 * shop, only its id), by proto name.
 */
function pathFields(path: string): Record<string, true> {
  const bound: Record<string, true> = {};
  for (const [, variable] of path.matchAll(/\{([^}=.]+)[}=]/g)) if (variable) bound[variable] = true;
  return bound;
}

/**
 * A body sent as the whole request (`{"order": {…}}`) to a route whose body is one field of it
 * (`body: "order"`): the route's body is that field's own JSON object, which has no such key.
 */
function wrappedBody(method: GatewayMethod, rule: HttpRule | undefined, body: unknown): string | undefined {
  if (!rule?.body || rule.body === "*" || !isPlainObject(body)) return undefined;
  const field = method.desc.input.fields.find((f) => f.name === rule.body);
  if (field?.fieldKind !== "message") return undefined;
  const wrapper = [field.name, field.jsonName].find((key) => key in body);
  if (wrapper === undefined || field.message.fields.some((f) => f.name === wrapper || f.jsonName === wrapper))
    return undefined;
  return (
    `${rule.method.toUpperCase()} ${rule.path} takes ${field.name} (a ${field.message.typeName}) as its body: ` +
    `send its fields as the body, not {"${wrapper}": {…}}`
  );
}

/**
 * A body bound to a message field (`body: "user"`) must be that message's JSON object: said
 * so plainly, where protobuf-es would name what it got as "Array(1)". Well-known types keep
 * their own JSON forms.
 */
function checkBodyShape(field: DescField | undefined, body: unknown): void {
  if (field?.fieldKind !== "message" || field.message.typeName.startsWith("google.protobuf.")) return;
  if (body === undefined || isPlainObject(body)) return;
  const got = Array.isArray(body) ? "an array" : JSON.stringify(body);
  throw new TsmicroError(
    Code.INVALID_ARGUMENT,
    `the request body must be a JSON object of ${field.message.typeName}'s fields (${field.name}), not ${got}`,
  );
}

/**
 * After a request failed to decode, the path variable to blame, as the user wrote it
 * (`path variable n: "abc" is not a valid int32`), or undefined when none is at fault. Each one
 * is decoded alone (see badQueryParameter); only failed requests pay for this.
 */
function badPathVariable(
  method: GatewayMethod,
  rule: HttpRule | undefined,
  parts: HttpRequestParts,
): string | undefined {
  for (const [name, value] of Object.entries(parts.variables)) {
    if (decodesAlone(method, rule, { [name]: value }, undefined)) continue;
    const field = queryFieldOf(method.desc.input, name)?.field;
    return `path variable ${name}: ${JSON.stringify(value)} is not a valid ${field ? valueKind(field) : "value"}`;
  }
  return undefined;
}

/**
 * After a request failed to decode, the query parameter to blame, as the user wrote it
 * (`query parameter page_size: "ten" is not a valid int32`), or undefined when the path or the
 * body is at fault. protobuf-es names the JSON the gateway built ("from JSON"), which the user
 * never sent, so each parameter is decoded alone with the path variables; only failed requests
 * pay for this.
 */
function badQueryParameter(
  method: GatewayMethod,
  rule: HttpRule | undefined,
  parts: HttpRequestParts,
): string | undefined {
  if (parts.query === undefined || parts.query === "") return undefined;
  const params = typeof parts.query === "string" ? new URLSearchParams(parts.query) : parts.query;
  if (!decodesAlone(method, rule, parts.variables, undefined)) return undefined;
  for (const name of new Set(params.keys())) {
    const found = queryFieldOf(method.desc.input, name);
    if (!found) continue;
    const values = params.getAll(name);
    if (values.length > 1 && found.field.fieldKind !== "list") {
      return `query parameter ${name} is given ${values.length} times, but ${found.field.name} takes one value`;
    }
    for (const value of values) {
      if (!decodesAlone(method, rule, parts.variables, new URLSearchParams([[name, value]])))
        return `query parameter ${name}: ${JSON.stringify(value)} is not a valid ${valueKind(found.field)}`;
    }
  }
  return undefined;
}

/** Whether the request's input decodes from these path variables and query parameters alone, without the body. */
function decodesAlone(
  method: GatewayMethod,
  rule: HttpRule | undefined,
  variables: Readonly<Record<string, string>>,
  query: URLSearchParams | undefined,
): boolean {
  const fields = buildRequestFields({
    variables,
    query,
    body: undefined,
    bodyField: rule ? (rule.body ?? "") : "*",
    field: method.requestField,
  });
  try {
    fromJson(method.desc.input, fields as JsonValue, { registry: method.registry });
    return true;
  } catch {
    return false;
  }
}

/** What a field's values are, in proto terms: `int32`, `bool`, `enum library.v1.Genre`, `google.protobuf.Timestamp`. */
function valueKind(field: DescField): string {
  if (field.enum) return `enum ${field.enum.typeName}`;
  if (field.message) return field.message.typeName;
  return field.scalar === undefined ? "value" : ScalarType[field.scalar].toLowerCase();
}

/**
 * How responses are written as JSON, per gateway: grpc-gateway's `MarshalOptions`
 * `EmitUnpopulated` and `UseProtoNames`. Both off by default.
 */
export interface ResponseJsonOptions {
  /** Fields without presence are written at their zero values (`0`, `""`, `false`, `[]`, `{}`) instead of left out. */
  readonly emitUnpopulated?: boolean;
  /** Field names as the proto spells them (`display_name`) instead of lowerCamelCase (`displayName`). */
  readonly useProtoNames?: boolean;
}

/**
 * The response as proto3 JSON: the whole message, or with `response_body` only that field
 * (its zero value when unset, so the body is never empty).
 */
export function responseJson(
  method: GatewayMethod,
  rule: HttpRule | undefined,
  message: Message,
  options: ResponseJsonOptions = {},
): JsonValue {
  const output = method.desc.output;
  const responseBody = rule?.responseBody;
  const write = {
    registry: method.registry,
    alwaysEmitImplicit: options.emitUnpopulated === true,
    useProtoFieldName: options.useProtoNames === true,
  };
  const json = toJson(output, message, write);
  if (!responseBody) return json;
  const field = output.fields.find((f) => f.name === responseBody);
  if (!field) return json;
  const key = options.useProtoNames === true ? field.name : field.jsonName;
  const value = (json as JsonObject)[key];
  if (value !== undefined) return value;
  if (field.fieldKind === "list") return [];
  if (field.fieldKind === "map" || field.fieldKind === "message") return {};
  // A scalar or enum at its zero value, as written when unpopulated fields are emitted; only this
  // field's, so the fields inside a message body stay as the options say.
  return (toJson(output, message, { ...write, alwaysEmitImplicit: true }) as JsonObject)[key] ?? null;
}

/** responseJson of a unary call's answer, as the transcoder read it when it could (see GatewayMethod.unary). */
export function unaryResponseJson(
  method: GatewayMethod,
  rule: HttpRule | undefined,
  response: Message | TranscodedResponse,
  options: ResponseJsonOptions = {},
): JsonValue {
  if (!(response instanceof TranscodedResponse)) return responseJson(method, rule, response, options);
  if (!rule?.responseBody && options.emitUnpopulated !== true && options.useProtoNames !== true) return response.json;
  return responseJson(method, rule, method.definition.output.decode(response.bytes), options);
}

/** The JSON body of an error response: a `google.rpc.Status` in proto3 JSON. */
export interface ErrorBody {
  readonly code: number;
  readonly message: string;
  readonly details: readonly JsonValue[];
}

/**
 * A request whose path has routes only under other methods: 405 with `Allow`, and in the body
 * UNIMPLEMENTED, as grpc-gateway answers it when told to use 405 rather than its default 501.
 */
export class MethodNotAllowedError extends TsmicroError {
  /** The methods the path takes, upper case and sorted: HEAD among them wherever GET is. */
  readonly allow: readonly string[];

  /** `allow` names the routes' methods; `note` is said after the methods the path takes (`; …`). */
  constructor(method: string, path: string, allow: readonly string[], note = "") {
    const methods = withHead(allow);
    super(Code.UNIMPLEMENTED, `${method} is not allowed on ${path}; it takes ${methods.join(", ")}${note}`);
    this.allow = methods;
  }
}

/**
 * `methods` sorted, with HEAD where GET is: every GET route takes HEAD, a GET without the body,
 * and an `Allow` lists every method the path takes (RFC 9110, 10.2.1).
 */
function withHead(methods: readonly string[]): string[] {
  const all = new Set(methods);
  if (all.has("GET")) all.add("HEAD");
  return [...all].sort();
}

/** The challenge of a 401 when nothing more precise is known (RFC 7235, RFC 6750 bearer tokens). */
export const bearerChallenge = 'Bearer realm="api"';

/**
 * What a client reads of a failure on the servers' side (a 5xx, or 499) in place of its message:
 * that names what a public client must not learn (nodes' addresses, internal services and paths,
 * a database's host, a handler's own words about internals) and nothing it can act on. The
 * details still go: a handler's `LocalizedMessage` for its users, `RetryInfo`, `ErrorInfo`.
 */
const publicWording: Readonly<Partial<Record<number, string>>> = {
  [Code.CANCELLED]: "the call was cancelled",
  [Code.UNKNOWN]: "internal error",
  [Code.DEADLINE_EXCEEDED]: "the call did not finish in time",
  [Code.INTERNAL]: "internal error",
  [Code.UNAVAILABLE]: "the service is unavailable; try again later",
  [Code.DATA_LOSS]: "internal error",
};

/** What a client reads of an answer over a receive limit on the servers' side (see errorResponse). */
const answerTooLargeWording = "the service's answer is too large to pass on";

/** An error as the gateway answers it. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ErrorBody;
  /** The failure's own message when the body has the public words instead (see publicWording): for the log. */
  readonly withheld?: string;
}

/**
 * The HTTP status, headers and body for an error; anything not a TsmicroError is INTERNAL with
 * no detail, and a failure on the servers' side is told in public words (see publicWording). The
 * headers are those the status needs: `Allow` on a 405, `WWW-Authenticate` on a 401 (RFC 7235;
 * a caller that knows a more precise challenge sets its own first), and `Retry-After` when the
 * failure says when to try again (a `google.rpc.RetryInfo` detail).
 */
export function errorResponse(error: unknown, types?: DetailTypes): ErrorResponse {
  const failure = isTsmicroError(error) ? error : new TsmicroError(Code.INTERNAL, "internal error");
  const notAllowed = failure instanceof MethodNotAllowedError;
  // An answer over a receive limit on the servers' side, not the client's too many requests: 502, as a
  // reverse proxy answers an upstream's answer it cannot take; no retry of the client's makes it fit.
  const tooLarge = isAnswerTooLarge(failure);
  const status = notAllowed ? 405 : tooLarge ? 502 : httpStatusOf(failure.code);
  const headers: Record<string, string> = notAllowed
    ? { allow: failure.allow.join(", ") }
    : status === 401
      ? { "www-authenticate": bearerChallenge }
      : {};
  // A RetryInfo detail (an open breaker's next probe, a rate limit's next token) as HTTP says it.
  const retryMs = retryDelayOf(failure);
  if (retryMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retryMs / 1000)));
  const wording = tooLarge ? answerTooLargeWording : publicWording[failure.code];
  const withheld = wording !== undefined && wording !== failure.message;
  return {
    status,
    headers,
    body: {
      code: failure.code,
      message: wording ?? failure.message,
      details: failure.details.flatMap((detail) => detailJson(detail, types)),
    },
    ...(withheld ? { withheld: failure.message } : {}),
  };
}

/** Where logWithheld writes: a tsmicro Logger, or a fastify app's `log`. */
export interface WithheldLog {
  warn(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

/**
 * Logs the message an error response withheld from its client (see errorResponse), which the
 * operator needs, with the service whose call failed (and the trace, as the logger puts the
 * active span's ids on every line): at warn, but at debug for an
 * open breaker's refusal (the breaker logged its opening; a line per refused call would flood the
 * log in an outage), and not at all for a 499 whose client went away.
 */
export function logWithheld(
  answer: ErrorResponse,
  error: unknown,
  request: { readonly method: string; readonly url: string; readonly raw: IncomingMessage },
  log: WithheldLog,
): void {
  // A request's own stream ends once its body is read: its socket says whether the client went away.
  const gone = request.raw.socket?.destroyed !== false;
  if (answer.withheld === undefined || (answer.status === 499 && gone)) return;
  const fields = {
    code: codeName(answer.body.code),
    status: answer.status,
    method: request.method,
    url: request.url,
    failedService: failedService(error),
  };
  const line = `${request.method} ${request.url} failed: ${answer.withheld}`;
  if (isBreakerOpen(error)) log.debug(fields, line);
  else log.warn(fields, line);
}

/** The `google.rpc` detail types the gateway renders as JSON; `DebugInfo` is left out: it carries stack traces. */
const detailTypes: Readonly<Record<string, { decode(bytes: Uint8Array): unknown; toJSON(message: never): unknown }>> = {
  "google.rpc.ErrorInfo": ErrorInfo,
  "google.rpc.RetryInfo": RetryInfo,
  "google.rpc.QuotaFailure": QuotaFailure,
  "google.rpc.PreconditionFailure": PreconditionFailure,
  "google.rpc.BadRequest": BadRequest,
  "google.rpc.RequestInfo": RequestInfo,
  "google.rpc.ResourceInfo": ResourceInfo,
  "google.rpc.Help": Help,
  "google.rpc.LocalizedMessage": LocalizedMessage,
};

/**
 * The descriptors of a detail type of the services' own (`library.v1.QuotaLeft`), and the
 * registry resolving its fields' types; undefined for a type none of them declares.
 */
export type DetailTypes = (typeName: string) => { desc: DescMessage; registry: Registry } | undefined;

/**
 * A detail as proto3 JSON writes an `Any`: `@type` and the message's fields (`@type` and
 * `value` for a well-known type), the google.rpc types and the services' own alike; a type
 * neither knows, or bytes that do not decode, as `@type` and its bytes in base64.
 */
function detailJson(detail: ErrorDetail, types: DetailTypes | undefined): JsonValue[] {
  const typeName = detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1);
  if (typeName === "google.rpc.DebugInfo") return [];
  const type = detailTypes[typeName];
  if (!type) return [ownDetailJson(detail, types?.(typeName))];
  try {
    const message = type.decode(detail.value);
    // ts-proto writes RetryInfo's Duration as its fields; proto3 JSON (grpc-gateway's) as "1.5s".
    const json =
      typeName === "google.rpc.RetryInfo"
        ? retryInfoJson(message as RetryInfo)
        : (type.toJSON(message as never) as JsonObject);
    return [{ "@type": detail.typeUrl, ...json }];
  } catch {
    return [{ "@type": detail.typeUrl, value: Buffer.from(detail.value).toString("base64") }];
  }
}

function ownDetailJson(detail: ErrorDetail, type: ReturnType<DetailTypes>): JsonValue {
  const bytes = { "@type": detail.typeUrl, value: Buffer.from(detail.value).toString("base64") };
  if (!type) return bytes;
  try {
    const json = toJson(type.desc, fromBinary(type.desc, detail.value), { registry: type.registry });
    // A well-known type's JSON is not an object of its fields (a Duration is "1s"): it goes as `value`.
    return type.desc.typeName.startsWith("google.protobuf.") || json === null || typeof json !== "object"
      ? { "@type": detail.typeUrl, value: json }
      : { "@type": detail.typeUrl, ...(json as JsonObject) };
  } catch {
    return bytes;
  }
}

function retryInfoJson({ retryDelay }: RetryInfo): JsonObject {
  return retryDelay ? { retryDelay: toJson(DurationSchema, create(DurationSchema, retryDelay)) } : {};
}
