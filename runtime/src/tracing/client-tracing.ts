import type { Attributes } from "@opentelemetry/api";
import type { MethodDefinition } from "../definition/definition.js";
import type {
  CallResult,
  ClientCall,
  ClientHandler,
  ClientMiddleware,
  ClientTransport,
} from "../transport/transport.js";
import { failureCode } from "../errors/failure-code.js";
import { isAsyncIterable } from "../transport/call-result.js";
import { RecordingSpan } from "./recording-span.js";
import { attributesByAddress, cachedByKey, hostAndPort, rpcAttributes, rpcSpanName } from "./rpc-span.js";
import { traced } from "./traced-stream.js";
import type { Tracing } from "./tracing.js";

/**
 * One CLIENT span per call. `middleware` makes it around breaker, retries
 * and node selection and puts its `traceparent`/`tracestate` in the call's
 * metadata, which every attempt sends (each attempt's SERVER span is the
 * call span's child); `transport()` wraps the wire so each attempt of the
 * retry loop notes on the span the node tried, `server.address`/`server.port` (the last attempt's), and
 * `tsmicro.attempts` when there was more than one. Each failed attempt is an
 * "attempt failed" event on the span with its number, node, status code and
 * message. `tracing()` is read per call; when it is undefined and `start` is
 * given (a client used before its owner started, or connect()'s, which has
 * no start), the call waits for `start()` first; with neither the call
 * passes untraced.
 */
export class ClientTracing {
  readonly #tracing: () => Tracing | undefined;
  readonly #start: (() => Promise<void>) | undefined;
  readonly #waitForStart: boolean;

  /**
   * `waitForStart` false (no exporter: spans would only carry ids) sends a
   * call made before tracing started untraced while the SDK loads, rather
   * than spend the call's deadline on loading it.
   */
  constructor(tracing: () => Tracing | undefined, start?: () => Promise<void>, waitForStart = true) {
    this.#tracing = tracing;
    this.#start = start;
    this.#waitForStart = waitForStart;
  }

  /** The logical call's span, outermost of the client middleware. */
  readonly middleware: ClientMiddleware = (next) => (call) => {
    const current = this.#tracing();
    if (current) return this.#logical(current, next, call);
    const start = this.#start;
    if (!start) return next(call);
    if (!this.#waitForStart) {
      void start().catch(() => undefined);
      return next(call);
    }
    const send = () => {
      const started = this.#tracing();
      return started ? this.#logical(started, next, call) : next(call);
    };
    // Tracing that fails to load leaves calls untraced rather than failing them.
    const ready = () => start().catch(() => undefined);
    if (call.method.kind === "unary" || call.method.kind === "client_streaming")
      return ready().then(() => send() as Promise<unknown>);
    return (async function* () {
      await ready();
      yield* send() as AsyncIterable<unknown>;
    })();
  };

  /**
   * The call's span, its `traceparent`/`tracestate` put in the call's
   * metadata once for every attempt, and the span riding on the call (a
   * symbol-keyed field, which middleware copying the call keeps) for the
   * attempts to note themselves on. The span is not made active: what runs
   * during the call is the caller's code's, in the caller's context.
   */
  #logical(current: Tracing, next: ClientHandler, call: ClientCall): CallResult {
    const { api, tracer } = current;
    const span = tracer.startSpan(
      rpcSpanName(call.method),
      current.recording
        ? { kind: api.SpanKind.CLIENT, attributes: rpcAttributes(call.method) }
        : { kind: api.SpanKind.CLIENT },
      api.context.active(),
    );
    const metadata = { ...call.metadata };
    current.inject(span.spanContext(), metadata);
    // A span of ids alone has nothing to note or end.
    if (!(span instanceof RecordingSpan)) return next({ ...call, metadata });
    const sent: TracedCall = { ...call, metadata, [callSpan]: span };
    return traced(api, span, undefined, () => next(sent));
  }

  /** `transport` with each attempt noted on the call's span; close() passes through. */
  transport(transport: ClientTransport): ClientTransport {
    return {
      call: (address, call) => this.#attempt(transport, address, call),
      close: () => transport.close(),
    };
  }

  #attempt(transport: ClientTransport, address: string, call: ClientCall): CallResult {
    const span = (call as TracedCall)[callSpan];
    // Nothing records (no exporter), or a call made outside the middleware: it goes out as it is.
    if (!span) return transport.call(address, call);
    const attempt = noteAttempt(span, call.method, address);
    const result = transport.call(address, call);
    if (isAsyncIterable(result)) return result;
    return result.catch((error: unknown) => {
      span.addEvent("attempt failed", {
        "tsmicro.attempt": attempt,
        ...nodeAttributes(address),
        "rpc.grpc.status_code": failureCode(error),
        "exception.message": error instanceof Error ? error.message : String(error),
      });
      throw error;
    });
  }
}

/** Where a traced call carries its recording span for the attempts. */
const callSpan = Symbol("tsmicro.callSpan");

/** A call the client middleware traced. */
interface TracedCall extends ClientCall {
  readonly [callSpan]?: RecordingSpan | undefined;
}

/**
 * Notes on the call's span the node an attempt goes to (`server.address`,
 * `server.port`: the last attempt's, with the method's attributes as one
 * shared set) and, from the second on, how many attempts there were
 * (`tsmicro.attempts`); returns the attempt's number.
 */
function noteAttempt(span: RecordingSpan, method: MethodDefinition, address: string): number {
  const earlier = span.baseAttributes?.["server.address"] !== undefined;
  const attempt = earlier ? Number(span.ownAttributes?.["tsmicro.attempts"] ?? 1) + 1 : 1;
  span.shareAttributes(attemptAttributes(method, address));
  if (attempt > 1) span.setAttribute("tsmicro.attempts", attempt);
  return attempt;
}

/** A CLIENT span's attributes once an attempt went to a node: the method's, `server.address` and `server.port`. */
const attemptAttributes = attributesByAddress((method, address) => ({
  ...rpcAttributes(method),
  ...nodeAttributes(address),
}));

/** `server.address` and `server.port` of a node, parsed once per address. */
const nodeAttributes = cachedByKey((address): Attributes => {
  const node = hostAndPort(address);
  return Object.freeze({
    "server.address": node.host,
    ...(node.port === undefined ? {} : { "server.port": node.port }),
  });
}, 1_024);
