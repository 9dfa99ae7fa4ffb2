import type { FileRegistry } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import type { ServiceDefinition } from "../definition/definition.js";
import { Code } from "../errors/tsmicro-error.js";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection.js";
import { ServerReflectionDefinition } from "../gen/grpc/reflection/v1/reflection.micro.js";
import type { ServerHandler } from "./transport.js";
import { loadModule } from "../platform/lazy-module.js";

/** A service to list in reflection that is not a tsmicro definition, such as grpc.health.v1.Health. */
export interface ReflectedService {
  readonly typeName: string;
  /** Serialized FileDescriptorProtos: the declaring file and its imports. */
  readonly fileDescriptorProtos: readonly Uint8Array[];
}

/** gRPC server reflection for any server transport: each definition served by `handler`. */
export interface ReflectionService {
  readonly definitions: readonly ServiceDefinition[];
  readonly handler: ServerHandler;
}

/** Both protocol versions: v1alpha's messages are v1's under another package, field for field. */
const reflectionDefinitions: readonly ServiceDefinition[] = [ServerReflectionDefinition, v1alpha()];

function v1alpha(): ServiceDefinition {
  const typeName = "grpc.reflection.v1alpha.ServerReflection";
  const { serverReflectionInfo } = ServerReflectionDefinition.methods;
  return {
    ...ServerReflectionDefinition,
    typeName,
    methods: { serverReflectionInfo: { ...serverReflectionInfo, path: `/${typeName}/ServerReflectionInfo` } },
  } as ServiceDefinition;
}

/**
 * Builds gRPC server reflection (v1 and v1alpha) for the given services from the descriptors
 * generated code embeds, so tools such as grpcurl, `tsmicro call` and the gateway call them
 * without the protos. Files are served byte for byte as generated: custom options such as
 * `google.api.http` survive (re-encoding through a library that does not know the extension
 * would drop them).
 */
export function createReflectionService(
  services: readonly ServiceDefinition[],
  extra: readonly ReflectedService[] = [],
  /** Serialized FileDescriptorProtos served by file and symbol but naming no service (events' messages). */
  filesOnly: readonly Uint8Array[] = [],
): ReflectionService {
  // Reflection lists itself, as grpc-go and grpc-java do (v1, the version its file describes).
  const listed = [...services, ServerReflectionDefinition];
  const served = [
    ...listed.flatMap((service) => fileDescriptorProtos(service.fileDescriptorSet)),
    ...extra.flatMap((service) => service.fileDescriptorProtos),
    ...filesOnly,
  ];
  const names = [...listed.map((s) => s.typeName), ...extra.map((s) => s.typeName)];
  // Decoded at the first request: most servers are never asked, and decoding loads protobuf-es's descriptor schemas.
  let index: ReflectionIndex | undefined;

  const respond = (request: ServerReflectionRequest): ServerReflectionResponse => {
    index ??= indexFiles(served);
    const { bytesByName, protos, registry } = index;
    const base = { validHost: request.host, originalRequest: request };
    const files = (name: string | undefined, what: string): ServerReflectionResponse =>
      name === undefined || !bytesByName.has(name)
        ? { ...base, messageResponse: notFound(`${what} not found`) }
        : {
            ...base,
            messageResponse: {
              $case: "fileDescriptorResponse",
              value: { fileDescriptorProto: withImports(name, protos).map((n) => bytesByName.get(n)!) },
            },
          };
    const message = request.messageRequest;
    switch (message?.$case) {
      case "listServices":
        return {
          ...base,
          messageResponse: { $case: "listServicesResponse", value: { service: names.map((name) => ({ name })) } },
        };
      case "fileByFilename":
        return files(message.value, `file ${message.value}`);
      case "fileContainingSymbol":
        return files(fileOfSymbol(registry, message.value), `symbol ${message.value}`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = message.value;
        const extension = [...registry].find(
          (d) => d.kind === "extension" && d.extendee.typeName === containingType && d.number === extensionNumber,
        );
        return files(
          extension?.kind === "extension" ? extension.file.proto.name : undefined,
          `extension ${extensionNumber} of ${containingType}`,
        );
      }
      case "allExtensionNumbersOfType": {
        if (!registry.getMessage(message.value))
          return { ...base, messageResponse: notFound(`type ${message.value} not found`) };
        const numbers = [...registry].flatMap((d) =>
          d.kind === "extension" && d.extendee.typeName === message.value ? [d.number] : [],
        );
        return {
          ...base,
          messageResponse: {
            $case: "allExtensionNumbersResponse",
            value: { baseTypeName: message.value, extensionNumber: numbers },
          },
        };
      }
      default:
        return {
          ...base,
          messageResponse: {
            $case: "errorResponse",
            value: { errorCode: Code.INVALID_ARGUMENT, errorMessage: "the request names no question" },
          },
        };
    }
  };

  return {
    definitions: reflectionDefinitions,
    async *handler(call) {
      for await (const request of call.request as AsyncIterable<ServerReflectionRequest>) yield respond(request);
    },
  };
}

