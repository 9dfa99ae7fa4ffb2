import {
  fromJson,
  toJsonString,
  type DescMethod,
  type FileRegistry,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import {
  createDirectCaller,
  createGrpcClientTransport,
  createReflectionClient,
  dynamicMethod,
  type ClientTransport,
  type Registry,
} from "@tsmicro/runtime";
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
    const { method, registry: descriptors } = await resolveMethod(
      transport,
      node.address,
      methodSpec,
      versions.flatMap((s) => s.endpoints),
    );
    const definition = dynamicMethod(method, descriptors);
    const parse = (value: JsonValue): Message => {
      try {
        return fromJson(method.input, value, { registry: descriptors });
      } catch (error) {
        throw new CommandError(
          `the request does not fit ${method.input.typeName}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    };
    const show = (message: Message) =>
      print(`${toJsonString(method.output, message, { prettySpaces: 2, registry: descriptors })}\n`);
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
): Promise<{ method: DescMethod; registry: FileRegistry }> {
  const normalized = spec.replace(/^\//, "").replace(/\//g, ".");
  const dot = normalized.lastIndexOf(".");
  if (dot <= 0)
    throw new CommandError(`method ${JSON.stringify(spec)}: write it as Service.Method, such as Greeter.SayHello`);
  let serviceName = normalized.slice(0, dot);
  const methodName = normalized.slice(dot + 1);
  const reflection = createReflectionClient(transport, address);
  const reflected = async <T>(ask: () => Promise<T>): Promise<T> => {
    try {
      return await ask();
    } catch (error) {
      throw new CommandError(error instanceof Error ? error.message : String(error));
    }
  };

  if (!serviceName.includes(".")) {
    const fromEndpoint = endpoints.find((e) => e.name === `${serviceName}.${methodName}`)?.metadata.service;
    const listed = fromEndpoint ? [] : await reflected(() => reflection.listServices());
    const match = fromEndpoint ?? listed.find((name) => name === serviceName || name.endsWith(`.${serviceName}`));
    if (!match)
      throw new CommandError(`no service ${serviceName} on ${address}; it serves ${listed.join(", ") || "nothing"}`);
    serviceName = match;
  }

  const registry = await reflected(() => reflection.descriptorsOf(serviceName));
  const service = registry.getService(serviceName);
  if (!service) throw new CommandError(`no service ${serviceName} on ${address}`);
  const method = service.methods.find((m) => m.name === methodName);
  if (!method) {
    throw new CommandError(
      `${serviceName} has no method ${methodName}; it has ${service.methods.map((m) => m.name).join(", ")}`,
    );
  }
  return { method, registry };
}
