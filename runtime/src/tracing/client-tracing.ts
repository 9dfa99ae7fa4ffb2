import type { Attributes } from "@opentelemetry/api";
import type {
  CallResult,
  ClientCall,
  ClientHandler,
  ClientMiddleware,
  ClientTransport,
} from "../transport/transport.js";
import { RecordingSpan } from "./recording-span.js";
import { cachedByKey, grpcStatusOf, hostAndPort, isAsyncIterable, rpcAttributes, rpcSpanName } from "./rpc-span.js";
import { traced } from "./traced-stream.js";
import type { Tracing } from "./tracing.js";

/**
 * One CLIENT span per call. `middleware` makes it around breaker, retries
 * and node selection; `transport()` wraps the wire so each attempt of the
 * retry loop sends the call span's `traceparent`/`tracestate` (every
 * attempt's SERVER span is the call span's child) and notes on it the node
 * tried, `server.address`/`server.port` (the last attempt's), and
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

  #logical(current: Tracing, next: ClientHandler, call: ClientCall): CallResult {
    const { api, tracer } = current;
    const parent = api.context.active();
    const span = tracer.startSpan(
      rpcSpanName(call.method),
      { kind: api.SpanKind.CLIENT, ...(current.recording ? { attributes: rpcAttributes(call.method) } : {}) },
      parent,
    );
    return traced(api, span, api.trace.setSpan(parent, span), () => next(call));
  }

  /** `transport` with each attempt noted on the call's span; close() passes through. */
  transport(transport: ClientTransport): ClientTransport {
    return {
      call: (address, call) => this.#attempt(transport, address, call),
      close: () => transport.close(),
    };
  }

  #attempt(transport: ClientTransport, address: string, call: ClientCall): CallResult {
    const current = this.#tracing();
    if (!current) return transport.call(address, call);
    const parent = current.api.context.active();
    const sent = withTraceContext(call, current.inject(parent));
    const span = current.api.trace.getSpan(parent);
    // Nothing records (no exporter), or no call span: the call's context goes out and that is all.
    if (!(span instanceof RecordingSpan)) return transport.call(address, sent);
    const attempt = noteAttempt(span, address);
    const result = transport.call(address, sent);
    if (isAsyncIterable(result)) return result;
    return result.catch((error: unknown) => {
      span.addEvent("attempt failed", {
        "tsmicro.attempt": attempt,
        ...nodeAttributes(address),
        "rpc.grpc.status_code": grpcStatusOf(error),
        "exception.message": error instanceof Error ? error.message : String(error),
      });
      throw error;
    });
  }
}

/**
 * Notes on the call's span the node an attempt goes to (`server.address`,
 * `server.port`: the last attempt's) and, from the second on, how many
 * attempts there were (`tsmicro.attempts`); returns the attempt's number.
 */
function noteAttempt(span: RecordingSpan, address: string): number {
  const earlier = span.ownAttributes?.["server.address"] !== undefined;
  const attempt = earlier ? Number(span.ownAttributes?.["tsmicro.attempts"] ?? 1) + 1 : 1;
  span.setAttributes(nodeAttributes(address));
  if (attempt > 1) span.setAttribute("tsmicro.attempts", attempt);
  return attempt;
}

function withTraceContext(call: ClientCall, context: Record<string, string>): ClientCall {
  return { ...call, metadata: { ...call.metadata, ...context } };
}

/** `server.address` and `server.port` of a node, parsed once per address. */
const nodeAttributes = cachedByKey((address): Attributes => {
  const node = hostAndPort(address);
  return Object.freeze({
    "server.address": node.host,
    ...(node.port === undefined ? {} : { "server.port": node.port }),
  });
}, 1_024);
