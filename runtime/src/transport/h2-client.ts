import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2Session,
  connect,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  sensitiveHeaders,
} from "node:http2";
import type { Compression, Metadata } from "../definition/call.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import {
  addMetadata,
  wireLimits,
  type WireLimits,
  encodeForWire,
  MessageReader,
  metadataOf,
  releaseStream,
  statusError,
  timeoutHeader,
  nextWrite,
  writeFrame,
} from "./h2-wire.js";
import { type ClientKeepaliveOptions, clientKeepalive, type Keepalive, keepAlive } from "./keepalive.js";
import type { ClientCall, ClientTransport } from "./transport.js";
import { socketMeaning } from "./socket-failure.js";
import { perCallHeaders } from "./per-call-headers.js";
import {
  abortedError,
  afterClose,
  cancelledBeforeStart,
  throwIfLate,
  messageOf,
  requestStreamError,
} from "./call-errors.js";
import { timerDelayMs } from "../platform/timer-delay.js";

/** Options of createH2ClientTransport. */
export interface H2ClientTransportOptions extends ClientKeepaliveOptions {
  /** HTTP/2 connections per address, used in turn. Default 1. */
  readonly poolSize?: number;
  /** Compresses requests (gzip) unless a call says otherwise; responses arrive identity or gzip. Default identity. */
  readonly compression?: Compression;
  /** The largest response message accepted, in bytes; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB; -1 for no limit. */
  readonly maxReceiveMessageBytes?: number;
  /** The largest request message sent, in bytes; larger ones fail RESOURCE_EXHAUSTED. Default no limit (-1). */
  readonly maxSendMessageBytes?: number;
  /**
   * Calls one connection carries before a new one takes its place (the old
   * one closes once its calls end). Default, and at most, 2^30: a client's
   * HTTP/2 stream ids run out there.
   */
  readonly callsPerConnection?: number;
}

/** The streams an HTTP/2 client can open on one connection: odd ids below 2^31. */
const maxCallsPerConnection = 2 ** 30;

/** A connection of an address's pool, and the calls started on it. */
interface Connection {
  readonly session: ClientHttp2Session;
  calls: number;
}

/** How long after its deadline a call's stream is reset, when the server has not ended it itself. */
const deadlineResetDelayMs = 20;

/**
 * Calls addresses over gRPC on `node:http2` directly: per address a small
 * pool of HTTP/2 sessions, opened on first use and dropped when they close,
 * one stream per call. Deadlines go out as `grpc-timeout` and are kept here
 * too; an aborted signal resets the stream; every failure is a TsmicroError
 * with the gRPC code. The selector and retries stay in tsmicro's client.
 */
export function createH2ClientTransport(options: H2ClientTransportOptions = {}): ClientTransport {
  const poolSize = Math.max(1, Math.floor(options.poolSize ?? 1));
  const limits = wireLimits(options);
  const callsPerConnection = Math.min(maxCallsPerConnection, Math.max(1, options.callsPerConnection ?? Infinity));
  const keepalive = clientKeepalive(options);
  const pools = new Map<string, { connections: (Connection | undefined)[]; next: number }>();
  let closed = false;

  /** A session for one more call to `address`: the pool's next, replaced when it closed or has carried its share of calls. */
  function sessionFor(address: string): ClientHttp2Session {
    let pool = pools.get(address);
    if (!pool) {
      pool = { connections: Array.from({ length: poolSize }, () => undefined), next: 0 };
      pools.set(address, pool);
    }
    const slot = pool.next;
    pool.next = (pool.next + 1) % poolSize;
    const current = pool.connections[slot];
    if (current && usable(current.session)) {
      if (current.calls < callsPerConnection) {
        current.calls++;
        return current.session;
      }
      void closeSession(current.session);
    }
    const session = openSession(address, keepalive);
    const connections = pool.connections;
    const opened = pool;
    session.once("close", () => {
      if (connections[slot]?.session === session) connections[slot] = undefined;
      // A node that left leaves no entry behind: the next call to its address makes a new one.
      if (connections.every((c) => c === undefined) && pools.get(address) === opened) pools.delete(address);
    });
    connections[slot] = { session, calls: 1 };
    return session;
  }

  return {
    call(address, call) {
      if (closed) return afterClose(address, call);
      const streamsResponses = call.method.kind === "server_streaming" || call.method.kind === "bidi_streaming";
      const open = call.waitForReady
        ? async () => startInTime(await readySession(() => sessionFor(address), address, call), address, call, limits)
        : () => start(sessionFor(address), address, call, limits);
      if (streamsResponses) return responses(open, call);
      return single(open, call);
    },

    async close() {
      closed = true;
      const sessions = [...pools.values()].flatMap((pool) => pool.connections.map((c) => c?.session));
      pools.clear();
      await Promise.all(sessions.map((session) => (session && !session.destroyed ? closeSession(session) : undefined)));
    },
  };
}

