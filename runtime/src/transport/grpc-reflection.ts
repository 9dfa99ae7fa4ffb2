import { ReflectionService } from "@grpc/reflection";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { ServiceDefinition } from "../definition/definition.js";
import { asBuffer } from "./grpc-wire.js";

/** The package definition ReflectionService reads (proto-loader's shape, without depending on proto-loader). */
type ReflectionPackage = ConstructorParameters<typeof ReflectionService>[0];

/** A service to list in reflection that is not a tsmicro definition, such as grpc.health.v1.Health. */
export interface ReflectedService {
  readonly typeName: string;
  /** Serialized FileDescriptorProtos: the declaring file and its imports. */
  readonly fileDescriptorProtos: readonly Uint8Array[];
}

/**
 * Builds gRPC server reflection (v1 and v1alpha) for the given services from
 * the descriptors generated code embeds, so tools such as grpcurl call them
 * without the protos.
 */
export function createReflectionService(
  services: readonly ServiceDefinition[],
  extra: readonly ReflectedService[] = [],
): ReflectionService {
  // ReflectionService only reads `fileDescriptorProtos` of each entry (it
  // decodes and indexes the files itself), so one entry per service is enough;
  // the rest of the shape satisfies proto-loader's type. Files shared between
  // services are deduplicated by ReflectionService by file name.
  const pkg: ReflectionPackage = {};
  const names: string[] = [];
  const add = (typeName: string, protos: readonly Uint8Array[]): void => {
    pkg[typeName] = {
      format: "Protocol Buffer 3 DescriptorProto",
      type: {},
      fileDescriptorProtos: protos.map(asBuffer),
    };
    names.push(typeName);
  };
  for (const service of services) add(service.typeName, fileDescriptorProtos(service.fileDescriptorSet));
  for (const service of extra) add(service.typeName, service.fileDescriptorProtos);
  // Without the list, every service declared in the files would be listed,
  // including ones this server does not serve.
  return new ReflectionService(pkg, { services: names });
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
