import type { FileRegistry } from "@bufbuild/protobuf";
import type { DescriptorProto, FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient } from "../definition/client.js";
import { Code, TsmicroError } from "../errors/tsmicro-error.js";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection.js";
import { ServerReflectionDefinition } from "../gen/grpc/reflection/v1/reflection.micro.js";
import { createDirectCaller } from "../client/direct-caller.js";
import { importsFirst } from "./grpc-reflection.js";
import type { ClientTransport } from "./transport.js";

/** Asks one node, through gRPC server reflection (v1), what it serves. */
export interface ReflectionClient {
  /** Fully qualified names of the services the node serves. */
  listServices(): Promise<string[]>;
  /** The descriptors of the file declaring `symbol` and everything it imports, ready for protobuf-es. */
  descriptorsOf(symbol: string): Promise<FileRegistry>;
}

/** Options of a reflection call. */
export interface ReflectionClientOptions {
  readonly timeoutMs?: number;
}

/** A reflection client for the node at `address`, over `transport`. */
export function createReflectionClient(
  transport: ClientTransport,
  address: string,
  options: ReflectionClientOptions = {},
): ReflectionClient {
  const reflection = createClient(ServerReflectionDefinition, createDirectCaller({ transport, address }));
  const timeoutMs = options.timeoutMs ?? 5_000;

  async function ask(request: Partial<ServerReflectionRequest>): Promise<ServerReflectionResponse> {
    for await (const response of reflection.serverReflectionInfo([request], { timeoutMs })) {
      if (response.messageResponse?.$case === "errorResponse") {
        const { errorCode, errorMessage } = response.messageResponse.value;
        throw new TsmicroError(errorCode as Code, `server reflection on ${address}: ${errorMessage}`);
      }
      return response;
    }
    throw new TsmicroError(Code.UNAVAILABLE, `server reflection on ${address} answered nothing`);
  }

  return {
    async listServices() {
      const response = await ask({ messageRequest: { $case: "listServices", value: "" } });
      return response.messageResponse?.$case === "listServicesResponse"
        ? response.messageResponse.value.service.map((s) => s.name)
        : [];
    },

    async descriptorsOf(symbol) {
      // Loaded at the first question, not with the runtime: the descriptor schemas cost a process that never asks.
      const [
        { create, createFileRegistry, fromBinary },
        { FileDescriptorProtoSchema, FileDescriptorSetSchema },
        { protoCamelCase },
      ] = await Promise.all([
        import("@bufbuild/protobuf"),
        import("@bufbuild/protobuf/wkt"),
        import("@bufbuild/protobuf/reflect"),
      ]);
      const files = new Map<string, FileDescriptorProto>();
      const add = (response: ServerReflectionResponse) => {
        if (response.messageResponse?.$case !== "fileDescriptorResponse") return;
        for (const bytes of response.messageResponse.value.fileDescriptorProto) {
          const file = fromBinary(FileDescriptorProtoSchema, bytes);
          fillJsonNames(file.messageType, protoCamelCase);
          files.set(file.name, file);
        }
      };
      add(await ask({ messageRequest: { $case: "fileContainingSymbol", value: symbol } }));
      for (let missing = missingImports(files); missing.length > 0; missing = missingImports(files)) {
        for (const name of missing) add(await ask({ messageRequest: { $case: "fileByFilename", value: name } }));
        if (missingImports(files).some((name) => missing.includes(name)))
          throw new TsmicroError(Code.NOT_FOUND, `server reflection on ${address} lacks ${missing.join(", ")}`);
      }
      return createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
    },
  };
}

/**
 * Gives every field without a `json_name` the one protoc would (lowerCamelCase). protoc always
 * sets it, but some servers' reflection does not (Python grpcio's copies descriptors without
 * it), and a field without one would be read and written under the JSON key "".
 */
function fillJsonNames(messages: readonly DescriptorProto[], camelCase: (name: string) => string): void {
  for (const message of messages) {
    for (const field of message.field) if (field.jsonName === "") field.jsonName = camelCase(field.name);
    fillJsonNames(message.nestedType, camelCase);
  }
}

function missingImports(files: ReadonlyMap<string, FileDescriptorProto>): string[] {
  return [...new Set([...files.values()].flatMap((file) => file.dependency))].filter((name) => !files.has(name));
}