/**
 * A connected session to `address` for a wait-for-ready call: while the
 * connection fails, it tries again (backing off up to a second) until the
 * call's deadline or signal ends the wait.
 */
async function readySession(
  sessionFor: () => ClientHttp2Session,
  address: string,
  call: ClientCall,
): Promise<ClientHttp2Session> {
  for (let backoffMs = 50; ; backoffMs = Math.min(backoffMs * 2, 1_000)) {
    const session = sessionFor();
    if (!session.connecting && !session.destroyed) return session;
    const connected = await new Promise<boolean>((resolve) => {
      if (session.destroyed) resolve(false);
      session.once("connect", () => resolve(true));
      session.once("close", () => resolve(false));
    });
    if (connected) return session;
    const left = call.deadline === undefined ? Infinity : call.deadline.getTime() - Date.now();
    if (left <= backoffMs) {
      throw new TsmicroError(
        Code.DEADLINE_EXCEEDED,
        `${address} was not reachable before the deadline of ${call.method.path}`,
        { retryable: false },
      );
    }
    await new Promise<void>((resolve) => {
      const abort = () => {
        clearTimeout(timer);
        resolve();
      };
      // The listener goes with the wait, so a caller's long-lived signal does not gather one per round.
      const timer = setTimeout(() => {
        call.signal?.removeEventListener("abort", abort);
        resolve();
      }, backoffMs);
      call.signal?.addEventListener("abort", abort, { once: true });
    });
    if (call.signal?.aborted) throw abortedError(call, `${call.method.path} was cancelled`);
  }
}

/** Sessions being closed: they take no new calls, and are destroyed when their last call ends. */
const draining = new WeakSet<ClientHttp2Session>();

/**
 * Closes a session once its calls have ended: new calls open another at
 * once, and the session is destroyed (a final GOAWAY, then the socket) when
 * its last call ends; the process waits for that. Not node's graceful
 * close(), which then waits for the peer to close its side of the
 * connection: a frozen peer never does, and close() would never return.
 */
function closeSession(session: ClientHttp2Session): Promise<void> {
  if (session.destroyed) return Promise.resolve();
  const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
  if (!draining.has(session)) {
    draining.add(session);
    if ((openCalls.get(session) ?? 0) === 0) session.destroy();
    else session.ref();
  }
  return closed;
}

/** Why a session failed, for the calls it fails. */
const sessionErrors = new WeakMap<Http2Session, Error>();

/** Sessions whose connection was made: a stream of one that never connected cannot have reached the server. */
const connectedSessions = new WeakSet<Http2Session>();

/** Calls open on each session: a session keeps the process alive only while it carries one, as grpc-js's channels do. */
const openCalls = new WeakMap<ClientHttp2Session, number>();

function holdWhileOpen(session: ClientHttp2Session, stream: ClientHttp2Stream): void {
  const open = (openCalls.get(session) ?? 0) + 1;
  openCalls.set(session, open);
  if (open === 1) session.ref();
  stream.once("close", () => {
    const left = (openCalls.get(session) ?? 1) - 1;
    openCalls.set(session, left);
    if (left > 0) return;
    if (draining.has(session)) session.destroy();
    else if (!session.destroyed && !session.closed) session.unref();
  });
}

/** Whether new streams may start on `session`: not closing (ours, or the server's GOAWAY) nor destroyed. */
function usable(session: ClientHttp2Session): boolean {
  return !session.closed && !session.destroyed && !draining.has(session);
}

