/**
 * Service definitions: what generated `*.micro.ts` files describe and what the
 * runtime serves and calls. Generated code holds only data of these shapes;
 * the runtime does the work.
 */
import type { BinaryWriter } from "@bufbuild/protobuf/wire";

/** How requests and responses flow for one method. */
export type MethodKind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/** Whether a method may be retried or cached, from the proto's `idempotency_level`. */
export type Idempotency = "unknown" | "no_side_effects" | "idempotent";

/**
 * Encodes and decodes one message type. The message objects ts-proto
 * generates (`HelloRequest.encode`, `.decode`, …) satisfy it.
 */
export interface MessageCodec<T> {
  /** Encodes `message`, into `writer` when the codec can (ts-proto's do), which it then returns. */
  encode(message: T, writer?: BinaryWriter): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
  fromPartial(object: DeepPartial<T>): T;
}

/** One `google.api.http` binding of a method; additional bindings are flattened into the method's list. */
export interface HttpRule {
  /** HTTP verb in upper case, or the `custom` kind as written in the proto. */
  readonly method: string;
  /** Path template, such as `/v1/{name=shelves/*}/books`. */
  readonly path: string;
  /** `"*"` for the whole request, a field name, or absent when the request has no body. */
  readonly body?: string;
  /** The response field that becomes the HTTP body, when not the whole response. */
  readonly responseBody?: string;
}

/** One RPC of a service, as the generator describes it. */
export interface MethodDefinition<I = unknown, O = unknown, K extends MethodKind = MethodKind> {
  /** The method's name in the proto, such as `SayHello`. */
  readonly name: string;
  /** The gRPC path, `/package.Service/Method`. */
  readonly path: string;
  readonly kind: K;
  readonly input: MessageCodec<I>;
  readonly output: MessageCodec<O>;
  /** Fully qualified proto name of the request message. */
  readonly inputType: string;
  /** Fully qualified proto name of the response message. */
  readonly outputType: string;
  readonly idempotency: Idempotency;
  readonly deprecated: boolean;
  readonly http: readonly HttpRule[];
}

/** A proto service: its full name and its methods keyed by their TypeScript names. */
export interface ServiceDefinition {
  /** Fully qualified proto name, such as `greeter.v1.Greeter`. */
  readonly typeName: string;
  /** The proto file that declares the service. */
  readonly file: string;
  readonly deprecated: boolean;
  readonly methods: { readonly [localName: string]: MethodDefinition };
  /**
   * The declaring file and everything it imports, as a base64
   * `google.protobuf.FileDescriptorSet` (no source info): what server
   * reflection serves, so tools call the service without its source.
   */
  readonly fileDescriptorSet: string;
}

/** One route of a generated route table: a binding and the method it calls, by its TypeScript name. */
export interface RouteBinding<K extends string = string> extends HttpRule {
  readonly rpc: K;
}

/**
 * A service's generated route table (`LibraryRoutes`): its definition and every `google.api.http`
 * binding, naming methods by their keys in `definition.methods`, so hooks on them are typed.
 */
export interface ServiceRoutes<S extends ServiceDefinition = ServiceDefinition> {
  readonly definition: S;
  readonly routes: readonly RouteBinding<keyof S["methods"] & string>[];
}

/** The request type of a method definition. */
export type InputOf<M> = M extends { readonly input: { decode(input: Uint8Array): infer I } } ? I : never;

/** The response type of a method definition. */
export type OutputOf<M> = M extends { readonly output: { decode(input: Uint8Array): infer O } } ? O : never;

// `(...args: never) => unknown` is every function type, as `Function` was, but spelled as a signature.
type Builtin = Date | ((...args: never) => unknown) | Uint8Array | string | number | boolean | bigint | undefined;

/**
 * A message with every field optional, recursively: what clients accept, so
 * callers write only the fields they set. Oneof unions keep their `$case`.
 */
export type DeepPartial<T> = T extends Builtin
  ? T
  : T extends ReadonlyArray<infer U>
    ? ReadonlyArray<DeepPartial<U>>
    : T extends { $case: string; value: unknown }
      ? { $case: T["$case"]; value?: DeepPartial<T["value"]> }
      : T extends object
        ? { [K in keyof T]?: DeepPartial<T[K]> }
        : Partial<T>;
