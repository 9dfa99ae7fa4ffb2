import { readFile } from "node:fs/promises";
import {
  fromJson,
  toJsonString,
  type DescMethod,
  type FileRegistry,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import {
  type CallOptions,
  Code,
  connect,
  createReflectionClient,
  dynamicMethod,
  isTsmicroError,
  silentLogger,
  TsmicroError,
  type ClientTransport,
  type Connection,
  type Endpoint,
  type Metadata,
  type Node,
  type Registry,
  type ServiceSettings,
} from "@tsmicro/runtime";
import {
  clientTransportOf,
  faultPlace,
  httpBrokerDefaults,
  isHttpNode,
  isMetadataKey,
  isMetadataText,
  isPlainObject,
  isReservedMetadataKey,
  duplicateKey,
  jsonFault,
  jsonMistake,
  messageOf,
  missingRequiredField,
  parseExactJson,
  repeatedKeyText,
} from "@tsmicro/runtime/internal";
import { describeFailure, failureReason } from "./call-failure.js";
import { CommandError } from "./command-error.js";
import { serviceNotFound } from "./registry-commands.js";

/**
 * The request text `tsmicro call` was given: the JSON itself, `-` for
 * standard input, or `@FILE` for a file's content (JSON never starts with
 * `@`), as grpcurl's `-d @` and curl's `--data @FILE` read them: a request
 * too large for the command line, or one kept in a file.
 */
export async function requestText(given: string, stdin: AsyncIterable<Buffer | string>): Promise<string> {
  if (given === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks).toString("utf8");
  }
  if (!given.startsWith("@")) return given;
  const file = given.slice(1);
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error);
    throw new CommandError(
      `cannot read the request from ${file}: ${reason}; give @FILE of a JSON file, - for standard input, or the JSON itself`,
    );
  }
}

/** What `tsmicro call` was asked. */
export interface CallRequest {
  /** The registered service name. */
  readonly service: string;
  /** `Service.Method`, `pkg.Service.Method` or `/pkg.Service/Method`. */
  readonly method: string;
  /** The request as proto3 JSON; a JSON array for client and bidi streams. */
  readonly json: string;
  /** The `--client_*`, `--selector` and `--breaker_*` flags, as the runtime parses them. */
  readonly args: readonly string[];
  /** `--metadata KEY=VALUE`, each sent with the call. */
  readonly metadata?: readonly string[];
}

/**
 * `tsmicro call SERVICE METHOD '{json}'`: calls any running service without
 * its source. The method's types come from server reflection on one of the
 * service's nodes (another is tried when one does not answer); the call
 * itself goes through the runtime's registry-backed client, so it has the
 * selector, retries on another node, timeout and circuit breaker a service's
 * own clients have. Streamed responses print one JSON document each.
 */
export async function callCommand(
  registry: Registry,
  request: CallRequest,
  print: (text: string) => void,
): Promise<void> {
  const metadata = parseMetadata(request.metadata ?? []);
  let requestValue: JsonValue;
  try {
    requestValue = parseExactJson(request.json === "" ? "{}" : request.json) as JsonValue;
  } catch (error) {
    const { line, column, reason } = jsonMistake(request.json, "the request", error);
    throw new CommandError(`the request is not valid JSON at line ${line}, column ${column}: ${reason}`);
  }
  const repeated = duplicateKey(request.json);
  if (repeated) throw new CommandError(repeatedKeyText(request.json, "the request", repeated));
  // Breaker state changes are for a long-running service's log; a one-shot command reports its one failure itself.
  const connection = connect({ registry, args: request.args, env: process.env, logger: silentLogger() });
  try {
    await callThrough(connection, registry, request, requestValue, metadata, print);
  } finally {
    await connection.stop();
  }
}