function openSession(address: string, keepalive: Keepalive | undefined): ClientHttp2Session {
  const session = connect(`http://${address}`, { settings: { enablePush: false } });
  // A failing session fails its streams, which is how calls hear of it; its error says why.
  session.on("error", (error: Error) => sessionErrors.set(session, error));
  session.once("connect", () => connectedSessions.add(session));
  session.unref();
  if (keepalive) keepAlive(session, keepalive, () => (openCalls.get(session) ?? 0) > 0);
  return session;
}

/** The state of one call on its stream: what came back, and how it ended. */
class CallStream {
  readonly stream: ClientHttp2Stream;
  readonly #session: Http2Session | undefined;
  #error: Error | undefined;
  readonly #call: ClientCall;
  readonly #address: string;
  readonly #limits: WireLimits;
  #timer: NodeJS.Timeout | undefined;
  #reader: MessageReader | undefined;
  #outcome: TsmicroError | null | undefined;
  #trailersSeen = false;
  /** Messages read and not yet taken. */
  readonly messages: unknown[] = [];
  #wake: (() => void) | undefined;
  #ended: Promise<void> | undefined;
  #onEnd: (() => void) | undefined;

  constructor(stream: ClientHttp2Stream, address: string, call: ClientCall, limits: WireLimits) {
    this.stream = stream;
    this.#session = stream.session;
    this.#call = call;
    this.#address = address;
    this.#limits = limits;
    const { deadline } = call;
    if (deadline !== undefined && deadline.getTime() < Infinity) {
      this.#timer = setTimeout(() => this.#expire(deadline), timerDelayMs(deadline));
    }
    stream.on("response", (headers) => this.#onHeaders(headers));
    stream.on("trailers", (headers) => this.#onTrailers(headers));
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    // A stream that fails with its session carries the session's error (connect ECONNREFUSED …).
    stream.on("error", (error: Error) => {
      this.#error ??= error;
    });
    stream.on("close", () => {
      this.#onClose();
      releaseStream(stream);
    });
  }

  /** The call's end: undefined while it runs, null for OK, else the failure. */
  get outcome(): TsmicroError | null | undefined {
    return this.#outcome;
  }

  /** Fails the call with `error` and resets its stream (RST_STREAM CANCEL). */
  cancel(error: TsmicroError): void {
    this.#finish(error);
  }

  /** Resolves when the call ends. */
  ended(): Promise<void> {
    if (this.#outcome !== undefined) return Promise.resolve();
    this.#ended ??= new Promise((resolve) => {
      this.#onEnd = resolve;
    });
    return this.#ended;
  }

  /** Resolves when a message arrives or the call ends. */
  next(): Promise<void> {
    if (this.messages.length > 0 || this.#outcome !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #onHeaders(headers: IncomingHttpHeaders): void {
    const status = headers[":status"] as unknown as number;
    if (status !== 200) {
      this.#finish(httpStatusError(Number(status), this.#call.method.path));
      return;
    }
    if (headers["grpc-status"] !== undefined) {
      // Trailers-only: the status came with the headers.
      this.#onTrailers(headers);
      return;
    }
    this.#reader = new MessageReader(this.#limits.maxReceive, headers["grpc-encoding"] as string | undefined, "client");
    this.#deliver(this.#call.onHeader, headers);
  }

  #onTrailers(headers: IncomingHttpHeaders): void {
    if (this.#trailersSeen) return;
    this.#trailersSeen = true;
    this.#deliver(this.#call.onTrailer, headers);
    if (this.#outcome !== undefined) return;
    const code = headers["grpc-status"];
    if (code === "0") this.#finish(this.#reader?.partial ? truncated(this.#call) : null);
    else if (code === undefined)
      this.#finish(
        new TsmicroError(Code.INTERNAL, `${this.#call.method.path}: the response ended without a gRPC status`),
      );
    else this.#finish(statusError(headers));
  }

  #onData(chunk: Buffer): void {
    if (this.#outcome !== undefined || !this.#reader) return;
    try {
      for (const bytes of this.#reader.push(chunk)) this.messages.push(this.#call.method.output.decode(bytes));
    } catch (error) {
      this.cancel(
        isTsmicroError(error)
          ? error
          : new TsmicroError(Code.INTERNAL, `cannot decode the response: ${messageOf(error)}`),
      );
      return;
    }
    if (this.messages.length > 0) this.#poke();
  }

  #onClose(): void {
    if (this.#outcome !== undefined) return;
    // A stream closed with its session (the peer died, the socket broke) lost its connection;
    // one closed alone was reset by the peer.
    const session = this.#session;
    const connectionLost = !session || session.destroyed || session.closed;
    const cause = this.#error ?? (session ? sessionErrors.get(session) : undefined);
    const answered = this.#reader !== undefined;
    const sent = session !== undefined && connectedSessions.has(session);
    // A session over its memory allowance refuses every later stream too (node keeps counting what
    // it had queued), and a peer that says so wants less: the next call opens a new connection.
    if (this.stream.rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM && session && !connectionLost)
      void closeSession(session as ClientHttp2Session);
    this.#finish(
      closedError(this.stream.rstCode, this.#address, this.#call, { answered, sent, connectionLost }, cause),
    );
  }

  /** Hands response metadata to a callback; one that throws cancels the call with what it threw. */
  #deliver(callback: ((metadata: Metadata) => void) | undefined, headers: IncomingHttpHeaders): void {
    if (!callback) return;
    try {
      callback(metadataOf(headers));
    } catch (error) {
      this.cancel(error as TsmicroError);
    }
  }

  /**
   * The deadline passed: the caller hears DEADLINE_EXCEEDED now. A timer may
   * fire before the wall clock reaches the deadline; it waits out the rest.
   * The stream is reset a little later, so a server that ends the call at
   * the same deadline does so first and its handler sees a deadline, not a cancel.
   */
  #expire(deadline: Date): void {
    if (deadline.getTime() > Date.now()) {
      this.#timer = setTimeout(() => this.#expire(deadline), timerDelayMs(deadline));
      return;
    }
    const error = new TsmicroError(
      Code.DEADLINE_EXCEEDED,
      `Deadline exceeded: ${this.#call.method.path} got no answer in time`,
      { retryable: false, mayHaveBeenApplied: true },
    );
    this.#finish(error, deadlineResetDelayMs);
  }

  #finish(outcome: TsmicroError | null, resetDelayMs = 0): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    clearTimeout(this.#timer);
    // A server may answer before the requests are all sent: our half of the stream closes too.
    const code = outcome === null ? constants.NGHTTP2_NO_ERROR : constants.NGHTTP2_CANCEL;
    const reset = () => {
      if (!this.stream.destroyed) this.stream.close(code);
    };
    if (resetDelayMs > 0) setTimeout(reset, resetDelayMs).unref();
    else reset();
    this.#poke();
    this.#onEnd?.();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Starts a wait-for-ready call once its session is ready, unless its deadline passed during the wait. */
function startInTime(session: ClientHttp2Session, address: string, call: ClientCall, limits: WireLimits): CallStream {
  throwIfLate(call);
  return start(session, address, call, limits);
}

/** Opens the call's stream and sends what it can at once: the single request, or starts the request pump. */
function start(session: ClientHttp2Session, address: string, call: ClientCall, limits: WireLimits): CallStream {
  const gzip = call.compression === undefined ? limits.gzip : call.compression === "gzip";
  const headers: OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": call.method.path,
    "content-type": "application/grpc",
    te: "trailers",
    "grpc-accept-encoding": "identity,gzip",
    "user-agent": "tsmicro-h2/0.1",
  };
  if (gzip) headers["grpc-encoding"] = "gzip";
  if (call.deadline !== undefined && call.deadline.getTime() < Infinity)
    headers["grpc-timeout"] = timeoutHeader(call.deadline);
  addMetadata(headers, call.metadata);
  // Node's types leave out the symbol key it reads the list from.
  (headers as Record<symbol, unknown>)[sensitiveHeaders] = perCallHeaders;
  const stream = request(session, headers, address, call);
  holdWhileOpen(session, stream);
  const exchange = new CallStream(stream, address, call, limits);
  const write = (message: unknown): boolean | Promise<void> =>
    writeFrame(stream, encodeForWire(call.method.input, message, gzip, limits.maxSend, "request"));
  if (call.method.kind === "unary" || call.method.kind === "server_streaming") {
    try {
      const written = write(call.request);
      if (typeof written === "boolean") stream.end();
      else void written.then(() => stream.destroyed || stream.end());
    } catch (error) {
      exchange.cancel(isTsmicroError(error) ? error : new TsmicroError(Code.INTERNAL, messageOf(error)));
    }
  } else {
    void pump(exchange, call.request as AsyncIterable<unknown>, write);
  }
  return exchange;
}

/**
 * Opens the call's stream. A session that cannot take one more (it is going
 * away, its stream ids ran out) is closed, so the next call opens a new
 * one, and this call fails UNAVAILABLE: nothing was sent, a retry is safe.
 */
function request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  address: string,
  call: ClientCall,
): ClientHttp2Stream {
  try {
    return session.request(headers, { endStream: false });
  } catch (error) {
    if (usable(session)) void closeSession(session);
    throw new TsmicroError(Code.UNAVAILABLE, `cannot start ${call.method.path} on ${address}: ${messageOf(error)}`, {
      cause: error,
      unprocessed: true,
    });
  }
}

