import type {
  CallOptions,
  Channel,
  ChannelOptions,
  Client,
  ClientReadableStream,
  ClientWritableStream,
  Metadata as GrpcMetadata,
  ServiceError,
  StatusObject,
} from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import type { Compression, Metadata } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import { gzipChannelAlgorithm } from "./grpc-compression.js";
import {
  fromGrpcMetadata,
  fromServiceError,
  grpcCodec,
  grpcJs,
  messageOf,
  callMetadata,
  untilWritable,
} from "./grpc-wire.js";
import { type ClientKeepaliveOptions, clientKeepalive } from "./keepalive.js";
import type { CallResult, ClientCall, ClientTransport } from "./transport.js";
import { isAsyncIterable } from "./call-result.js";
import {
  abortedError,
  afterClose,
  cancelledBeforeStart,
  deadlinePassedBeforeSending,
  requestStreamError,
} from "./call-errors.js";
import { longestTimerMs } from "../platform/timer-delay.js";

/** Options of createGrpcClientTransport. */
export interface GrpcClientTransportOptions extends ClientKeepaliveOptions {
  /**
   * Connections per address, used in turn. One HTTP/2 connection carries
   * many calls; more spread heavy load over more sockets. Default 1.
   */
  readonly poolSize?: number;
  /** Compresses requests (gzip) unless a call says otherwise; responses arrive in any encoding. Default identity. */
  readonly compression?: Compression;
  /** The largest response message accepted, in bytes; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB; -1 for no limit. */
  readonly maxReceiveMessageBytes?: number;
  /** The largest request message sent, in bytes; larger ones fail RESOURCE_EXHAUSTED. Default no limit (-1). */
  readonly maxSendMessageBytes?: number;
  /** grpc-js channel options, such as keepalive; the fields above win over the same keys here. */
  readonly channelOptions?: ChannelOptions;
  /**
   * How long an address's channels go unused, holding no connection (a node that left), before
   * they are closed; a later call to the address makes new ones. Default 60 s.
   */
  readonly releaseUnusedAfterMs?: number;
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
  /** Date.now() of the last call the pool was asked for, or a wait-for-ready call of it ended. */
  usedAt: number;
  /** Its wait-for-ready calls in flight, which may sit queued on a channel with no connection. */
  waiting: number;
}

/** How far the request stream of a client- or bidi-streaming call got, for the error the caller sees. */
interface RequestPump {
  failed: boolean;
  error: unknown;
}

/** A call on a grpc-js channel, below grpc-js's interceptors. */
type GrpcCall = ReturnType<Channel["createCall"]>;

/** grpc-js's CallOptions for a call without a deadline: read, never written, so one object serves every call. */
const noCallOptions: CallOptions = Object.freeze({});

/**
 * Calls addresses over gRPC with @grpc/grpc-js: per address a small pool of
 * channels made on first use and reused, messages through the generated
 * codecs, and every failure as a TsmicroError with the gRPC code.
 */