/** Resolves the method by reflection, then calls it through the connection's client. */
async function callThrough(
  connection: Connection,
  registry: Registry,
  request: CallRequest,
  requestValue: JsonValue,
  metadata: Metadata,
  print: (text: string) => void,
): Promise<void> {
  const versions = await registry.getService(request.service);
  const nodes = versions.flatMap((service) => service.nodes);
  // A failure of the call, not of the command line, so it reads as one: `call failed: NOT_FOUND: …`.
  if (nodes.length === 0) throw new TsmicroError(Code.NOT_FOUND, await serviceNotFound(registry, request.service));
  // The http broker's subscriptions (docs/broker.md) are HTTP nodes too, but no web service.
  if (request.service === httpBrokerDefaults.serviceName || nodes.every((node) => node.metadata.broker !== undefined))
    throw new CommandError(
      `${request.service} is the embedded broker's registration of subscribers (docs/broker.md), not a service to call`,
    );
  if (nodes.every(isHttpNode))
    throw new CommandError(
      `${request.service} is a web service: it answers HTTP, not gRPC calls; request it at http://${nodes[0]!.address}/ ` +
        "or through the gateway, tsmicro api --handler web",
    );

  const { method, registry: descriptors } = await resolveMethod(
    nodes,
    connection.settings,
    request,
    versions.flatMap((s) => s.endpoints),
  );
  const definition = dynamicMethod(method, descriptors);
  const caller = connection.client(
    {
      typeName: method.parent.typeName,
      file: method.parent.file.name,
      deprecated: false,
      methods: { call: definition },
      fileDescriptorSet: "",
    },
    request.service,
  ).call as unknown as DynamicCall;
  const send = (input: Message | Message[]) => caller(input, { metadata });
  // Every request is read, and refused for a missing proto2 required field, before any call is made.
  const parse = (value: JsonValue, which = "the request"): Message => {
    // Well-known types have JSON forms of their own (a string for a StringValue); other messages are objects.
    if (!method.input.typeName.startsWith("google.protobuf.") && !isPlainObject(value))
      throw new CommandError(
        `${which} must be a JSON object of ${method.input.typeName}'s fields, not ${Array.isArray(value) ? "an array" : JSON.stringify(value)}`,
      );
    let message: Message;
    try {
      message = fromJson(method.input, value, { registry: descriptors });
    } catch (error) {
      // Where in the request, as the gateway says it: protobuf-es names the type that refused, not the place.
      const fault = jsonFault(method.input, value, descriptors);
      const reason = fault ? `${faultPlace(fault)}: ${fault.reason}` : messageOf(error);
      throw new CommandError(`${which} does not fit ${method.input.typeName}: ${reason}`);
    }
    const missing = missingRequiredField(method.input, message);
    if (missing)
      throw new CommandError(
        `${which} lacks ${missing.path} (${missing.field}), a required field of ${method.input.typeName}: give it, even at its zero value`,
      );
    return message;
  };
  const show = (message: Message) => {
    const missing = missingRequiredField(method.output, message);
    if (missing)
      throw new TsmicroError(
        Code.INTERNAL,
        `the response lacks ${missing.path} (${missing.field}), a required field: the server sent an incomplete message`,
      );
    print(`${toJsonString(method.output, message, { prettySpaces: 2, registry: descriptors })}\n`);
  };
  const list = (): Message[] => {
    if (!Array.isArray(requestValue))
      throw new CommandError(`${method.name} streams requests: give a JSON array of ${method.input.typeName}`);
    return requestValue.map((value, index) => parse(value, `request ${index}`));
  };

  try {
    switch (method.methodKind) {
      case "unary":
        show(await (send(parse(requestValue)) as Promise<Message>));
        break;
      case "server_streaming":
        for await (const message of send(parse(requestValue)) as AsyncIterable<Message>) show(message);
        break;
      case "client_streaming":
      case "bidi_streaming": {
        const input = list();
        await withStreamRetries(connection.settings.clientRetries, async (received) => {
          if (method.methodKind === "client_streaming") {
            show(await (send(input) as Promise<Message>));
          } else {
            for await (const message of send(input) as AsyncIterable<Message>) {
              received();
              show(message);
            }
          }
        });
        break;
      }
    }
  } catch (error) {
    const what = `${request.service} ${method.parent.name}.${method.name}`;
    const { clientRequestTimeoutMs, clientStreamTimeoutMs } = connection.settings;
    throw method.methodKind === "unary"
      ? describeFailure(error, what, request.service, clientRequestTimeoutMs)
      : describeFailure(error, what, request.service, clientStreamTimeoutMs, "--client_stream_timeout");
  }
}

/**
 * Runs a client or bidi stream, again on another node while no connection
 * was ever made. The runtime gives request streams one attempt because it
 * cannot replay an iterator, but the CLI's requests are a JSON array it can
 * send again, and a call that never connected reached no server. The failed
 * node is left out by the selector (it ejects nodes that fail with
 * UNAVAILABLE), so the next attempt goes elsewhere.
 */