/**
 * Writes the caller's requests as the stream takes them, then half-closes.
 * When the call ends first, the request iterator is closed at once (its
 * finally blocks run); requests that fail cancel the call with their error.
 */
async function pump(
  exchange: CallStream,
  requests: AsyncIterable<unknown>,
  write: (message: unknown) => boolean | Promise<void>,
) {
  const { stream } = exchange;
  let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
  const close = () => {
    try {
      void Promise.resolve(iterator?.return?.()).catch(ignore);
    } catch {
      // A request stream that fails to close has nothing left to tell a call that ended.
    }
  };
  void exchange.ended().then(close);
  try {
    iterator =
      Symbol.asyncIterator in requests
        ? requests[Symbol.asyncIterator]()
        : (requests as unknown as Iterable<unknown>)[Symbol.iterator]();
    for (;;) {
      const next = await iterator.next();
      if (exchange.outcome !== undefined) return;
      if (next.done) {
        iterator = undefined;
        stream.end();
        return;
      }
      const wait = nextWrite(stream, write(next.value));
      if (wait) await wait;
    }
  } catch (error) {
    iterator = undefined;
    exchange.cancel(requestStreamError(error));
  }
}

/**
 * Opens a call unless its signal aborted already; the call is cancelled
 * when the signal aborts, until `release()`.
 */
