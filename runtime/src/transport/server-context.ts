import type { CallContext, Compression, Metadata } from "../definition/call.js";
import type { MethodDefinition } from "../definition/definition.js";
import { Code, isTsmicroError, TsmicroError } from "../errors/tsmicro-error.js";
import type { Logger } from "../logging/logger.js";

/**
 * How close to its deadline a cancel counts as the deadline passing. The deadline here runs from
 * when the server read the call's headers, later than the caller sent them by the time they waited
 * for the event loop: tens of ms on a busy machine (a test on a loaded one saw a caller's cancel at
 * its deadline arrive over 20 ms ahead of this one).
 */
const deadlineSlackMs = 100;

/** What a server transport knows of a call when its handler starts. */
export interface IncomingCall {
  readonly method: MethodDefinition;
  readonly metadata: Metadata;
  readonly deadline: Date | undefined;
  readonly peer: string;
  readonly logger: Logger;
  /** Whether responses are gzipped unless the handler says otherwise. */
  readonly gzip: boolean;
  /** Sends the response header (once, before the first message or the status), compressed or not. */
  readonly sendHeader: (header: Metadata, gzip: boolean) => void;
  /** The server's count of its calls, which says why a call its stop cut was cancelled. */
  readonly inFlight?: CallsInFlight;
}

/**
 * The calls a server is running: how many its stop found still running when its grace was over
 * (a line says so), and the reason their handlers' signals then get, where they read as the
 * caller cancelling.
 */
export class CallsInFlight {
  #running = 0;
  #cutAfterMs: number | undefined;

  get running(): number {
    return this.#running;
  }

  started(): void {
    this.#running++;
  }

  ended(): void {
    this.#running--;
  }

  /** The server is about to cancel the calls still running, `graceMs` after its stop began. */
  cut(graceMs: number): void {
    this.#cutAfterMs = graceMs;
  }

  /** Why a call on `path` is cancelled, once cut; undefined before. */
  cutReason(path: string): TsmicroError | undefined {
    if (this.#cutAfterMs === undefined) return undefined;
    return new TsmicroError(
      Code.UNAVAILABLE,
      `the server is shutting down and ${path} was still running after ${this.#cutAfterMs} ms (--shutdown_grace)`,
    );
  }
}

/**
 * What a handler knows about its call, and the response metadata it sets,
 * for any server transport. Every field is an own property (the methods
 * too), so middleware may spread it; the abort reason says whether the
 * caller cancelled or the deadline passed.
 */
export class ServerCallContext implements CallContext {
  readonly method: MethodDefinition;
  readonly metadata: Metadata;
  readonly deadline: Date | undefined;
  readonly signal: AbortSignal;
  readonly peer: string;
  readonly logger: Logger;
  readonly responseHeader: Metadata = {};
  readonly responseTrailer: Metadata = {};
  readonly setHeader: (metadata: Metadata) => void;
  readonly sendHeader: (metadata?: Metadata) => void;
  readonly setTrailer: (metadata: Metadata) => void;
  readonly setCompression: (compression: Compression) => void;
  /**
   * The ids of the call's span, set by tracing middleware: the lines the
   * transport writes about the call (a handler's failure, after the
   * handler's own context is gone) carry them, as the handler's lines do.
   */
  traceIds: { readonly traceId: string; readonly spanId: string } | undefined = undefined;
  readonly #controller = new AbortController();
  readonly #send: IncomingCall["sendHeader"];
  readonly #inFlight: CallsInFlight | undefined;
  #gzip: boolean;
  #finished = false;
  #headerSent = false;

  constructor(call: IncomingCall) {
    this.method = call.method;
    this.metadata = call.metadata;
    this.deadline = call.deadline;
    this.peer = call.peer;
    this.logger = call.logger;
    this.#send = call.sendHeader;
    this.#gzip = call.gzip;
    this.#inFlight = call.inFlight;
    this.#inFlight?.started();
    this.signal = this.#controller.signal;
    this.setHeader = (metadata) => {
      this.#headerOpen("setHeader");
      Object.assign(this.responseHeader, metadata);
    };
    this.sendHeader = (metadata) => {
      this.#headerOpen("sendHeader");
      if (metadata) Object.assign(this.responseHeader, metadata);
      this.flushHeader();
    };
    this.setTrailer = (metadata) => {
      Object.assign(this.responseTrailer, metadata);
    };
    this.setCompression = (compression) => {
      this.#headerOpen("setCompression");
      this.#gzip = compression === "gzip";
    };
  }

  /** The handler is done: a later cancel is the transport closing the call, not the caller cancelling. */
  finish(): void {
    if (!this.#finished) this.#inFlight?.ended();
    this.#finished = true;
  }

  /**
   * The caller went away (or the deadline passed, or the server's stop cut the call): aborts the
   * handler's signal, unless the handler was done.
   */
  cancel(): void {
    if (this.#finished || this.signal.aborted) return;
    const path = this.method.path;
    const cut = this.#inFlight?.cutReason(path);
    if (cut) {
      this.#controller.abort(cut);
      return;
    }
    // A caller cancels at its own deadline, which its clock and the rounding of grpc-timeout put a
    // little ahead of the one computed here: a cancel that close to the deadline is the deadline.
    const expired = this.deadline !== undefined && this.deadline.getTime() <= Date.now() + deadlineSlackMs;
    this.#controller.abort(
      expired
        ? new TsmicroError(Code.DEADLINE_EXCEEDED, `deadline exceeded serving ${path}`)
        : new TsmicroError(Code.CANCELLED, `the caller cancelled ${path}`),
    );
  }

  /** Sends the header unless it went out already: before the first message and before the status. */
  flushHeader(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    Object.freeze(this.responseHeader);
    this.#send(this.responseHeader, this.#gzip);
  }

  #headerOpen(what: string): void {
    if (this.#headerSent) {
      throw new Error(
        `${what} on ${this.method.path} after the response header was sent: set headers before the first message`,
      );
    }
  }
}

/**
 * Logs a handler's failure that is not a TsmicroError (a bug: the caller gets
 * INTERNAL) on the call's logger, which names the method, with the peer and
 * trace ids; after a cancel a failing handler is the expected consequence
 * (its signal aborted), not worth a line.
 */
export function logHandlerFailure(context: ServerCallContext, error: unknown): void {
  if (isTsmicroError(error) || context.signal.aborted) return;
  const ids = context.traceIds;
  context.logger.error(
    {
      err: error,
      peer: context.peer,
      ...(ids ? { trace_id: ids.traceId, span_id: ids.spanId } : {}),
    },
    "handler failed; answered INTERNAL",
  );
}
