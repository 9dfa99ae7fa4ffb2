import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import { maxHeaderSize, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import { Code, isTsmicroError, type Logger, SetupError, TsmicroError } from "@tsmicro/runtime";
import { messageOf } from "@tsmicro/runtime/internal";
import type { BackendCatalogue } from "./backend-catalogue.js";
import { type GatewayDispatch, malformedEscape, noRoute } from "./gateway-dispatch.js";
import type { GatewayFront } from "./gateway-front.js";
import type { GatewayParts } from "./gateway-parts.js";
import type { GatewaySettings } from "./gateway-settings.js";
import type { HttpTracing } from "./gateway-tracing.js";
import { errorResponse } from "./http-mapping.js";
import { parseJsonBody } from "./json-body.js";
import { BodyEncodingError, decodeBody } from "./request-encoding.js";

/**
 * The gateway's fastify app, before start: every body read as JSON, and every refusal (the
 * router's, Node's HTTP parser's, fastify's own, a path no route takes, a failed request) answered
 * as JSON in the gateway's error shape. CORS, hooks and routes are added at start (GatewayFront).
 */
export function createGatewayApp(parts: GatewayParts, front: GatewayFront): FastifyInstance {
  const { settings, httpTracing, routing, logger, backends } = parts;
  const app = Fastify({
    bodyLimit: settings.bodyLimit,
    ...front.trustProxyOption(),
    frameworkErrors: answerRouterRefusals(httpTracing, front),
    clientErrorHandler: answerClientError,
    // Answered in the gateway's error shape by GatewayHealth.refuseOnceClosed.
    return503OnClosing: false,
    ...(settings.tlsCertFile || settings.tlsKeyFile ? { https: tlsOptions(settings) } : {}),
  });
  readBodiesAsJson(app, routing, settings.bodyLimit);
  answerFailures(app, routing, logger, settings.bodyLimit);
  answerUnrouted(app, backends.catalogue, settings, httpTracing);
  return app;
}

/** The router refuses a malformed %-escape before any route runs; answer it like every other error. */
function answerRouterRefusals(
  httpTracing: HttpTracing,
  front: GatewayFront,
): NonNullable<FastifyServerOptions["frameworkErrors"]> {
  return (error, request, reply) => {
    // Worded as dispatch words the same mistake ("'/v1/x/%zz' is not a valid url component" otherwise).
    const badPath = /^'(.*)' is not a valid url component$/.exec(error.message)?.[1];
    const message = badPath === undefined ? error.message : malformedEscape(badPath);
    const { body } = errorResponse(new TsmicroError(Code.INVALID_ARGUMENT, message));
    // Refused before the hooks that trace every request and set CORS' headers ran: done here, as they would have.
    httpTracing.traceRefused(request as FastifyRequest, reply as FastifyReply);
    front.cors?.mark(request as FastifyRequest, reply as FastifyReply);
    void (reply as FastifyReply)
      .code(error.statusCode ?? 400)
      .type("application/json")
      .send(JSON.stringify(httpTracing.withTraceId(request as FastifyRequest, body)));
  };
}

/** A path no route takes: 404 in the gateway's error shape, naming the services not loaded yet. */
function answerUnrouted(
  app: FastifyInstance,
  catalogue: BackendCatalogue,
  settings: GatewaySettings,
  httpTracing: HttpTracing,
): void {
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = errorResponse(
      noRoute(request.method, request.url, catalogue.unloaded(), settings.namespace),
    );
    void reply
      .code(status)
      .type("application/json")
      .send(JSON.stringify(httpTracing.withTraceId(request, body)));
  });
}

/**
 * Bodies are read as text and parsed here, so any content type is accepted as JSON (as
 * grpc-gateway does) and a parse error names the problem; a body with a `Content-Encoding` is
 * decoded first (see decodeBody). The same parser is named for JSON too: fastify finds a
 * catch-all anew (parsing the content type) on every request, a named parser in its cache.
 */
function readBodiesAsJson(app: FastifyInstance, routing: GatewayDispatch, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  type Done = (error: TsmicroError | null, body?: unknown) => void;
  const refuse = (request: FastifyRequest, error: TsmicroError, done: Done) => {
    // The request never reaches dispatch, which names its route: named here, it is counted under its route.
    const template = routing.templateOf(request.method, request.raw.url ?? "/");
    if (template !== undefined) routing.nameRoute(request, template);
    done(error, undefined);
  };
  const parseText = (request: FastifyRequest, bytes: Buffer, done: Done) => {
    // JSON is UTF-8: bytes that are not would be read as U+FFFD and stored so, as grpc-gateway refuses them.
    if (!isUtf8(bytes))
      return refuse(
        request,
        new TsmicroError(
          Code.INVALID_ARGUMENT,
          `${bodyName(request.headers["content-type"])} is not valid UTF-8, which JSON text must be`,
        ),
        done,
      );
    const text = bytes.toString("utf8");
    let parsed: unknown;
    try {
      parsed = parseJsonBody(text);
    } catch (error) {
      return refuse(request, notJson(error as TsmicroError, text, request.headers["content-type"]), done);
    }
    done(null, parsed);
  };
  const parseBody = (request: FastifyRequest, body: string | Buffer, done: Done) => {
    const encoding = request.headers["content-encoding"];
    if (encoding === undefined) return parseText(request, body as Buffer, done);
    decodeBody(body as Buffer, encoding, bodyLimit).then(
      (decoded) => parseText(request, decoded, done),
      (error: TsmicroError) => refuse(request, error, done),
    );
  };
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, parseBody);
  app.addContentTypeParser("*", { parseAs: "buffer" }, parseBody);
}

