import type { Attributes } from "@opentelemetry/api";
import { ServerCallContext } from "../transport/server-context.js";
import type { ServerCall, ServerMiddleware } from "../transport/transport.js";
import { attributesByAddress, hostAndPort, rpcAttributes, rpcSpanName } from "./rpc-span.js";
import { SpanOnlyContext } from "./span-context.js";
import { traced } from "./traced-stream.js";
import type { Tracing } from "./tracing.js";

/**
 * Server middleware: one SERVER span per handled call, named
 * `package.Service/Method` with OTel's RPC attributes, its parent read from
 * the call's `traceparent`/`tracestate` metadata. The handler runs with the
 * span active, so the calls it makes are its children and its log lines
 * carry its ids. A stream's span ends when the stream does. `tracing()` is
 * read per call; undefined (not started) passes calls through untraced.
 * `localAddress()` is the service's own address, for `server.address`.
 * With `callKey`, the span's context also holds the call's context under
 * that key: the service finds the call there, and runs the handler in no
 * scope of its own (one AsyncLocalStorage scope per call rather than two).
 */
export function tracingServerMiddleware(
  tracing: () => Tracing | undefined,
  localAddress: () => string | undefined = () => undefined,
  callKey?: symbol,
): ServerMiddleware {
  let local: string | undefined;
  let attributesOf = serverAttributes(local);
  const attributes = (call: ServerCall) => {
    const address = localAddress();
    if (address !== local) {
      local = address;
      attributesOf = serverAttributes(local);
    }
    return attributesOf(call.method, call.context.peer);
  };
  return (next) => (call) => {
    const current = tracing();
    if (!current) return next(call);
    const { api, tracer } = current;
    const parent = current.extract(call.context.metadata);
    const span = tracer.startSpan(
      rpcSpanName(call.method),
      current.recording ? { kind: api.SpanKind.SERVER, attributes: attributes(call) } : { kind: api.SpanKind.SERVER },
      parent,
    );
    // The transport's own lines about the call (a handler's failure) carry its ids too.
    if (call.context instanceof ServerCallContext) call.context.traceIds = span.spanContext();
    // The span is all the handler's context needs (it knows its parent), with the call it handles.
    const active = new SpanOnlyContext(api, span, callKey, call.context);
    return traced(api, span, active, () => next(call), call.context.signal);
  };
}

/** A SERVER span's attributes by method and peer, for the service at `local`. */
function serverAttributes(local: string | undefined) {
  const self = local ? hostAndPort(local) : undefined;
  return attributesByAddress((method, peerAddress): Attributes => {
    const peer = hostAndPort(peerAddress);
    return {
      ...rpcAttributes(method),
      "network.peer.address": peer.host,
      ...(peer.port === undefined ? {} : { "network.peer.port": peer.port }),
      ...(self ? { "server.address": self.host } : {}),
      ...(self?.port === undefined ? {} : { "server.port": self.port }),
    };
  });
}