async function withStreamRetries(retries: number, attempt: (received: () => void) => Promise<void>): Promise<void> {
  for (let tried = 0; ; tried++) {
    let gotMessage = false;
    try {
      await attempt(() => (gotMessage = true));
      return;
    } catch (error) {
      if (gotMessage || tried >= retries || !neverConnected(error)) throw error;
    }
  }
}

/** A failure before any connection: grpc-js says "No connection established", or the socket was refused. */
function neverConnected(error: unknown): boolean {
  return (
    isTsmicroError(error) &&
    error.code === Code.UNAVAILABLE &&
    /No connection established|ECONNREFUSED/.test(error.message)
  );
}

/** The one method of the dynamic client: a message for unary and server streams, a list for client and bidi streams. */
type DynamicCall = (input: Message | Message[], options: CallOptions) => Promise<Message> | AsyncIterable<Message>;

/**
 * `--metadata KEY=VALUE` flags as the call's metadata, as go-micro's `micro
 * call --metadata` sends them: keys lower-cased (gRPC's are), a key given
 * twice sent twice, a `-bin` key's value read as base64. Refused with what
 * is wrong and how to write it: a flag without `=`, a key gRPC cannot carry
 * or owns, a text value outside printable ASCII, a `-bin` value not base64.
 */
export function parseMetadata(flags: readonly string[]): Metadata {
  const metadata = new Map<string, (string | Uint8Array)[]>();
  for (const flag of flags) {
    const equals = flag.indexOf("=");
    const key = flag.slice(0, equals).trim().toLowerCase();
    const value = flag.slice(equals + 1);
    const wrong = (what: string) => new CommandError(`--metadata ${JSON.stringify(flag)}: ${what}`);
    if (equals < 0 || key === "") throw wrong("give it as KEY=VALUE, for example --metadata x-tenant=acme");
    if (!isMetadataKey(key))
      throw wrong("a metadata key takes only letters, digits and - _ . (gRPC sends keys lower-case)");
    if (isReservedMetadataKey(key)) throw wrong(`${key} is gRPC's or HTTP/2's own header; pick another key`);
    let item: string | Uint8Array = value;
    if (key.endsWith("-bin")) {
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value))
        throw wrong(`a -bin key's value is base64 (${key} is sent as bytes); give base64 or drop the -bin suffix`);
      item = new Uint8Array(Buffer.from(value, "base64"));
    } else if (!isMetadataText(value))
      throw wrong("a text value is printable ASCII; send other text under a -bin key, base64-encoded");
    metadata.set(key, [...(metadata.get(key) ?? []), item]);
  }
  return Object.fromEntries([...metadata].map(([key, values]) => [key, values.length === 1 ? values[0]! : values]));
}

/**
 * Finds a method from `Service.Method`, `pkg.Service.Method` or
 * `/pkg.Service/Method` through server reflection, asking the nodes in
 * random order until one answers: a node that died without deregistering
 * stays listed until its TTL runs out, and must not stop the call. Up to
 * `--client_retries` more nodes are asked, as calls retry.
 */
