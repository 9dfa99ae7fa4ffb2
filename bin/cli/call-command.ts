import {
  createFileRegistry,
  create,
  fromBinary,
  fromJson,
  toBinary,
  toJsonString,
  type DescMessage,
  type DescMethod,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import {
  createClient,
  createDirectCaller,
  createGrpcClientTransport,
  type ClientTransport,
  type MessageCodec,
  type MethodDefinition,
  type Registry,
} from "@tsmicro/runtime";
import type { ServerReflectionRequest, ServerReflectionResponse } from "./gen/grpc/reflection/v1/reflection.js";
import { ServerReflectionDefinition } from "./gen/grpc/reflection/v1/reflection.micro.js";
import { CommandError } from "./registry-commands.js";

/**
 * `tsmicro call SERVICE METHOD '{json}'`: calls any running service without
 * its source. The method's types come from the node's server reflection;
 * the request is proto3 JSON and the response is printed as proto3 JSON.
 * Client and bidi streaming methods take a JSON array of requests; streamed
 * responses print one JSON document each.
 */
export async function callCommand(
  registry: Registry,
  serviceName: string,
  methodSpec: string,
  requestJson: string,
  print: (text: string) => void,
): Promise<void> {
  let requestValue: JsonValue;
  try {
    requestValue = JSON.parse(requestJson === "" ? "{}" : requestJson) as JsonValue;
  } catch (error) {
    throw new CommandError(`the request is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const versions = await registry.getService(serviceName);
  const nodes = versions.flatMap((service) => service.nodes);
  const node = nodes[Math.floor(Math.random() * nodes.length)];
  if (!node) throw new CommandError(`service ${serviceName} not found in the ${registry.kind} registry`);

  const transport = createGrpcClientTransport();
  try {
    const caller = createDirectCaller({ transport, address: node.address });
    const method = await resolveMethod(
      transport,
      node.address,
      methodSpec,
      versions.flatMap((s) => s.endpoints),
    );
    const definition = dynamicMethod(method);
    const parse = (value: JsonValue): Message => {
      try {
        return fromJson(method.input, value);
      } catch (error) {
        throw new CommandError(
          `the request does not fit ${method.input.typeName}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    };
    const show = (message: Message) => print(`${toJsonString(method.output, message, { prettySpaces: 2 })}\n`);
    const list = (): Message[] => {
      if (!Array.isArray(requestValue))
        throw new CommandError(`${method.name} streams requests: give a JSON array of ${method.input.typeName}`);
      return requestValue.map(parse);
    };
    const stream = async function* (messages: Message[]) {
      yield* messages;
    };
    switch (method.methodKind) {
      case "unary":
        show(await caller.unary(definition, parse(requestValue)));
        break;
      case "server_streaming":
        for await (const message of caller.serverStreaming(definition, parse(requestValue))) show(message);
        break;
      case "client_streaming":
        show(await caller.clientStreaming(definition, stream(list())));
        break;
      case "bidi_streaming":
        for await (const message of caller.bidiStreaming(definition, stream(list()))) show(message);
        break;
    }
  } finally {
    await transport.close();
  }
}

/** Finds a method from `Service.Method`, `pkg.Service.Method` or `/pkg.Service/Method`, through reflection. */
async function resolveMethod(
  transport: ClientTransport,
  address: string,
  spec: string,
  endpoints: readonly { name: string; metadata: Readonly<Record<string, string>> }[],
): Promise<DescMethod> {
  const normalized = spec.replace(/^\//, "").replace(/\//g, ".");
  const dot = normalized.lastIndexOf(".");
  if (dot <= 0)
    throw new CommandError(`method ${JSON.stringify(spec)}: write it as Service.Method, such as Greeter.SayHello`);
  let serviceName = normalized.slice(0, dot);
  const methodName = normalized.slice(dot + 1);
  const reflection = createClient(ServerReflectionDefinition, createDirectCaller({ transport, address }));
  const ask = async (request: Partial<ServerReflectionRequest>): Promise<ServerReflectionResponse> => {
    for await (const response of reflection.serverReflectionInfo([request])) {
      if (response.messageResponse?.$case === "errorResponse") {
        throw new CommandError(`server reflection: ${response.messageResponse.value.errorMessage}`);
      }
      return response;
    }
    throw new CommandError("server reflection answered nothing");
  };

  if (!serviceName.includes(".")) {
    const fromEndpoint = endpoints.find((e) => e.name === `${serviceName}.${methodName}`)?.metadata.service;
    let listed: string[] = [];
    if (!fromEndpoint) {
      const response = await ask({ messageRequest: { $case: "listServices", value: "" } });
      listed =
        response.messageResponse?.$case === "listServicesResponse"
          ? response.messageResponse.value.service.map((s) => s.name)
          : [];
    }
    const match = fromEndpoint ?? listed.find((name) => name === serviceName || name.endsWith(`.${serviceName}`));
    if (!match)
      throw new CommandError(`no service ${serviceName} on ${address}; it serves ${listed.join(", ") || "nothing"}`);
    serviceName = match;
  }

  const files = new Map<string, FileDescriptorProto>();
  const add = (response: ServerReflectionResponse) => {
    if (response.messageResponse?.$case !== "fileDescriptorResponse") return;
    for (const bytes of response.messageResponse.value.fileDescriptorProto) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      files.set(file.name, file);
    }
  };
  add(await ask({ messageRequest: { $case: "fileContainingSymbol", value: serviceName } }));
  for (let missing = missingDeps(files); missing.length > 0; missing = missingDeps(files)) {
    for (const name of missing) add(await ask({ messageRequest: { $case: "fileByFilename", value: name } }));
    if (missingDeps(files).some((name) => missing.includes(name)))
      throw new CommandError(`server reflection lacks ${missing.join(", ")}`);
  }
  const descriptors = createFileRegistry(create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }));
  const service = descriptors.getService(serviceName);
  if (!service) throw new CommandError(`no service ${serviceName} on ${address}`);
  const method = service.methods.find((m) => m.name === methodName);
  if (!method) {
    throw new CommandError(
      `${serviceName} has no method ${methodName}; it has ${service.methods.map((m) => m.name).join(", ")}`,
    );
  }
  return method;
}