async function openWatched(
  open: () => CallStream | Promise<CallStream>,
  call: ClientCall,
): Promise<{ exchange: CallStream; release: () => void }> {
  const { signal } = call;
  if (signal?.aborted) throw cancelledBeforeStart(call);
  throwIfLate(call);
  const exchange = await open();
  const cancel = () => exchange.cancel(abortedError(call, `${call.method.path} was cancelled`));
  // Aborted while the stream opened (the await above yields even for a stream opened at once): no
  // abort event comes any more, so the call is cancelled here, or it would wait out its deadline.
  if (signal?.aborted) cancel();
  else signal?.addEventListener("abort", cancel, { once: true });
  return { exchange, release: () => signal?.removeEventListener("abort", cancel) };
}

/** A unary or client-streaming call: its one response. */
async function single(open: () => CallStream | Promise<CallStream>, call: ClientCall): Promise<unknown> {
  const { exchange, release } = await openWatched(open, call);
  try {
    await exchange.ended();
  } finally {
    release();
  }
  if (exchange.outcome) throw exchange.outcome;
  if (exchange.messages.length !== 1) {
    throw new TsmicroError(
      Code.INTERNAL,
      `${call.method.path} answered ${exchange.messages.length} messages where one was expected`,
    );
  }
  return exchange.messages[0];
}

/**
 * The responses of a server- or bidi-streaming call. The call starts on the
 * first `next()`, so an iterable nobody reads costs nothing, and stopping
 * early (break, return) cancels it.
 */