/**
 * Every failed request answered as JSON with its gRPC code and HTTP status, fastify's own refusals
 * (a body over `bodyLimit`, a bad Content-Type) worded as the gateway's; a failure that is no
 * TsmicroError is logged.
 */
function answerFailures(app: FastifyInstance, routing: GatewayDispatch, logger: Logger, bodyLimit: number): void {
  app.setErrorHandler((error, request, reply) => {
    const httpStatus = error instanceof BodyEncodingError ? error.status : fastifyStatus(error);
    const failure = asTsmicroError(error, bodyLimit, request.headers["content-type"]);
    if (!isTsmicroError(failure))
      logger.error({ err: error, method: request.method, url: request.url }, "gateway error");
    const { status, headers, body } = routing.failureAnswer(request, failure);
    // A more precise header set on the way (the JWT check's challenge) stays.
    for (const [name, value] of Object.entries(headers)) if (!reply.hasHeader(name)) void reply.header(name, value);
    void reply
      .code(httpStatus ?? status)
      .type("application/json")
      .send(JSON.stringify(body));
  });
}

function tlsOptions(settings: GatewaySettings): { cert: Buffer; key: Buffer } {
  if (!settings.tlsCertFile || !settings.tlsKeyFile)
    throw new SetupError(
      "TSM_ERR_FLAG",
      settings.tlsCertFile ? "--tls_key_file" : "--tls_cert_file",
      "(none)",
      "TLS needs both --tls_cert_file and --tls_key_file",
    );
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new SetupError("TSM_ERR_FLAG", flag, JSON.stringify(file), `cannot read it: ${messageOf(error)}`);
    }
  };
  return { cert: read(settings.tlsCertFile, "--tls_cert_file"), key: read(settings.tlsKeyFile, "--tls_key_file") };
}

/**
 * Requests Node's HTTP parser refuses (bad header bytes, headers too large, a timeout) get the
 * same JSON error body as everything else, written straight to the socket.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, message] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? // Node's limit holds for the request line and the headers together: a long query string meets it too.
        [
          431,
          Code.INVALID_ARGUMENT,
          `the request's URL and headers are too large together (over ${maxHeaderSize / 1024} KiB); send less in the query or the headers`,
        ]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, Code.DEADLINE_EXCEEDED, "the request took too long to arrive"]
        : [400, Code.INVALID_ARGUMENT, "the request is not valid HTTP"];
  const body = JSON.stringify({ code, message, details: [] });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(error);
}

/** The HTTP status of fastify's own client errors (body too large, bad content type); undefined for others. */
function fastifyStatus(error: unknown): number | undefined {
  if (error instanceof TsmicroError) return undefined;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" && status >= 400 && status < 500 ? status : undefined;
}

/**
 * fastify's client errors become TsmicroErrors with their message (a body too large: the limit
 * and its flag; a Content-Type that is no media type: the header); anything else passes as it is.
 */
function asTsmicroError(error: unknown, bodyLimit: number, contentType: string | undefined): unknown {
  const status = fastifyStatus(error);
  if (status === undefined) return error;
  if (status === 413)
    return new TsmicroError(
      Code.OUT_OF_RANGE,
      `the request body is over the gateway's limit of ${bodyLimit} bytes (--body_limit)`,
    );
  if ((error as { code?: unknown }).code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
    return new TsmicroError(
      Code.INVALID_ARGUMENT,
      `the Content-Type ${JSON.stringify(contentType ?? "")} is no media type (type/subtype); send application/json, as the gateway reads every body as JSON`,
    );
  return new TsmicroError(status === 404 ? Code.NOT_FOUND : Code.INVALID_ARGUMENT, messageOf(error));
}

/**
 * A body that failed to parse, sent as something else than JSON (a form, say): the message names
 * its Content-Type and says that the gateway reads every body as JSON.
 */
function notJson(error: TsmicroError, body: string, contentType: string | undefined): TsmicroError {
  if (contentType === undefined || /json/i.test(contentType)) return error;
  try {
    parseJsonBody(body, bodyName(contentType));
  } catch (worded) {
    return worded as TsmicroError;
  }
  return error;
}

/** How errors name the request body: with its Content-Type when that is not JSON, as the gateway reads every body as JSON. */
function bodyName(contentType: string | undefined): string {
  return contentType === undefined || /json/i.test(contentType)
    ? "the request body"
    : `the request body (Content-Type ${contentType}; the gateway reads every body as JSON)`;
}
