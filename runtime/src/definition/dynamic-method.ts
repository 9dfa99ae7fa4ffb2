import type { DescMessage, DescMethod, JsonValue, Message, Registry } from "@bufbuild/protobuf";
import { loadModule } from "../platform/lazy-module.js";
import { readHttpRules } from "../routing/http-rules.js";
import type { HttpRule, MessageCodec, MethodDefinition } from "./definition.js";

/**
 * A method definition built from descriptors alone (server reflection, an
 * embedded FileDescriptorSet): its codecs are protobuf-es reflection, so
 * tools and the gateway call services whose generated code they lack.
 * `registry` resolves `google.protobuf.Any` and the `google.api.http` option.
 */
export function dynamicMethod(method: DescMethod, registry?: Registry): MethodDefinition<Message, Message> {
  const http: HttpRule[] = registry
    ? readHttpRules(registry, method.proto.options).map((rule) => ({
        method: rule.method,
        path: rule.path,
        ...(rule.body === undefined ? {} : { body: rule.body }),
        ...(rule.responseBody === undefined ? {} : { responseBody: rule.responseBody }),
      }))
    : [];
  return {
    name: method.name,
    path: `/${method.parent.typeName}/${method.name}`,
    kind: method.methodKind,
    input: dynamicCodec(method.input, registry),
    output: dynamicCodec(method.output, registry),
    inputType: method.input.typeName,
    outputType: method.output.typeName,
    idempotency: method.idempotency === 1 ? "no_side_effects" : method.idempotency === 2 ? "idempotent" : "unknown",
    deprecated: method.deprecated,
    http,
  };
}

/** A codec of one message type through protobuf-es reflection; `fromJSON` is strict proto3 JSON and throws on bad input. */
export function dynamicCodec(desc: DescMessage, registry?: Registry): MessageCodec<Message> {
  const options = registry ? { registry } : undefined;
  // Whoever holds a descriptor has loaded protobuf-es already; importing the runtime does not.
  const { fromBinary, fromJson, toBinary, toJson } =
    loadModule<typeof import("@bufbuild/protobuf")>("@bufbuild/protobuf");
  return {
    encode: (message) => ({ finish: () => toBinary(desc, message) }),
    decode: (bytes) => fromBinary(desc, bytes),
    fromJSON: (value) => fromJson(desc, value as JsonValue, options),
    toJSON: (message) => toJson(desc, message, options),
    fromPartial: (message) => message as Message,
  };
}