async function* responses(open: () => CallStream | Promise<CallStream>, call: ClientCall): AsyncGenerator<unknown> {
  const { exchange, release } = await openWatched(open, call);
  try {
    for (;;) {
      await exchange.next();
      // A slow reader holds the stream: the peer waits on HTTP/2 flow control.
      while (exchange.messages.length > 0) {
        if (exchange.messages.length > 16) exchange.stream.pause();
        yield exchange.messages.shift();
        if (exchange.messages.length <= 16) exchange.stream.resume();
      }
      if (exchange.outcome !== undefined) break;
    }
  } finally {
    release();
    if (exchange.outcome === undefined)
      exchange.cancel(new TsmicroError(Code.CANCELLED, `${call.method.path}: the caller stopped reading`));
  }
  if (exchange.outcome) throw exchange.outcome;
}

/** Why a stream closed without a status: the connection failed (UNAVAILABLE), was refused, or the peer reset it. */
function closedError(
  rstCode: number,
  address: string,
  call: ClientCall,
  how: { readonly answered: boolean; readonly sent: boolean; readonly connectionLost: boolean },
  cause: Error | undefined,
): TsmicroError {
  const { answered, sent, connectionLost } = how;
  const path = call.method.path;
  if (rstCode === constants.NGHTTP2_REFUSED_STREAM) {
    return new TsmicroError(Code.UNAVAILABLE, `${address} refused ${path} (REFUSED_STREAM): it did not process it`, {
      unprocessed: true,
    });
  }
  // As grpc-js: a connection that fails or drops is UNAVAILABLE, which the client may retry on another node.
  // One that was made and carried the request dropped under the call, answered yet or not.
  if (connectionLost && (answered || sent)) {
    const why = cause ? `: ${cause.message}` : "";
    return new TsmicroError(Code.UNAVAILABLE, `the connection to ${address} dropped during ${path}${why}`, {
      cause,
      mayHaveBeenApplied: true,
    });
  }
  if (rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM) {
    return new TsmicroError(
      Code.UNAVAILABLE,
      `${path} on ${address} was reset with ENHANCE_YOUR_CALM (one side of the connection went over its ` +
        "memory or flood limits); the next call opens a new connection",
      { cause, mayHaveBeenApplied: sent },
    );
  }
  if (!connectionLost && rstCode === constants.NGHTTP2_CANCEL) {
    return new TsmicroError(Code.CANCELLED, `${address} cancelled ${path}`, { mayHaveBeenApplied: true });
  }
  if (!answered) {
    // The socket's own error (connect ECONNREFUSED 10.0.0.7:50051) says whether the request can have left.
    const why = cause ? connectFailure(cause) : "the connection failed or closed";
    // On a connection never made, the request cannot have reached the server.
    return new TsmicroError(Code.UNAVAILABLE, `cannot reach ${address} for ${path}: ${why}`, {
      cause,
      unprocessed: !sent,
      mayHaveBeenApplied: sent,
    });
  }
  return new TsmicroError(Code.INTERNAL, `${address} closed ${path} without a status (HTTP/2 error ${rstCode})`, {
    retryable: false,
    mayHaveBeenApplied: true,
  });
}

/**
 * The socket error under `error`, and what it means: node wraps it ("The
 * pending stream has been canceled (caused by: connect ECONNREFUSED …)"),
 * which is what a gateway's 503 would otherwise quote.
 */
function connectFailure(error: Error): string {
  for (let at: unknown = error; at instanceof Error; at = at.cause) {
    const meaning = socketMeaning((at as NodeJS.ErrnoException).code);
    if (meaning) return `${at.message}: ${meaning}`;
  }
  return error.message;
}

/** A non-200 HTTP status as gRPC's HTTP-to-gRPC mapping has it. */
function httpStatusError(status: number, path: string): TsmicroError {
  const code =
    status === 400
      ? Code.INTERNAL
      : status === 401
        ? Code.UNAUTHENTICATED
        : status === 403
          ? Code.PERMISSION_DENIED
          : status === 404
            ? Code.UNIMPLEMENTED
            : status === 429 || status === 502 || status === 503 || status === 504
              ? Code.UNAVAILABLE
              : Code.UNKNOWN;
  return new TsmicroError(code, `${path} answered HTTP ${status}`);
}

function truncated(call: ClientCall): TsmicroError {
  return new TsmicroError(Code.INTERNAL, `${call.method.path}: the response ended inside a message`);
}

function ignore(): void {}