export function createGrpcClientTransport(options: GrpcClientTransportOptions = {}): ClientTransport {
  const poolSize = Math.max(1, Math.floor(options.poolSize ?? 1));
  // grpc-js shares one connection among all channels of the process to the same
  // address unless each channel keeps its own subchannel pool: the pool's channels
  // would share one connection, and a channel to a node restarted on the address
  // of one another client saw die would fail at once ("Last error: null") until
  // that connection's reconnect backoff ended. Channelz (grpc-js's call counters and timestamps,
  // kept on every call for a channelz service tsmicro does not serve) is off.
  const channelOptions: ChannelOptions = {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_channelz": 0,
    ...options.channelOptions,
  };
  if (options.maxReceiveMessageBytes !== undefined) {
    channelOptions["grpc.max_receive_message_length"] = options.maxReceiveMessageBytes;
  }
  if (options.maxSendMessageBytes !== undefined) {
    channelOptions["grpc.max_send_message_length"] = options.maxSendMessageBytes;
  }
  const keepalive = clientKeepalive(options);
  if (keepalive) {
    channelOptions["grpc.keepalive_time_ms"] = keepalive.intervalMs;
    channelOptions["grpc.keepalive_timeout_ms"] = keepalive.timeoutMs;
    channelOptions["grpc.keepalive_permit_without_calls"] = keepalive.whenIdle ? 1 : 0;
  }
  // grpc-js compresses per channel, so gzip calls get channels of their own
  // (sharing the connection unless the pool keeps its own subchannels).
  const gzipChannelOptions: ChannelOptions = {
    ...channelOptions,
    "grpc.default_compression_algorithm": gzipChannelAlgorithm,
  };
  const defaultGzip = options.compression === "gzip";
  const grpc = grpcJs();
  const insecure = grpc.credentials.createInsecure();
  const pools = new Map<string, Pool>();
  const gzipPools = new Map<string, Pool>();
  const codecs = new WeakMap<MethodDefinition, MethodCodec>();
  let closed = false;
  let sweeper: NodeJS.Timeout | undefined;
  const releaseAfterMs = options.releaseUnusedAfterMs ?? 60_000;
  if (!(releaseAfterMs > 0 && releaseAfterMs <= longestTimerMs))
    throw new RangeError(`releaseUnusedAfterMs must be a number of ms from 1 to 2^31-1, not ${releaseAfterMs}`);

  /**
   * Closes the channels of addresses unused for a while that hold no connection (a node that
   * left: refused and retrying, or idle after its GOAWAY), which grpc-js would keep, and keep
   * dialling, for the life of the process; a later call to the address makes new ones.
   */
  function releaseUnconnected(): void {
    const { READY, CONNECTING } = grpc.connectivityState;
    const before = Date.now() - releaseAfterMs;
    for (const byAddress of [pools, gzipPools])
      for (const [address, pool] of byAddress) {
        if (pool.usedAt > before || pool.waiting > 0) continue;
        const states = pool.clients.map((client) => client.getChannel().getConnectivityState(false));
        if (states.some((state) => state === READY || state === CONNECTING)) continue;
        for (const client of pool.clients) client.close();
        byAddress.delete(address);
      }
    if (pools.size === 0 && gzipPools.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  function poolFor(address: string, compression: Compression | undefined): Pool {
    const gzip = compression === undefined ? defaultGzip : compression === "gzip";
    const byAddress = gzip ? gzipPools : pools;
    let pool = byAddress.get(address);
    if (!pool) {
      const options = gzip ? gzipChannelOptions : channelOptions;
      const clients = Array.from({ length: poolSize }, () => new grpc.Client(address, insecure, options));
      pool = { clients, next: 0, usedAt: 0, waiting: 0 };
      byAddress.set(address, pool);
      sweeper ??= setInterval(releaseUnconnected, releaseAfterMs / 2).unref();
    }
    pool.usedAt = Date.now();
    return pool;
  }

  function clientOf(pool: Pool): Client {
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
      if (closed) return afterClose(address, call);
      const streamsResponses = call.method.kind === "server_streaming" || call.method.kind === "bidi_streaming";
      const pool = poolFor(address, call.compression);
      const client = clientOf(pool);
      const codec = codecFor(call.method);
      const result = streamsResponses
        ? responses(client, address, call, codec)
        : call.method.kind === "unary"
          ? unary(client, address, call, codec)
          : clientStream(client, address, call, codec);
      return call.waitForReady ? heldWhileWaiting(pool, result) : result;
    },

    async close() {
      closed = true;
      clearInterval(sweeper);
      for (const byAddress of [pools, gzipPools]) {
        for (const pool of byAddress.values()) for (const client of pool.clients) client.close();
        byAddress.clear();
      }
    },
  };
}

/** A wait-for-ready call's result, counted in its pool's `waiting` until it settles, so the pool is not released under it. */
function heldWhileWaiting(pool: Pool, result: CallResult): CallResult {
  const release = (): void => {
    pool.waiting--;
    pool.usedAt = Date.now();
  };
  if (!isAsyncIterable(result)) {
    pool.waiting++;
    return (result as Promise<unknown>).finally(release);
  }
  // Counted once read, as the call itself starts on the first next().
  return (async function* held() {
    pool.waiting++;
    try {
      yield* result;
    } finally {
      release();
    }
  })();
}

/**
 * A unary call straight on the client's channel, as grpc-js's own makeUnaryRequest makes it
 * below its interceptor layer: no interceptors are ever set here, and that layer's per-call
 * work (an Error to keep the caller's stack, an event emitter, wrapping listeners) cost more
 * than the rest of the client together.
 */
function unary(client: Client, address: string, call: ClientCall, codec: MethodCodec): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const unsendable = unsendableCall(call);
    if (unsendable) {
      reject(unsendable);
      return;
    }
    let request: Buffer;
    try {
      request = codec.serialize(call.request);
    } catch (error) {
      reject(isTsmicroError(error) ? error : new TsmicroError(Code.INTERNAL, messageOf(error), { cause: error }));
      return;
    }
    const pending = client.getChannel().createCall(call.method.path, deadlineOf(call), undefined, null, undefined);
    const exchange = new UnaryExchange(pending, { call, address, codec, resolve, reject });
    pending.start(metadataOf(call), exchange);
    pending.sendMessageWithContext({}, request);
    pending.halfClose();
    pending.startRead();
    exchange.listen();
  });
}

