import {
  Client,
  credentials,
  type CallOptions,
  type ChannelOptions,
  type ClientReadableStream,
  type ClientWritableStream,
} from "@grpc/grpc-js";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import { fromServiceError, grpcCodec, messageOf, toGrpcMetadata, untilWritable } from "./grpc-wire.js";
import type { CallResult, ClientCall, ClientTransport } from "./transport.js";

/** Options of createGrpcClientTransport. */
export interface GrpcClientTransportOptions {
  /**
   * Connections per address, used in turn. One HTTP/2 connection carries
   * many calls; more spread heavy load over more sockets. Default 1.
   */
  readonly poolSize?: number;
  /** grpc-js channel options, such as keepalive or message size limits. */
  readonly channelOptions?: ChannelOptions;
}

/** A method's request serializer and response deserializer. */
interface MethodCodec {
  readonly serialize: (request: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

/** The connections to one address and whose turn is next. */
interface Pool {
  readonly clients: readonly Client[];
  next: number;
}

/** How far the request stream of a client- or bidi-streaming call got, for the error the caller sees. */
interface RequestPump {
  failed: boolean;
  error: unknown;
}

/** grpc-js's CallOptions for a call without a deadline: read, never written, so one object serves every call. */
const noCallOptions: CallOptions = Object.freeze({});

/**
 * Calls addresses over gRPC with @grpc/grpc-js: per address a small pool of
 * channels made on first use and reused, messages through the generated
 * codecs, and every failure as a TsmicroError with the gRPC code.
 */
export function createGrpcClientTransport(options: GrpcClientTransportOptions = {}): ClientTransport {
  const poolSize = Math.max(1, Math.floor(options.poolSize ?? 1));
  // grpc-js shares one connection among channels to the same address unless
  // each channel keeps its own subchannel pool; a pool of one needs no such thing.
  const channelOptions: ChannelOptions =
    poolSize > 1 ? { "grpc.use_local_subchannel_pool": 1, ...options.channelOptions } : { ...options.channelOptions };
  const insecure = credentials.createInsecure();
  const pools = new Map<string, Pool>();
  const codecs = new WeakMap<MethodDefinition, MethodCodec>();
  let closed = false;

  function clientFor(address: string): Client {
    let pool = pools.get(address);
    if (!pool) {
      const clients = Array.from({ length: poolSize }, () => new Client(address, insecure, channelOptions));
      pool = { clients, next: 0 };
      pools.set(address, pool);
    }
    const client = pool.clients[pool.next] as Client;
    if (poolSize > 1) pool.next = (pool.next + 1) % poolSize;
    return client;
  }

  function codecFor(method: MethodDefinition): MethodCodec {
    let codec = codecs.get(method);
    if (!codec) {
      codec = { serialize: grpcCodec(method.input).serialize, deserialize: grpcCodec(method.output).deserialize };
      codecs.set(method, codec);
    }
    return codec;
  }

  return {
    call(address: string, call: ClientCall): CallResult {
      const streamsResponses = call.method.kind === "server_streaming" || call.method.kind === "bidi_streaming";
      if (closed) {
        const error = new TsmicroError(
          Code.FAILED_PRECONDITION,
          `call to ${address} after the client transport closed`,
        );
        return streamsResponses ? failing(error) : Promise.reject(error);
      }
      const client = clientFor(address);
      const codec = codecFor(call.method);
      if (streamsResponses) return responses(client, call, codec);
      return call.method.kind === "unary" ? unary(client, call, codec) : clientStream(client, call, codec);
    },

    async close() {
      closed = true;
      for (const pool of pools.values()) for (const client of pool.clients) client.close();
      pools.clear();
    },
  };
}

function unary(client: Client, call: ClientCall, codec: MethodCodec): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { signal } = call;
    if (signal?.aborted) {
      reject(cancelledBeforeStart(call));
      return;
    }
    let cancel: (() => void) | undefined;
    const pending = client.makeUnaryRequest(
      call.method.path,
      codec.serialize,
      codec.deserialize,
      call.request,
      toGrpcMetadata(call.metadata),
      callOptionsOf(call),
      (error, response) => {
        if (cancel) signal?.removeEventListener("abort", cancel);
        if (error) reject(fromServiceError(error));
        else resolve(response);
      },
    );
    if (signal) {
      cancel = () => pending.cancel();
      signal.addEventListener("abort", cancel, { once: true });
    }
  });
}