/** The files reflection serves, by name, decoded, and as a registry of their symbols. */
interface ReflectionIndex {
  readonly bytesByName: ReadonlyMap<string, Uint8Array>;
  readonly protos: ReadonlyMap<string, FileDescriptorProto>;
  readonly registry: FileRegistry;
}

/** Decodes serialized FileDescriptorProtos (the first of each name wins) into a ReflectionIndex. */
function indexFiles(files: readonly Uint8Array[]): ReflectionIndex {
  const { create, createFileRegistry, fromBinary } =
    loadModule<typeof import("@bufbuild/protobuf")>("@bufbuild/protobuf");
  const wkt = loadModule<typeof import("@bufbuild/protobuf/wkt")>("@bufbuild/protobuf/wkt");
  const bytesByName = new Map<string, Uint8Array>();
  const protos = new Map<string, FileDescriptorProto>();
  for (const bytes of files) {
    const proto = fromBinary(wkt.FileDescriptorProtoSchema, bytes);
    if (bytesByName.has(proto.name)) continue;
    bytesByName.set(proto.name, bytes);
    protos.set(proto.name, proto);
  }
  const registry = createFileRegistry(create(wkt.FileDescriptorSetSchema, { file: importsFirst(protos) }));
  return { bytesByName, protos, registry };
}

function notFound(message: string): ServerReflectionResponse["messageResponse"] {
  return { $case: "errorResponse", value: { errorCode: Code.NOT_FOUND, errorMessage: message } };
}

/** The file declaring a fully qualified symbol: a type, service, method, field, enum value or extension. */
function fileOfSymbol(registry: FileRegistry, symbol: string): string | undefined {
  const direct = registry.get(symbol);
  if (direct) return direct.file.proto.name;
  // Methods, fields and enum values are members of a named descriptor.
  const parent = registry.get(symbol.slice(0, Math.max(0, symbol.lastIndexOf("."))));
  return parent ? parent.file.proto.name : undefined;
}

/** A file and everything it imports, transitively, the file first. */
function withImports(name: string, protos: ReadonlyMap<string, FileDescriptorProto>): string[] {
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file) || !protos.has(file)) return;
    order.push(file);
    protos.get(file)?.dependency.forEach(visit);
  };
  visit(name);
  return order;
}

/** The files in an order protobuf-es can build a registry from: each after its imports. */
export function importsFirst(protos: ReadonlyMap<string, FileDescriptorProto>): FileDescriptorProto[] {
  const ordered: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    const file = protos.get(name);
    if (!file || seen.has(name)) return;
    seen.add(name);
    file.dependency.forEach(visit);
    ordered.push(file);
  };
  [...protos.keys()].forEach(visit);
  return ordered;
}

/**
 * The serialized FileDescriptorProtos inside a base64 FileDescriptorSet, as
 * they are: field 1 repeats, each a length-delimited file, so slicing them out
 * needs no descriptor schema and no re-encoding.
 */
export function fileDescriptorProtos(base64FileDescriptorSet: string): Uint8Array[] {
  const reader = new BinaryReader(Buffer.from(base64FileDescriptorSet, "base64"));
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType);
  }
  return files;
}