/** What a unary call answers to until its status arrives. */
interface UnaryCaller {
  readonly call: ClientCall;
  /** The node called, named in a failure grpc-js words itself. */
  readonly address: string;
  readonly codec: MethodCodec;
  readonly resolve: (response: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The listener of one unary call on a grpc-js channel. Its status lets go of the caller (the
 * request, its callbacks, the promise and whoever awaits it): node holds a closed HTTP/2 stream,
 * and through its listeners grpc-js's call and this listener, a while after the call ends, and
 * a young-generation collection in that while would move all the caller reaches to the old
 * generation.
 */
class UnaryExchange {
  #caller: UnaryCaller | undefined;
  #response: unknown;
  #received = false;
  /** What a metadata callback threw: the call is cancelled and fails with it. */
  #thrown: unknown;
  readonly #pending: GrpcCall;
  readonly #cancel = (): void => this.#pending.cancelWithStatus(grpcJs().status.CANCELLED, "Cancelled on client");

  constructor(pending: GrpcCall, caller: UnaryCaller) {
    this.#pending = pending;
    this.#caller = caller;
  }

  /** Cancels the call when the caller's signal aborts. */
  listen(): void {
    this.#caller?.call.signal?.addEventListener("abort", this.#cancel, { once: true });
  }

  onReceiveMetadata(metadata: GrpcMetadata): void {
    this.#deliver(this.#caller?.call.onHeader, metadata);
  }

  onReceiveMessage(bytes: Buffer): void {
    const { status } = grpcJs();
    if (this.#received) {
      this.#pending.cancelWithStatus(status.UNIMPLEMENTED, "Too many responses received");
      return;
    }
    this.#received = true;
    try {
      this.#response = this.#caller?.codec.deserialize(bytes);
    } catch (error) {
      this.#pending.cancelWithStatus(status.INTERNAL, `Response message parsing error: ${messageOf(error)}`);
    }
  }

  onReceiveStatus(status: StatusObject): void {
    const caller = this.#caller;
    if (caller === undefined) return;
    const { call } = caller;
    call.signal?.removeEventListener("abort", this.#cancel);
    this.#deliver(call.onTrailer, status.metadata);
    const response = this.#response;
    this.#caller = undefined;
    this.#response = undefined;
    if (this.#thrown !== undefined) caller.reject(this.#thrown);
    else if (status.code !== grpcJs().status.OK) caller.reject(failureOf(statusError(status), call, caller.address));
    else if (!this.#received)
      caller.reject(
        failureOf(
          statusError({ ...status, code: Code.UNIMPLEMENTED, details: "No message received" }),
          call,
          caller.address,
        ),
      );
    else caller.resolve(response);
  }

  #deliver(callback: ((metadata: Metadata) => void) | undefined, metadata: GrpcMetadata): void {
    if (callback === undefined || this.#thrown !== undefined) return;
    this.#thrown = handOver(callback, metadata);
    if (this.#thrown !== undefined) this.#cancel();
  }
}

/**
 * Why a call is not sent, if it is not: cancelled already, or its deadline passed (grpc-js would
 * fail it too, in words that do not say it was never sent).
 */
function unsendableCall(call: ClientCall): TsmicroError | undefined {
  return call.signal?.aborted ? cancelledBeforeStart(call) : deadlinePassedBeforeSending(call);
}

/** A call's status as the error grpc-js's own calls fail with. */
function statusError(status: StatusObject): ServiceError {
  const name = grpcJs().status[status.code] ?? "UNKNOWN";
  return Object.assign(new Error(`${status.code} ${name}: ${status.details}`), status);
}

function clientStream(client: Client, address: string, call: ClientCall, codec: MethodCodec): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { signal } = call;
    const unsendable = unsendableCall(call);
    if (unsendable) {
      reject(unsendable);
      return;
    }
    let cancel: (() => void) | undefined;
    let pump: RequestPump | undefined;
    let outcome: { error: unknown; response?: unknown } | undefined;
    const settle = (): void => {
      if (cancel) signal?.removeEventListener("abort", cancel);
      if (!outcome) return;
      if (outcome.error === undefined) resolve(outcome.response);
      else reject(outcome.error);
    };
    const listener = call.onHeader || call.onTrailer ? new MetadataListener(call, () => stream.cancel()) : undefined;
    const stream = client.makeClientStreamRequest(
      call.method.path,
      codec.serialize,
      codec.deserialize,
      metadataOf(call),
      callOptionsOf(call),
      (error, response) => {
        if (listener?.error !== undefined) outcome = { error: listener.error };
        else if (!error) outcome = { error: undefined, response };
        else outcome = { error: pump?.failed ? requestStreamError(pump.error) : failureOf(error, call, address) };
        // With an onTrailer, the status event right after settles, as for unary calls.
        if (!call.onTrailer) settle();
      },
    );
    stream.on("error", ignore);
    if (listener) {
      listener.listen(stream);
      if (call.onTrailer) {
        stream.once("status", () => {
          if (outcome && listener.error !== undefined) outcome = { error: listener.error };
          settle();
        });
      }
    }
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
async function* responses(
  client: Client,
  address: string,
  call: ClientCall,
  codec: MethodCodec,
): AsyncGenerator<unknown> {
  const { signal } = call;
  const unsendable = unsendableCall(call);
  if (unsendable) throw unsendable;
  const metadata = metadataOf(call);
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
  const listener = call.onHeader || call.onTrailer ? new MetadataListener(call, () => stream.cancel()) : undefined;
  listener?.listen(stream);
  const cancel = (): void => stream.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  let settled = false;
  try {
    for await (const response of stream) {
      if (listener?.error !== undefined) break;
      yield response;
    }
    settled = true;
  } catch (error) {
    settled = true;
    if (listener?.error !== undefined) throw listener.error;
    throw pump?.failed ? requestStreamError(pump.error) : failureOf(error, call, address);
  } finally {
    signal?.removeEventListener("abort", cancel);
    if (!settled) stream.cancel();
  }
  if (listener?.error !== undefined) throw listener.error;
}

/**
 * Hands a call's response header and trailer to its `onHeader` and
 * `onTrailer`. A callback that throws cancels the call, which then fails
 * with what it threw.
 */
class MetadataListener {
  error: unknown;
  readonly #call: ClientCall;
  readonly #cancel: () => void;

  constructor(call: ClientCall, cancel: () => void) {
    this.#call = call;
    this.#cancel = cancel;
  }

  listen(emitter: EventEmitter): void {
    const { onHeader, onTrailer } = this.#call;
    if (onHeader) emitter.once("metadata", (metadata: GrpcMetadata) => this.#deliver(onHeader, metadata));
    if (onTrailer) emitter.once("status", (status: StatusObject) => this.#deliver(onTrailer, status.metadata));
  }

  #deliver(callback: (metadata: Metadata) => void, metadata: GrpcMetadata): void {
    const thrown = handOver(callback, metadata);
    if (thrown === undefined || this.error !== undefined) return;
    this.error = thrown;
    this.#cancel();
  }
}

/** Hands response metadata to a caller's callback; returns what the callback threw, if it threw. */
function handOver(callback: (metadata: Metadata) => void, metadata: GrpcMetadata): unknown {
  try {
    callback(fromGrpcMetadata(metadata));
    return undefined;
  } catch (error) {
    return error ?? new Error("a metadata callback threw undefined");
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
  let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
  let ended = false;
  let returned = false;
  // When the call ends first (the server finished, a cancel, a failure), the
  // request iterator is closed at once, so the caller's generator runs its
  // finally blocks instead of waiting for a next() that never comes. A
  // generator busy in an await closes right after its next yield.
  const close = (): void => {
    if (returned || !iterator) return;
    returned = true;
    try {
      void Promise.resolve(iterator.return?.()).catch(ignore);
    } catch {
      // A request stream that fails to close has nothing left to tell a call that ended.
    }
  };
  const onStatus = (): void => {
    ended = true;
    close();
  };
  stream.once("status", onStatus);
  try {
    // Middleware may hand over any iterable; the generated clients hand over async ones.
    iterator =
      Symbol.asyncIterator in requests
        ? requests[Symbol.asyncIterator]()
        : (requests as unknown as Iterable<unknown>)[Symbol.iterator]();
    for (;;) {
      const next = await iterator.next();
      if (ended) break;
      if (next.done) {
        returned = true;
        stream.end();
        break;
      }
      if (!stream.write(next.value) && !ended) await untilWritable(stream);
    }
  } catch (error) {
    returned = true;
    if (!ended) {
      state.failed = true;
      state.error = error;
      stream.cancel();
    }
  } finally {
    stream.off("status", onStatus);
  }
}

/** Request metadata for grpc-js, marked wait-for-ready when the call asks for it. */
function metadataOf(call: ClientCall): GrpcMetadata {
  return callMetadata(call.metadata, call.waitForReady ? waitForReady : undefined);
}

const waitForReady = Object.freeze({ waitForReady: true });

function callOptionsOf(call: ClientCall): CallOptions {
  const deadline = deadlineOf(call);
  return deadline === Infinity ? noCallOptions : { deadline };
}

/** The call's deadline for grpc-js: Infinity for none. */
function deadlineOf(call: ClientCall): Date | number {
  const { deadline } = call;
  // An invalid Date (an infinite timeout turned into a date) means no deadline, as undefined does.
  return deadline === undefined || !(deadline.getTime() < Infinity) ? Infinity : deadline;
}

/**
 * A failed call's error. A call the caller's signal cancelled fails with the
 * signal's reason: its code if it is a TsmicroError (a parent call's
 * deadline or cancel), DEADLINE_EXCEEDED for `AbortSignal.timeout`, else
 * CANCELLED naming the reason.
 */
function failureOf(error: unknown, call: ClientCall, address: string): TsmicroError {
  const { signal } = call;
  if (signal?.aborted && (error as { code?: unknown }).code === grpcJs().status.CANCELLED) {
    return abortedError(call, `${call.method.path} was cancelled`);
  }
  return fromServiceError(error, { path: call.method.path, address });
}

/**
 * grpc-js emits a failed stream's status as an `error` event, also after the
 * iterator that listened has returned (a cancel on early exit): with no
 * listener left, that event would crash the process.
 */
function ignore(): void {}