function clientStream(client: Client, call: ClientCall, codec: MethodCodec): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { signal } = call;
    if (signal?.aborted) {
      reject(cancelledBeforeStart(call));
      return;
    }
    let cancel: (() => void) | undefined;
    let pump: RequestPump | undefined;
    const stream = client.makeClientStreamRequest(
      call.method.path,
      codec.serialize,
      codec.deserialize,
      toGrpcMetadata(call.metadata),
      callOptionsOf(call),
      (error, response) => {
        if (cancel) signal?.removeEventListener("abort", cancel);
        if (!error) resolve(response);
        else reject(pump?.failed ? requestStreamError(pump.error) : fromServiceError(error));
      },
    );
    stream.on("error", ignore);
    if (signal) {
      cancel = () => stream.cancel();
      signal.addEventListener("abort", cancel, { once: true });
    }
    pump = pumpRequests(stream, call.request as AsyncIterable<unknown>);
  });
}

/**
 * The responses of a server- or bidi-streaming call. The call starts on the
 * first `next()`, so an iterable nobody reads costs nothing, and stopping
 * early (break, return) cancels it.
 */
async function* responses(client: Client, call: ClientCall, codec: MethodCodec): AsyncGenerator<unknown> {
  const { signal } = call;
  if (signal?.aborted) throw cancelledBeforeStart(call);
  const metadata = toGrpcMetadata(call.metadata);
  const path = call.method.path;
  let stream: ClientReadableStream<unknown>;
  let pump: RequestPump | undefined;
  if (call.method.kind === "server_streaming") {
    stream = client.makeServerStreamRequest(
      path,
      codec.serialize,
      codec.deserialize,
      call.request,
      metadata,
      callOptionsOf(call),
    );
    stream.on("error", ignore);
  } else {
    const duplex = client.makeBidiStreamRequest(
      path,
      codec.serialize,
      codec.deserialize,
      metadata,
      callOptionsOf(call),
    );
    duplex.on("error", ignore);
    pump = pumpRequests(duplex, call.request as AsyncIterable<unknown>);
    stream = duplex;
  }
  const cancel = (): void => stream.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  let settled = false;
  try {
    for await (const response of stream) yield response;
    settled = true;
  } catch (error) {
    settled = true;
    throw pump?.failed ? requestStreamError(pump.error) : fromServiceError(error);
  } finally {
    signal?.removeEventListener("abort", cancel);
    if (!settled) stream.cancel();
  }
}

/**
 * Writes the caller's requests as the call takes them, then half-closes. It
 * stops when the call ends first, and cancels the call when the requests
 * fail, recording why so the caller sees that instead of CANCELLED.
 */
function pumpRequests(stream: ClientWritableStream<unknown>, requests: AsyncIterable<unknown>): RequestPump {
  const state: RequestPump = { failed: false, error: undefined };
  void pump(stream, requests, state);
  return state;
}

async function pump(stream: ClientWritableStream<unknown>, requests: AsyncIterable<unknown>, state: RequestPump) {
  let ended = false;
  const onStatus = (): void => {
    ended = true;
  };
  stream.once("status", onStatus);
  try {
    for await (const request of requests) {
      if (ended) break;
      if (!stream.write(request) && !ended) await untilWritable(stream);
    }
    if (!ended) stream.end();
  } catch (error) {
    if (!ended) {
      state.failed = true;
      state.error = error;
      stream.cancel();
    }
  } finally {
    stream.off("status", onStatus);
  }
}

function callOptionsOf(call: ClientCall): CallOptions {
  return call.deadline === undefined ? noCallOptions : { deadline: call.deadline };
}

function cancelledBeforeStart(call: ClientCall): TsmicroError {
  return new TsmicroError(Code.CANCELLED, `${call.method.path} was cancelled before it was sent`);
}

function requestStreamError(error: unknown): TsmicroError {
  if (isTsmicroError(error)) return error;
  return new TsmicroError(Code.CANCELLED, `the request stream failed: ${messageOf(error)}`, { cause: error });
}

async function* failing(error: TsmicroError): AsyncGenerator<never> {
  throw error;
}

/**
 * grpc-js emits a failed stream's status as an `error` event, also after the
 * iterator that listened has returned (a cancel on early exit): with no
 * listener left, that event would crash the process.
 */
function ignore(): void {}
