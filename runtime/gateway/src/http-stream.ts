import type { OutgoingHttpHeaders } from "node:http";
import type { JsonValue } from "@bufbuild/protobuf";
import type { FastifyReply, FastifyRequest } from "fastify";
import { writable } from "@tsmicro/runtime/internal";
import { type ErrorBody, errorResponse } from "./http-mapping.js";
import { exposing, type ResponseMetadata } from "./response-metadata.js";

/**
 * Writes a server stream: NDJSON (`{"result": …}` per line and, if the stream fails, a last
 * `{"error": {code, message, details}}` line, as grpc-gateway does), or SSE (`data: …` events and
 * an `error` event) when the client accepts `text/event-stream`. The first message decides the
 * status: a failure before it rejects, so the caller answers with a plain error response.
 * Node decides the Connection header: HTTP/1.1 keeps the connection by default, and a client that
 * sent `Connection: close` must get `close` back, or it reuses a socket the server is closing.
 * The backend's header metadata goes out with the status (`Grpc-Metadata-*`); its trailer
 * metadata only as HTTP trailers, to a client that sent `TE: trailers` (the headers are gone by
 * the time it arrives).
 */
export async function sendStream(
  request: FastifyRequest,
  reply: FastifyReply,
  messages: AsyncIterable<JsonValue>,
  metadata?: ResponseMetadata,
  /** The body of the last error line or event, as the caller answers a plain error (logged, with the trace id, say). */
  failureBody: (error: unknown) => ErrorBody = (error) => errorResponse(error).body,
): Promise<void> {
  const sse = (request.headers.accept ?? "").includes("text/event-stream");
  const iterator = messages[Symbol.asyncIterator]();
  let next = await iterator.next();
  reply.hijack();
  const out = reply.raw;
  const forwarded = metadata?.headers() ?? {};
  // Named to a browser's script on a cross-origin answer.
  const exposed = exposing(reply.getHeader("access-control-expose-headers"), Object.keys(forwarded));
  out.writeHead(200, {
    // What hooks set on the reply before the stream began: the trace's traceresponse, CORS' headers.
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    ...forwarded,
    ...(exposed === undefined ? {} : { "access-control-expose-headers": exposed }),
    "content-type": sse ? "text/event-stream" : "application/x-ndjson",
    "cache-control": "no-cache",
  });
  const write = (text: string) => (out.write(text) ? Promise.resolve() : writable(out));
  try {
    while (!next.done && !out.destroyed) {
      const json = JSON.stringify(next.value);
      await write(sse ? `data: ${json}\n\n` : `{"result":${json}}\n`);
      next = await iterator.next();
    }
  } catch (error) {
    const json = JSON.stringify(failureBody(error));
    if (!out.destroyed) await write(sse ? `event: error\ndata: ${json}\n\n` : `{"error":${json}}\n`);
  } finally {
    const trailers = metadata?.trailers() ?? {};
    if (Object.keys(trailers).length > 0 && !out.destroyed)
      out.addTrailers(Object.fromEntries(Object.entries(trailers).map(([name, values]) => [name, values.join(", ")])));
    out.end();
    // The client went away mid-stream: stop the call instead of leaving it to its deadline.
    if (!next.done) await iterator.return?.();
  }
}

/** Maps each message of a stream. */
export async function* mapStream<T, U>(
  messages: AsyncIterable<T>,
  map: (message: T) => U | Promise<U>,
): AsyncIterable<U> {
  for await (const message of messages) yield await map(message);
}