/** protobuf-es builds a registry from a set whose files come after their imports. */
function dependenciesFirst(files: ReadonlyMap<string, FileDescriptorProto>): FileDescriptorProto[] {
  const ordered: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    const file = files.get(name);
    if (!file || seen.has(name)) return;
    seen.add(name);
    file.dependency.forEach(visit);
    ordered.push(file);
  };
  [...files.keys()].forEach(visit);
  return ordered;
}

function missingDeps(files: ReadonlyMap<string, FileDescriptorProto>): string[] {
  return [...new Set([...files.values()].flatMap((file) => file.dependency))].filter((name) => !files.has(name));
}

/** A method definition whose codecs are protobuf-es reflection over the fetched descriptors. */
function dynamicMethod(method: DescMethod): MethodDefinition<Message, Message> {
  return {
    name: method.name,
    path: `/${method.parent.typeName}/${method.name}`,
    kind: method.methodKind,
    input: dynamicCodec(method.input),
    output: dynamicCodec(method.output),
    inputType: method.input.typeName,
    outputType: method.output.typeName,
    idempotency: "unknown",
    deprecated: method.deprecated,
    http: [],
  };
}

function dynamicCodec(desc: DescMessage): MessageCodec<Message> {
  return {
    encode: (message) => ({ finish: () => toBinary(desc, message) }),
    decode: (bytes) => fromBinary(desc, bytes),
    fromJSON: (value) => fromJson(desc, value as JsonValue),
    toJSON: (message) => JSON.parse(toJsonString(desc, message)) as unknown,
    fromPartial: (message) => message as Message,
  };
}
