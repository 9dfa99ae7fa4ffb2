import type { Attributes, Context, Span } from "@opentelemetry/api";
import type {
  CallResult,
  ClientCall,
  ClientHandler,
  ClientMiddleware,
  ClientTransport,
} from "../transport/transport.js";
import { endRpcSpan, hostAndPort, isAsyncIterable, rpcAttributes, rpcSpanName } from "./rpc-span.js";
import { tracedStream } from "./traced-stream.js";
import type { Tracing } from "./tracing.js";

/**
 * Client spans in two layers. `middleware` makes one CLIENT span per logical
 * call (around breaker, retries and node selection); `transport()` wraps the
 * wire so each attempt the retry loop makes is a CLIENT span of its own,
 * child of the logical one, with the node's `server.address`/`server.port`,
 * its `rpc.grpc.status_code` and `tsmicro.attempt` (1, 2, …); the attempt's
 * `traceparent`/`tracestate` go out in its metadata, so the server's span
 * is the attempt's child. When nothing records (no exporter), attempts make
 * no span of their own: the call's context goes out. `tracing()` is read per call; when it is undefined
 * and `start` is given (a client used before its owner started, or
 * connect()'s, which has no start), the call waits for `start()` first; with
 * neither the call passes untraced.
 */
export class ClientTracing {
  readonly #tracing: () => Tracing | undefined;
  /** Attempts made so far under each logical call's span. */
  readonly #attempts = new WeakMap<Span, number>();
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
    return traced(current, span, api.trace.setSpan(parent, span), () => next(call));
  }

  /** `transport` with a span per attempt; close() passes through. */
  transport(transport: ClientTransport): ClientTransport {
    return {
      call: (address, call) => this.#attempt(transport, address, call),
      close: () => transport.close(),
    };
  }

  #attempt(transport: ClientTransport, address: string, call: ClientCall): CallResult {
    const current = this.#tracing();
    if (!current) return transport.call(address, call);
    const { api, tracer } = current;
    const parent = api.context.active();
    // Nothing records: an attempt span would only add an id; the call's own context goes out.
    if (!current.recording) return transport.call(address, withTraceContext(call, current.inject(parent)));
    const logical = api.trace.getSpan(parent);
    const attempt = (logical ? (this.#attempts.get(logical) ?? 0) : 0) + 1;
    if (logical) this.#attempts.set(logical, attempt);
    const span = tracer.startSpan(
      rpcSpanName(call.method),
      {
        kind: api.SpanKind.CLIENT,
        ...(current.recording ? { attributes: attemptAttributes(call, address, attempt) } : {}),
      },
      parent,
    );
    const active = api.trace.setSpan(parent, span);
    const sent = withTraceContext(call, current.inject(active));
    return traced(current, span, active, () => transport.call(address, sent));
  }
}

function withTraceContext(call: ClientCall, context: Record<string, string>): ClientCall {
  return { ...call, metadata: { ...call.metadata, ...context } };
}

function attemptAttributes(call: ClientCall, address: string, attempt: number): Attributes {
  const node = hostAndPort(address);
  return {
    ...rpcAttributes(call.method),
    "server.address": node.host,
    ...(node.port === undefined ? {} : { "server.port": node.port }),
    "tsmicro.attempt": attempt,
  };
}

/** Runs `send` with `span` active and ends the span when the call settles (a stream: when it ends). */
function traced(tracing: Tracing, span: Span, active: Context, send: () => CallResult): CallResult {
  const { api } = tracing;
  const end = (failed: boolean, error?: unknown) => endRpcSpan(api, span, failed, error);
  let result: CallResult;
  try {
    result = api.context.with(active, send);
  } catch (error) {
    end(true, error);
    throw error;
  }
  if (isAsyncIterable(result)) return tracedStream(result, (step) => api.context.with(active, step), end);
  return result.then(
    (response) => {
      end(false);
      return response;
    },
    (error: unknown) => {
      end(true, error);
      throw error;
    },
  );
}
