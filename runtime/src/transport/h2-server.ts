import {
  constants,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { Metadata } from "../definition/call.js";
import type { MethodDefinition, ServiceDefinition } from "../definition/definition.js";
import { Code, TsmicroError, isTsmicroError } from "../errors/tsmicro-error.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { messageOf } from "./call-errors.js";
import type { CallsInFlight } from "./server-context.js";
import { StandardServices } from "./standard-services.js";
import { requiredFieldChecks } from "./grpc-required.js";
import type { GrpcServerTransport, GrpcServerTransportOptions } from "./grpc-server.js";
import {
  addMetadata,
  deadlineOf,
  wireLimits,
  type WireLimits,
  encodeForWire,
  MessageReader,
  metadataOf,
  releaseStream,
  statusHeaders,
  nextWrite,
  writeFrame,
} from "./h2-wire.js";
import { keepAlive, serverKeepalive } from "./keepalive.js";
import { logHandlerFailure, ServerCallContext } from "./server-context.js";
import type { ServerHandler } from "./transport.js";
import { longestTimerMs, timerDelay } from "../platform/timer-delay.js";

/**
 * How many streams a client may reset (RST_STREAM) on one connection: a burst, then a rate per
 * second. nghttp2's defaults (1,000, then 33 a second) answer more with a GOAWAY that fails every
 * call on the connection; a caller's cancellations (deadlines, attempt timeouts, hedging, HTTP
 * clients leaving the gateway's streams) pass that on a busy connection. These still stop a
 * rapid-reset flood, whose resets come by the hundred thousand.
 */
const resetLimits = { streamResetBurst: 10_000, streamResetRate: 1_000 };

/** Options of createH2ServerTransport: the grpc-js server's, less its grpc-js options. */
export type H2ServerTransportOptions = Omit<GrpcServerTransportOptions, "serverOptions">;

/** A served method: its definition, the handler its calls go through, and its required-field check. */
interface Route {
  readonly service: ServiceDefinition;
  readonly method: MethodDefinition;
  readonly handler: ServerHandler;
  readonly logger: Logger;
  readonly check: ((bytes: Uint8Array) => TsmicroError | undefined) | undefined;
  readonly inFlight: CallsInFlight;
}

/** Requests read past this many and not yet taken by the handler pause the stream (HTTP/2 flow control holds the caller). */
const readAhead = 16;

/**
 * Serves service definitions over gRPC on `node:http2` directly: one stream
 * per call, routed by path to the handler given to `add`, messages through
 * the generated codecs, the status in trailers (or trailers-only when the
 * call fails before its first message), deadlines from `grpc-timeout`, a
 * reset stream as a cancel; the standard health and reflection services on
 * request. Same contract as createGrpcServerTransport.
 */
export function createH2ServerTransport(options: H2ServerTransportOptions = {}): GrpcServerTransport {
  const logger = options.logger ?? createLogger();
  const limits = wireLimits(options);
  const keepalive = serverKeepalive(options);
  const routes = new Map<string, Route>();
  const standard = new StandardServices(options);
  const sessions = new Set<Http2Session>();
  /** The connections under the sessions: what stop() ends once the grace is over, answered or not. */
  const sockets = new Set<Socket>();
  const calls = new Set<ServerHttp2Stream>();
  let server: Http2Server | undefined;
  let stopping: Promise<void> | undefined;

  const serve = (service: ServiceDefinition, handler: ServerHandler) => {
    const checks = requiredFieldChecks(service);
    for (const method of Object.values(service.methods)) {
      if (routes.has(method.path)) throw new Error(`${method.path} is served twice: add ${service.typeName} once`);
      const methodLogger = logger.child({ method: method.path });
      const check = checks.get(method.path);
      routes.set(method.path, { service, method, handler, logger: methodLogger, check, inFlight: standard.inFlight });
    }
  };
  for (const [definition, handler] of standard.health()) serve(definition, handler);

  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    if (stopping) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    calls.add(stream);
    stream.once("close", () => calls.delete(stream));
    stream.on("error", ignore);
    const route = routes.get(headers[":path"] ?? "");
    const contentType = String(headers["content-type"] ?? "");
    if (headers[":method"] !== "POST" || !contentType.startsWith("application/grpc")) {
      stream.respond({ ":status": 415, "content-type": "text/plain" }, { endStream: true });
      return;
    }
    const encoding = headers["grpc-encoding"] as string | undefined;
    if (!route) answerStatus(stream, Code.UNIMPLEMENTED, `method ${headers[":path"]} is not served here`);
    else if (encoding !== undefined && encoding !== "identity" && encoding !== "gzip") {
      answerStatus(stream, Code.UNIMPLEMENTED, `grpc-encoding ${encoding} is not supported: use identity or gzip`);
    } else void new H2Call(stream, headers, route, limits).run();
  };

  return {
    add(service, handler) {
      if (server) throw new Error(`add(${service.typeName}) after listen: add every service before listening`);
      serve(service, handler);
      standard.added(service);
    },

    async listen(address) {
      if (server) throw new Error(`listen(${address}): the server is already listening`);
      for (const [definition, handler] of standard.reflection()) serve(definition, handler);
      const listening = createServer(resetLimits);
      server = listening;
      listening.on("stream", onStream);
      listening.on("connection", (socket: Socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
      });
      listening.on("session", (session: Http2Session) => {
        sessions.add(session);
        session.on("error", ignore);
        session.once("close", () => sessions.delete(session));
        if (keepalive) keepAlive(session, keepalive, () => true);
      });
      const colon = address.lastIndexOf(":");
      const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
      await new Promise<void>((resolve, reject) => {
        listening.once("error", (error) =>
          reject(new Error(`cannot listen on ${address}: ${error.message}`, { cause: error })),
        );
        listening.listen(Number(address.slice(colon + 1)), host, () => resolve());
      });
      return `${address.slice(0, colon)}:${(listening.address() as AddressInfo).port}`;
    },

    stop(graceMs) {
      if (!stopping) standard.stopping();
      stopping ??= (async () => {
        // New streams are refused; a GOAWAY tells callers to go elsewhere. Calls in flight have `graceMs` to end.
        for (const session of sessions) if (!session.closed) session.close();
        const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        });
        const ended = await Promise.race([closed.then(() => true), late.then(() => false)]);
        clearTimeout(timer);
        if (!ended) standard.cutting(graceMs, logger);
        for (const stream of calls) stream.close(constants.NGHTTP2_CANCEL);
        for (const session of sessions) session.destroy();
        // A destroyed session still waits for its peer to close its side of the connection: a frozen one never does.
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return stopping;
    },

    setServing(value) {
      standard.setServing(value);
    },

    reflect(fileDescriptorSet) {
      standard.reflect(fileDescriptorSet);
    },
  };
}