async function resolveMethod(
  nodes: readonly Node[],
  settings: ServiceSettings,
  request: CallRequest,
  endpoints: readonly Endpoint[],
): Promise<{ method: DescMethod; registry: FileRegistry }> {
  const spec = request.method;
  const normalized = spec.replace(/^\//, "").replace(/\//g, ".");
  const dot = normalized.lastIndexOf(".");
  if (dot <= 0) throw new CommandError(unqualifiedMethod(spec, endpoints));
  const shortName = normalized.slice(0, dot);
  const methodName = normalized.slice(dot + 1);
  if (!shortName.includes(".")) {
    const otherService = serviceSlip(request.service, shortName, methodName, endpoints);
    if (otherService) throw new CommandError(otherService);
  }
  const fromEndpoint = shortName.includes(".")
    ? shortName
    : onlyOne(
        endpoints.filter((e) => e.name === `${shortName}.${methodName}`).map((e) => e.metadata.service),
        `${shortName}.${methodName}`,
        methodName,
      );

  const transport = clientTransportOf(settings);
  const order = shuffled(nodes).slice(0, settings.clientRetries + 1);
  const failures: string[] = [];
  const codes = new Set<Code>();
  try {
    for (const node of order) {
      try {
        return await reflectMethod(transport, node.address, settings, shortName, fromEndpoint, methodName);
      } catch (error) {
        if (!isTsmicroError(error) || !unreachable(error.code)) throw error;
        failures.push(failureReason(error, node.address, settings.clientRequestTimeoutMs));
        codes.add(error.code);
      }
    }
  } finally {
    await transport.close();
  }
  // A node that answers, only not within --client_request_timeout, makes it the deadline's failure.
  throw new TsmicroError(
    codes.has(Code.DEADLINE_EXCEEDED) ? Code.DEADLINE_EXCEEDED : Code.UNAVAILABLE,
    `${request.service}: no node answered server reflection (asked ${order.length} of ${nodes.length}): ${failures.join("; ")}`,
  );
}

/**
 * A method whose service part names none the service registered, where others have the method
 * (`Shop.GetShop` for `ShopService.GetShop`, a Go handler's name in go-micro): the names it has.
 */
function serviceSlip(
  service: string,
  shortName: string,
  methodName: string,
  endpoints: readonly Endpoint[],
): string | undefined {
  if (endpoints.some((e) => e.name.startsWith(`${shortName}.`))) return undefined;
  const named = endpoints.map((e) => e.name).filter((name) => name.endsWith(`.${methodName}`));
  if (named.length === 0) return undefined;
  return `${service} has no service ${shortName}; write the method as ${named.sort().join(" or ")}`;
}

/**
 * A method named without its service (`ListUsers`): the endpoints the service registered under
 * that name (`UserService.ListUsers`), or the general form when it registered none.
 */
function unqualifiedMethod(spec: string, endpoints: readonly Endpoint[]): string {
  const named = endpoints.map((e) => e.name).filter((name) => name.endsWith(`.${spec}`));
  const example = named.length === 0 ? "such as Greeter.SayHello" : `here ${named.sort().join(" or ")}`;
  return `method ${JSON.stringify(spec)}: write it as Service.Method, ${example}`;
}

/** Codes that say a node could not be asked at all, so another node may answer. */
function unreachable(code: Code): boolean {
  return code === Code.UNAVAILABLE || code === Code.DEADLINE_EXCEEDED || code === Code.CANCELLED;
}

/** Asks one node for the service's descriptors; what the node answers (no such method, no reflection) is final. */
async function reflectMethod(
  transport: ClientTransport,
  address: string,
  settings: ServiceSettings,
  shortName: string,
  knownService: string | undefined,
  methodName: string,
): Promise<{ method: DescMethod; registry: FileRegistry }> {
  const reflection = createReflectionClient(transport, address, { timeoutMs: settings.clientRequestTimeoutMs });
  const answered = async <T>(ask: () => Promise<T>): Promise<T> => {
    try {
      return await ask();
    } catch (error) {
      if (isTsmicroError(error) && unreachable(error.code)) throw error;
      throw new CommandError(
        isTsmicroError(error) ? `server reflection on ${address}: ${failureReason(error, address)}` : String(error),
      );
    }
  };

  let serviceName = knownService;
  if (!serviceName) {
    const listed = await answered(() => reflection.listServices());
    serviceName = onlyOne(
      listed.filter((name) => name === shortName || name.endsWith(`.${shortName}`)),
      `${shortName}.${methodName}`,
      methodName,
    );
    if (!serviceName)
      throw new CommandError(`no service ${shortName} on ${address}; it serves ${listed.join(", ") || "nothing"}`);
  }
  const found = serviceName;
  const registry = await answered(() => reflection.descriptorsOf(found));
  const service = registry.getService(found);
  if (!service) throw new CommandError(`no service ${found} on ${address}`);
  const method = service.methods.find((m) => m.name === methodName);
  if (!method) {
    throw new CommandError(
      `${found} has no method ${methodName}; it has ${service.methods.map((m) => m.name).join(", ")}`,
    );
  }
  return { method, registry };
}

/**
 * The one proto service among `services` (full names, repeats allowed), undefined for none; a
 * CommandError when `spec` names two, as two packages' `Catalog` do, saying how to name one.
 */
function onlyOne(services: readonly (string | undefined)[], spec: string, methodName: string): string | undefined {
  const distinct = [...new Set(services.filter((name): name is string => name !== undefined))];
  if (distinct.length <= 1) return distinct[0];
  throw new CommandError(
    `${spec} is ambiguous: ${distinct.join(" and ")} both match; name one in full, such as ${distinct[0]}.${methodName}`,
  );
}

/** A copy in random order, so callers spread over nodes rather than all asking the first. */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