/** One call on its stream: reads the requests, runs the handler, writes the responses and the status. */
class H2Call {
  readonly #stream: ServerHttp2Stream;
  readonly #route: Route;
  readonly #limits: WireLimits;
  readonly #context: ServerCallContext;
  readonly #reader: MessageReader;
  #timer: NodeJS.Timeout | undefined;
  /** Response messages gzipped: the header said so. */
  #gzip = false;
  #responded = false;
  #ended = false;
  /** Requests read and not yet taken; a failure reading them; whether the caller half-closed. */
  readonly #requests: unknown[] = [];
  #requestError: TsmicroError | undefined;
  /** The request stream threw #requestError to the handler: the call fails with it. */
  #requestsFailed = false;
  #requestsEnded = false;
  #wake: (() => void) | undefined;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, route: Route, limits: WireLimits) {
    this.#stream = stream;
    this.#route = route;
    this.#limits = limits;
    const deadline = deadlineOf(headers["grpc-timeout"] as string | undefined);
    this.#context = new ServerCallContext({
      method: route.method,
      metadata: metadataOf(headers),
      deadline,
      peer: peerOfSession(stream.session),
      logger: route.logger,
      gzip: limits.gzip,
      inFlight: route.inFlight,
      sendHeader: (header, gzip) => this.#respond(header, gzip),
    });
    this.#reader = new MessageReader(limits.maxReceive, headers["grpc-encoding"] as string | undefined, "server");
    if (deadline) {
      this.#armDeadline(deadline);
    }
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.once("end", () => {
      this.#requestsEnded = true;
      this.#poke();
    });
    stream.once("close", () => {
      clearTimeout(this.#timer);
      if (!this.#ended) {
        this.#ended = true;
        this.#context.cancel();
      }
      this.#poke();
      releaseStream(stream);
    });
  }

  async run(): Promise<void> {
    const { method, service, handler } = this.#route;
    const context = this.#context;
    try {
      const streamsRequests = method.kind === "client_streaming" || method.kind === "bidi_streaming";
      const request = streamsRequests ? this.#readRequests() : await this.#readOne();
      const result = handler({ service, method, request, context });
      if (method.kind === "server_streaming" || method.kind === "bidi_streaming") {
        for await (const response of result as AsyncIterable<unknown>) {
          // Leaving the loop returns the handler's iterator, so its finally blocks run.
          if (this.#ended) break;
          context.flushHeader();
          const wait = nextWrite(this.#stream, this.#write(response));
          if (wait) await wait;
        }
      } else {
        const response = await result;
        context.finish();
        if (!this.#ended) {
          context.flushHeader();
          // A large answer goes out in slices: the trailers follow its last.
          const written = this.#write(response);
          if (typeof written !== "boolean") await written;
        }
      }
      // A request stream that failed (a message lacking a required field, too large, undecodable)
      // fails the call, even if the handler carried on after its stream threw.
      if (this.#requestsFailed) throw this.#requestError;
      context.finish();
      this.#end(Code.OK, "", context.responseTrailer);
    } catch (error) {
      context.finish();
      this.#fail(this.#requestsFailed ? this.#requestError : error);
    }
  }

  /** The one request of a unary or server-streaming call, once the caller half-closes. */
  async #readOne(): Promise<unknown> {
    while (!this.#requestsEnded && !this.#requestError && !this.#ended) await this.#next();
    if (this.#requestError) throw this.#requestError;
    if (this.#ended) throw this.#context.signal.reason;
    if (this.#requests.length !== 1) {
      throw new TsmicroError(
        Code.INTERNAL,
        `${this.#route.method.path} takes one request message; the caller sent ${this.#requests.length}`,
      );
    }
    return this.#requests[0];
  }

  /** The requests of a client- or bidi-streaming call; a cancelled call throws the signal's reason. */
  async *#readRequests(): AsyncIterable<unknown> {
    for (;;) {
      if (this.#requests.length > 0) {
        const request = this.#requests.shift();
        if (this.#requests.length <= readAhead) this.#stream.resume();
        yield request;
        continue;
      }
      if (this.#requestError) {
        this.#requestsFailed = true;
        throw this.#requestError;
      }
      if (this.#ended) throw this.#context.signal.reason;
      if (this.#requestsEnded) break;
      await this.#next();
    }
    // A cancelling client ends its side of the stream just before it resets
    // it, so a cancel first looks like the end of the requests. One turn of
    // the event loop lets the reset land: a cancelled upload fails instead of
    // passing for a complete one.
    await new Promise(setImmediate);
    if (this.#context.signal.aborted) throw this.#context.signal.reason;
  }

  #onData(chunk: Buffer): void {
    if (this.#requestError) return;
    try {
      const { method, check } = this.#route;
      for (const bytes of this.#reader.push(chunk)) {
        const invalid = check?.(bytes);
        if (invalid) throw invalid;
        this.#requests.push(method.input.decode(bytes));
      }
    } catch (error) {
      this.#requestError = isTsmicroError(error)
        ? error
        : new TsmicroError(Code.INTERNAL, `cannot decode the request: ${messageOf(error)}`);
    }
    if (this.#requests.length > readAhead) this.#stream.pause();
    this.#poke();
  }

  #next(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #respond(header: Metadata, gzip: boolean): void {
    if (this.#responded || this.#ended) return;
    this.#responded = true;
    this.#gzip = gzip;
    const headers: OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc" };
    if (gzip) headers["grpc-encoding"] = "gzip";
    try {
      addMetadata(headers, header);
    } catch (error) {
      // The handler's bug: the header goes without its metadata, and the call fails INTERNAL.
      this.#stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      throw new Error(`invalid response header metadata: ${messageOf(error)}`, { cause: error });
    }
    this.#stream.respond(headers, { waitForTrailers: true });
  }

  #write(message: unknown): boolean | Promise<void> {
    const framed = encodeForWire(this.#route.method.output, message, this.#gzip, this.#limits.maxSend, "response");
    return writeFrame(this.#stream, framed);
  }

  /** Expires the call at `deadline`; one further away than a timer can wait, in steps. */
  #armDeadline(deadline: Date): void {
    const left = deadline.getTime() - Date.now();
    this.#timer = setTimeout(
      () => (left > longestTimerMs ? this.#armDeadline(deadline) : this.#expire()),
      timerDelay(left),
    );
  }

  /** The deadline passed: the handler's signal aborts and the caller gets DEADLINE_EXCEEDED. */
  #expire(): void {
    if (this.#ended) return;
    this.#context.cancel();
    this.#end(Code.DEADLINE_EXCEEDED, `deadline exceeded serving ${this.#route.method.path}`, {});
  }

  /** A handler's failure as the caller's status; what is not a TsmicroError is logged and answered INTERNAL. */
  #fail(error: unknown): void {
    const context = this.#context;
    logHandlerFailure(context, error);
    const failure = isTsmicroError(error) ? error : new TsmicroError(Code.INTERNAL, "internal error");
    try {
      context.flushHeader();
    } catch {
      // The header is invalid: the failure's status still goes out, without it.
    }
    this.#end(failure.code, failure.message, context.responseTrailer, failure);
  }

  /** Sends the status: in trailers after the response header, or trailers-only when none went out. */
  #end(code: Code, message: string, trailer: Metadata, error?: TsmicroError): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    const stream = this.#stream;
    if (stream.destroyed) return;
    let trailers: OutgoingHttpHeaders;
    try {
      trailers = statusHeaders(code, message, trailer, error);
    } catch (metadataError) {
      this.#context.logger.error(
        { err: metadataError, method: this.#context.method.path, peer: this.#context.peer },
        "invalid trailer metadata; answered INTERNAL",
      );
      trailers = statusHeaders(Code.INTERNAL, "internal error", {});
    }
    if (!this.#responded && !stream.headersSent) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      return;
    }
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    stream.end();
  }
}

/** A failure before any handler runs: trailers-only. */
function answerStatus(stream: ServerHttp2Stream, code: Code, message: string): void {
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", ...statusHeaders(code, message, {}) },
    {
      endStream: true,
    },
  );
}

/** Each session's caller, read once: a session's socket is a proxy and its address a system call. */
const sessionPeers = new WeakMap<Http2Session, string>();

function peerOfSession(session: Http2Session | undefined): string {
  if (!session) return "unknown";
  let peer = sessionPeers.get(session);
  if (peer === undefined) {
    const socket = session.socket;
    peer = peerOf(socket.remoteAddress, socket.remotePort);
    sessionPeers.set(session, peer);
  }
  return peer;
}

/** The caller's address as grpc-js names peers: `host:port`, IPv6 in brackets. */
function peerOf(address: string | undefined, port: number | undefined): string {
  const host = address?.includes(":") ? `[${address}]` : (address ?? "unknown");
  return `${host}:${port ?? 0}`;
}

function ignore(): void {}
