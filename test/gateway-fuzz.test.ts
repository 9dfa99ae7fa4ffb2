/**
 * The HTTP gateway under random requests: one in-process gateway in front of one fixture 16
 * node (test/fixtures/gateway-node.ts), fed thousands of requests that fast-check generates from
 * a fixed seed: every method, paths shaped like the fixture's routes and like nothing at all
 * (unicode, valid and malformed %-escapes, `..`, `//`, long segments, `:verbs`), random query
 * strings, bodies (valid, wrong types, deep nesting, huge numbers, broken JSON, binary junk,
 * over the body limit) and headers (content types, SSE, `Grpc-Metadata-*`, junk values). They
 * go out over raw `node:http` with a keep-alive agent, 16 in flight.
 *
 * What must hold for every answer:
 * - the gateway answers (no reset, no hang) and stays up: no unhandled rejection, and a
 *   known-good request still works afterwards;
 * - an error is JSON `{code, message, details}` with a gRPC code whose HTTP status class
 *   (4xx/5xx) matches the one sent, except a 405, which says UNIMPLEMENTED and carries `Allow`;
 * - a success is JSON, or well-formed NDJSON/SSE for a stream;
 * - 5xx only from the fixture's Fail method answering the code it was asked for (or its circuit
 *   breaker, opened by those failures); nothing in this test takes a backend down.
 *
 * FUZZ_SEED and FUZZ_RUNS override the seed (printed on failure) and the number of requests.
 */
import { mkdtemp, rm } from "node:fs/promises";
import http, { type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpStatusOf, silentLogger } from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAllNodes, startNode } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

const seed = Number(process.env.FUZZ_SEED ?? 20_261_122);
const runs = Number(process.env.FUZZ_RUNS ?? 10_000);
const inFlight = 16;
/** A request that gets no complete answer in this long counts as a hang. */
const answerTimeoutMs = 15_000;
/** Node's default limit on the request line plus headers; longer ones get 431 from Node's parser. */
const maxHeaderBytes = 16 * 1024;
const bodyLimit = 1024 * 1024;

/** One generated HTTP request, exactly as it goes on the wire. */
interface FuzzRequest {
  readonly method: string;
  /** The request target: path and query, as sent (still percent-encoded). */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  /** The client hangs up as soon as the response headers arrive. */
  readonly abort: boolean;
  /** Which generator made it, for the coverage summary. */
  readonly kind: string;
}

/** What came back: an answer read to the end, or why there was none. */
type Outcome =
  | { readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: Buffer }
  | { readonly aborted: true }
  | { readonly error: string };

/** A broken property: its kind groups the report. */
interface Violation {
  readonly kind: string;
  readonly detail: string;
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Methods of the fixture, in the spellings default routes and /rpc accept. */
const rpcNames = [
  "Ping",
  "GetShelf",
  "GetAuthor",
  "GetBook",
  "GetFile",
  "GetObject",
  "ListBooks",
  "CreateBook",
  "UpdateBook",
  "PublishBook",
  "DeleteBook",
  "GetLatestBook",
  "StreamBooks",
  "Hash",
  "HashKV",
  "Echo",
  "Fail",
  "Whoami",
];
const methodSpelling = fc.oneof(
  fc.constantFrom(...rpcNames),
  fc.constantFrom(...rpcNames).map((n) => n.replace(/[A-Z]/g, (c, i: number) => (i ? "_" : "") + c.toLowerCase())),
  fc.constantFrom(...rpcNames).map((n) => `Library.${n}`),
  fc.constantFrom(...rpcNames).map((n) => `fixtures.gateway.v1.Library.${n}`),
  fc.constantFrom("fail", "FAIL", "Nope", "Library.Nope", ".", "", "Library.", "constructor", "__proto__", "a/b"),
);

/** Field names of the fixture's messages (proto and JSON spellings) and names that are none. */
const fieldNames = [
  "shelf",
  "book",
  "request_id",
  "requestId",
  "name",
  "title",
  "author",
  "read",
  "pages",
  "genre",
  "tags",
  "page_size",
  "pageSize",
  "filter",
  "filter.author",
  "filter.min_pages",
  "filter.minPages",
  "count",
  "force",
  "revision",
  "edition",
  "copies",
  "code",
  "message",
  "reason",
  "metadata",
  "update_mask",
  "updateMask",
  "book.title",
  "book.name",
  "int64Value",
  "int32Value",
  "doubleValue",
  "boolValue",
  "bytesValue",
  "stringValue",
  "int64List",
  "labels",
  "timestamp",
  "duration",
  "fieldMask",
  "structValue",
  "anyValue",
  "wrappedInt64",
  "wrappedBool",
  "optionalInt32",
  "customName",
  "renamed_field",
  "choiceText",
  "choiceNumber",
  "choiceBook",
  "service",
  "method",
  "endpoint",
  "request",
  "__proto__",
  "constructor",
  "",
  "a..b",
  "filter.author.x",
];

const smallText = fc.string({ unit: "grapheme", maxLength: 12 });
const token = fc.stringMatching(/^[a-z0-9-]{1,10}$/);

/** A path segment as sent: mostly plain, sometimes encoded unicode, odd or malformed, or long. */
const segment = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/) },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }).map(encodeURIComponent) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "..",
      ".",
      "",
      "%2F",
      "%2f",
      "a%2Fb",
      "%3A",
      "a%3Apublish",
      "%25",
      "%00",
      "%",
      "a%",
      "%z",
      "%zz",
      "%C3",
      "%C3%28",
      "%ED%A0%80",
      "%FF",
      "%E2%82%AC",
      "*",
      "**",
      "{x}",
      "a:b",
      ":",
      "~",
      "@",
      "!$&'()*+,;=",
      '"<>{}|\\^`',
      "a#b",
      "__proto__",
      "constructor",
      "library",
      "Library",
      "fixtures.gateway.v1.Library",
      "shelves",
      "books",
      "objects",
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 6_000 }).map((n) => "s".repeat(n)) },
);

/** A verb suffix: the fixture's own or random. */
const verb = fc.constantFrom(":publish", ":search", ":latest", ":stream", ":", "::publish", ":PUBLISH", ":x");

/** A query value: numbers in and out of range, booleans, enum names, escapes valid and malformed. */
const queryValue = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom(
    "",
    "0",
    "-1",
    "1",
    "100",
    "2147483648",
    "99999999999999999999999",
    "1e400",
    "NaN",
    "Infinity",
    "1.5",
    "true",
    "false",
    "maybe",
    "GENRE_FICTION",
    "GENRE_NOPE",
    "7",
    "title,book.author",
    "%zz",
    "%",
    "%C3",
    "a%2Cb",
    "+",
    "%2B",
  ),
  smallText.map(encodeURIComponent),
);

const queryString = fc
  .array(
    fc
      .tuple(fc.oneof(fc.constantFrom(...fieldNames), token), queryValue, fc.boolean())
      .map(([key, value, bare]) =>
        bare && value === "" ? encodeURIComponent(key) : `${encodeURIComponent(key)}=${value}`,
      ),
    { maxLength: 6 },
  )
  .map((pairs) => pairs.join("&"));

/** Path, then `?query` or not. */
function withQuery(path: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(path, fc.option(queryString, { freq: 2 })).map(([p, q]) => (q === null ? p : `${p}?${q}`));
}

const int64Text = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
/**
 * Timestamps within proto3's range, as the fixture's ts-proto code can carry them: it keeps a
 * Date, and its toTimestamp gives negative nanos before 1970 (`Math.trunc` and `%`) and rounds
 * `9999-12-31T23:59:59.999999999Z` into year 10000, so those answers fail proto3 JSON in the
 * gateway (see the report); before 1970 only whole seconds are sent.
 */
const timestampText = fc
  .oneof(
    fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true }),
    fc
      .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("1969-12-31T23:59:59Z"), noInvalidDate: true })
      .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)),
  )
  .map((d) => d.toISOString());

const bookJson = fc.record(
  {
    name: smallText,
    title: smallText,
    author: smallText,
    read: fc.boolean(),
    pages: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    genre: fc.constantFrom("GENRE_FICTION", "GENRE_HISTORY", 3, 0, "GENRE_UNSPECIFIED"),
    tags: fc.array(smallText, { maxLength: 4 }),
  },
  { requiredKeys: [] },
);

const echoJson = fc.record(
  {
    int64Value: int64Text,
    uint64Value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
    sint64Value: int64Text,
    int32Value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    doubleValue: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom("NaN", "Infinity")),
    floatValue: fc.float({ noNaN: true, noDefaultInfinity: true }),
    boolValue: fc.boolean(),
    genre: fc.constantFrom("GENRE_FICTION", "GENRE_SCIENCE", 2),
    bytesValue: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString("base64")),
    stringValue: fc.string({ unit: "grapheme", maxLength: 30 }),
    int64List: fc.array(int64Text, { maxLength: 4 }),
    labels: fc.dictionary(token, smallText, { maxKeys: 3 }),
    book: bookJson,
    timestamp: timestampText,
    duration: fc.integer({ min: -315_576_000_000, max: 315_576_000_000 }).map((s) => `${s}.5s`),
    fieldMask: fc.constantFrom("title", "title,book.author", ""),
    structValue: fc.dictionary(token, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
    anyValue: fc.jsonValue({ maxDepth: 3 }),
    wrappedInt64: int64Text,
    wrappedString: smallText,
    wrappedBool: fc.boolean(),
    optionalInt32: fc.integer({ min: 0, max: 9 }),
    customName: smallText,
    choiceText: smallText,
  },
  { requiredKeys: [] },
);

const failJson = fc.record(
  {
    code: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 16 }) },
      { weight: 1, arbitrary: fc.constantFrom(17, -1, 2 ** 31, "13", "x", null, 1.5) },
    ),
    message: smallText,
    reason: token,
    metadata: fc.dictionary(token, smallText, { maxKeys: 2 }),
  },
  { requiredKeys: ["code"] },
);

const listJson = fc.record(
  {
    shelf: smallText,
    pageSize: fc.integer({ min: 0, max: 100 }),
    read: fc.boolean(),
    genre: fc.constantFrom("GENRE_HISTORY", 1),
    tags: fc.array(smallText, { maxLength: 3 }),
    filter: fc.record({ author: smallText, minPages: fc.integer({ min: 0, max: 500 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** A value of the wrong type, or one JSON allows and proto3 JSON does not. */
const wrongValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, true, -0, 1.5, 2 ** 53 + 1, -(2 ** 63), "1e400", [], {}, [null], { a: [1] }),
);

/** Objects with the fixture's field names and random values. */
const randomObject = fc.dictionary(fc.oneof(fc.constantFrom(...fieldNames), token), wrongValue, { maxKeys: 5 });

/** Deep nesting, rendered as text so nothing here recurses. */
const deepText = fc
  .record({
    depth: fc.oneof(
      fc.integer({ min: 20, max: 60 }),
      fc.integer({ min: 95, max: 110 }),
      fc.integer({ min: 1_000, max: 20_000 }),
    ),
    shape: fc.constantFrom("array", "object"),
    wrap: fc.constantFrom("structValue", "anyValue", "book", "top", "labels", "rpc"),
  })
  .map(({ depth, shape, wrap }) => {
    const nested =
      shape === "array" ? "[".repeat(depth) + "]".repeat(depth) : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    if (wrap === "top") return nested;
    if (wrap === "structValue") return `{"structValue":{"a":${nested}}}`;
    if (wrap === "rpc") return `{"service":"library","method":"Echo","request":{"anyValue":${nested}}}`;
    return `{"${wrap}":${nested}}`;
  });

/** Numbers JSON.parse takes and protobuf does not. */
const hugeNumberText = fc
  .tuple(
    fc.constantFrom("int32Value", "int64Value", "uint64Value", "doubleValue", "floatValue", "pages", "code", "count"),
    fc.constantFrom("1e400", "-1e400", "123456789012345678901234567890", "1e-400", "-0", "4294967296", "0.5", "1E5"),
  )
  .map(([field, number]) => `{"${field}":${number}}`);

const invalidJsonText = fc.oneof(
  fc.constantFrom(
    "{",
    "}",
    "{'a':1}",
    '{"a":}',
    "[1,]",
    "NaN",
    "undefined",
    '{"a":1}{"b":2}',
    '{"a":"\\x"}',
    '"\\ud800"',
    '{"stringValue":"\\ud800"}',
    "\u0000",
    '{"__proto__":{"x":1}}',
    '{"labels":{"__proto__":"x"}}',
    '{"constructor":{"prototype":{}}}',
  ),
  fc.tuple(echoJson, fc.nat()).map(([json, cut]) => {
    const text = JSON.stringify(json);
    return text.slice(0, cut % Math.max(1, text.length));
  }),
);

/** `/rpc` envelopes: service and method spelled every way, request as object, string or junk. */
const rpcJson = fc.record(
  {
    service: fc.oneof({ weight: 5, arbitrary: fc.constant("library") }, fc.constantFrom("", "nope", "../x", "Library")),
    method: methodSpelling,
    endpoint: methodSpelling,
    request: fc.oneof(
      echoJson,
      failJson,
      randomObject,
      echoJson.map((j) => JSON.stringify(j)),
      fc.constantFrom("{bad", "null", "5", 5, null, [1]),
    ),
  },
  { requiredKeys: [] },
);

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

const anyBody: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "\n").map((t) => Buffer.from(t)) },
  { weight: 3, arbitrary: fc.oneof(echoJson, bookJson, failJson, listJson, rpcJson).map(json) },
  { weight: 3, arbitrary: randomObject.map(json) },
  { weight: 2, arbitrary: deepText.map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: hugeNumberText.map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: invalidJsonText.map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.jsonValue().map(json) },
);

/** A header value Node's client sends: visible ASCII, spaces, tabs and Latin-1 bytes. */
const headerChar = fc
  .oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.constant(0x09) },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  )
  .map((c) => String.fromCharCode(c));
const headerValue = fc.string({ unit: headerChar, maxLength: 24 });

/** Metadata names: tokens, and names HTTP/2 or gRPC reserve. */
const metadataName = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{0,12}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "connection",
      "transfer-encoding",
      "keep-alive",
      "upgrade",
      "proxy-connection",
      "http2-settings",
      "te",
      "host",
      "content-type",
      "content-length",
      "user-agent",
      "grpc-timeout",
      "grpc-encoding",
      "grpc-status",
      "grpc-message",
      "grpc-status-details-bin",
      "x-bin",
      "x-trace-bin",
      "authorization",
      "x-jwt-sub",
    ),
  },
);

/** `arbitrary` about once in `oneIn` draws, else undefined. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

const headers: fc.Arbitrary<Record<string, string>> = fc
  .record({
    "content-type": sometimes(
      fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json; charset=bogus",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/grpc",
        "application/octet-stream",
        ";;",
        "",
      ),
      2,
    ),
    accept: sometimes(
      fc.constantFrom("text/event-stream", "application/x-ndjson", "application/json", "*/*", "text/html"),
      4,
    ),
    authorization: sometimes(fc.oneof(headerValue, fc.constantFrom("Bearer a.b.c", "Basic eA==")), 6),
    "x-request-id": sometimes(headerValue, 6),
    "x-forwarded-for": sometimes(fc.oneof(headerValue, fc.constantFrom("10.0.0.1", "::1, 10.0.0.1")), 6),
    "content-encoding": sometimes(fc.constantFrom("gzip", "identity", "br", "x"), 40),
    connection: sometimes(fc.constant("close"), 40),
    metadata: fc.array(
      fc.tuple(
        metadataName,
        fc.oneof(
          headerValue,
          fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).toString("base64")),
        ),
      ),
      { maxLength: 3 },
    ),
  })
  .map(({ metadata, ...plain }) => {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(plain)) if (value !== undefined) out[name] = value;
    for (const [name, value] of metadata) out[`grpc-metadata-${name}`] = value;
    return out;
  });

const someHeaders = fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 3, arbitrary: headers });

/** A slash-joined run of segments. */
const segments = fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => s.join("/"));

interface Shape {
  readonly method: string;
  readonly target: string;
  readonly body?: Buffer | undefined;
  readonly headers?: Record<string, string>;
}

/** Requests shaped like the fixture's routes, with fitting (mostly) bodies. */
const routed: fc.Arbitrary<Shape & { kind: string }> = fc
  .oneof(
    withQuery(fc.constant("/v1/ping")).map((target) => ({ method: "GET", target })),
    withQuery(segment.map((s) => `/v1/shelves/${s}`)).map((target) => ({ method: "GET", target })),
    withQuery(segment.map((s) => `/v1/authors/${s}`)).map((target) => ({ method: "GET", target })),
    withQuery(fc.tuple(segment, segment).map(([a, b]) => `/v1/shelves/${a}/books/${b}`)).map((target) => ({
      method: "GET",
      target,
    })),
    withQuery(segment.map((s) => `/v1/books/${s}`)).map((target) => ({ method: "GET", target })),
    withQuery(segments.map((s) => `/v1/files/${s}`)).map((target) => ({ method: "GET", target })),
    withQuery(fc.tuple(segment, segments).map(([b, rest]) => `/v1/buckets/${b}/objects/${rest}`)).map((target) => ({
      method: "GET",
      target,
    })),
    withQuery(segment.map((s) => `/v1/shelves/${s}/books`)).map((target) => ({ method: "GET", target })),
    fc
      .tuple(segment, fc.oneof(listJson.map(json), anyBody))
      .map(([s, body]) => ({ method: "POST", target: `/v1/shelves/${s}/books:search`, body })),
    fc
      .tuple(withQuery(segment.map((s) => `/v1/shelves/${s}/books`)), fc.oneof(bookJson.map(json), anyBody))
      .map(([target, body]) => ({ method: "POST", target, body })),
    fc
      .tuple(
        withQuery(fc.tuple(segment, segment).map(([a, b]) => `/v1/shelves/${a}/books/${b}`)),
        fc.oneof(bookJson.map(json), anyBody),
      )
      .map(([target, body]) => ({ method: "PATCH", target, body })),
    fc
      .tuple(
        fc.tuple(segment, segment, verb).map(([a, b, v]) => `/v1/shelves/${a}/books/${b}${v}`),
        fc.oneof(
          fc.record({ name: smallText, edition: smallText, copies: fc.integer() }, { requiredKeys: [] }).map(json),
          anyBody,
        ),
      )
      .map(([target, body]) => ({ method: "POST", target, body })),
    withQuery(fc.tuple(segment, segment).map(([a, b]) => `/v1/shelves/${a}/books/${b}`)).map((target) => ({
      method: "DELETE",
      target,
    })),
    withQuery(fc.tuple(segment, verb).map(([s, v]) => `/v1/shelves/${s}/books${v}`)).map((target) => ({
      method: "GET",
      target,
    })),
    fc
      .tuple(segment, fc.integer({ min: -5, max: 120 }), fc.constantFrom("text/event-stream", "application/x-ndjson"))
      .map(([s, count, accept]) => ({
        method: "GET",
        target: `/v1/shelves/${s}/books:stream?count=${count}`,
        headers: { accept },
      })),
    fc
      .oneof(fc.record({ revision: int64Text }, { requiredKeys: [] }).map(json), anyBody)
      .map((body) => ({ method: "POST", target: "/v3/maintenance/hash", body })),
    fc.oneof(echoJson.map(json), anyBody).map((body) => ({ method: "POST", target: "/v1/echo", body })),
  )
  .map((shape) => ({ ...shape, kind: "route" }));

/** Requests to Fail through its three doors: its route, a default route and /rpc. */
const failing: fc.Arbitrary<Shape & { kind: string }> = fc
  .tuple(
    failJson,
    fc.constantFrom("route", "default", "rpc"),
    methodSpelling.filter((m) => /fail$/i.test(m)),
  )
  .map(([request, door, name]) =>
    door === "route"
      ? { method: "POST", target: "/v1/fail", body: json(request) }
      : door === "default"
        ? { method: "POST", target: `/library/${name.replace(/\./g, "/")}`, body: json(request) }
        : { method: "POST", target: "/rpc", body: json({ service: "library", method: name, request }) },
  )
  .map((shape) => ({ ...shape, kind: "fail" }));

/** Default routes: /{service}/{method} and /{service}/{Service}/{method}, any method and body. */
const defaults: fc.Arbitrary<Shape & { kind: string }> = fc
  .tuple(
    fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
    withQuery(
      fc
        .tuple(fc.oneof(fc.constant("library"), segment), methodSpelling)
        .map(([service, method]) => `/${service}/${method.replace(/\./g, "/")}`),
    ),
    anyBody,
  )
  .map(([method, target, body]) => ({ method, target, body, kind: "default" }));

const rpc: fc.Arbitrary<Shape & { kind: string }> = fc
  .tuple(fc.oneof({ weight: 4, arbitrary: rpcJson.map(json) }, anyBody), fc.constantFrom("POST", "POST", "GET", "PUT"))
  .map(([body, method]) => ({ method, target: "/rpc", body, kind: "rpc" }));

const prefix = fc.constantFrom(
  "/",
  "/v1/",
  "/v1/shelves/",
  "/v1/books/",
  "/v1/files/",
  "/v1/buckets/",
  "/v3/maintenance/hash",
  "/library/",
  "/library/Library/",
  "/rpc",
  "/rpc/",
  "/openapi.json",
  "//",
  "/nope/",
);

/** Anything: random method, prefix, segments, verb, query, body and headers. */
const chaos: fc.Arbitrary<Shape & { kind: string }> = fc
  .tuple(
    fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"),
    withQuery(
      fc
        .tuple(prefix, segments, fc.option(verb, { freq: 4 }), fc.boolean())
        .map(([p, s, v, slash]) => `${p}${s}${v ?? ""}${slash ? "/" : ""}`),
    ),
    anyBody,
  )
  .map(([method, target, body]) => ({ method, target, body, kind: "chaos" }));

/** What Node's parser or the body limit refuses before any route: too long, raw bytes, too big. */
const refused: fc.Arbitrary<Shape & { kind: string }> = fc.oneof(
  fc
    .integer({ min: maxHeaderBytes, max: maxHeaderBytes * 2 })
    .map((n) => ({ method: "GET", target: `/v1/shelves/${"x".repeat(n)}`, kind: "url-too-long" })),
  fc
    .constantFrom("/v1/shelves/\u00e9", "/v1/shelves/a\u007fb", "/v1/shelves/x?q=\u00ff")
    .map((target) => ({ method: "GET", target, kind: "raw-bytes" })),
  fc.integer({ min: 1, max: 4_096 }).map((extra) => ({
    method: "POST",
    target: "/v1/echo",
    body: Buffer.from(`{"stringValue":"${"x".repeat(bodyLimit + extra)}"}`),
    kind: "body-too-large",
  })),
);

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      { weight: 40, arbitrary: routed },
      { weight: 8, arbitrary: failing },
      { weight: 8, arbitrary: defaults },
      { weight: 8, arbitrary: rpc },
      { weight: 35, arbitrary: chaos },
      { weight: 1, arbitrary: refused },
    ),
    someHeaders,
    fc.integer({ min: 0, max: 99 }),
  )
  .map(([shape, random, dice]) => ({
    method: shape.method,
    target: shape.target,
    headers: { ...random, ...shape.headers },
    body: shape.body,
    abort: dice < 2,
    kind: shape.kind,
  }));

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/**
 * Sends one request over raw node:http. Requests that Node's parser must refuse go on their own
 * connection: the refusal closes it, and a keep-alive agent would hand the dead socket to an
 * innocent next request.
 */
function send(port: number, agent: http.Agent, request: FuzzRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    let previous: FuzzRequest | undefined;
    const ownConnection = request.kind === "url-too-long" || request.kind === "raw-bytes";
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers["content-length"] = String(request.body.length);
    let outgoing: http.ClientRequest;
    try {
      outgoing = http.request({
        host: "127.0.0.1",
        port,
        method: request.method,
        path: request.target,
        headers,
        agent: ownConnection ? false : agent,
      });
    } catch (error) {
      resolve({ error: `the client refused to send it: ${(error as Error).message}` });
      return;
    }
    // A reset is often the fault of the request before it on the same connection: name it.
    outgoing.on("socket", (socket) => {
      previous = lastRequestOn.get(socket);
      lastRequestOn.set(socket, request);
    });
    outgoing.setTimeout(answerTimeoutMs, () => outgoing.destroy(new Error(`no answer within ${answerTimeoutMs} ms`)));
    outgoing.on("response", (response) => {
      if (request.abort) {
        outgoing.destroy();
        resolve({ aborted: true });
        return;
      }
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
      response.on("error", (error) => resolve({ error: `the response broke off: ${error.message}` }));
    });
    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      const before = previous ? `; the connection's previous request: ${preview(previous)}` : "";
      if (!request.abort) resolve({ error: `${error.code ?? "error"}: ${error.message}${before}` });
      else resolve({ aborted: true });
    });
    outgoing.end(request.body);
  });
}

/** The last request each keep-alive connection carried. */
const lastRequestOn = new WeakMap<object, FuzzRequest>();

/** Runs `task` over `items`, `limit` at a time, in order of start. */
async function eachLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why `value` is not a `{code, message, details}` error body; undefined when it is one. */
function errorShapeProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "not a JSON object";
  const keys = Object.keys(value).sort().join(",");
  if (keys !== "code,details,message") return `keys are ${keys}, not code,details,message`;
  if (!Number.isInteger(value.code) || (value.code as number) < 1 || (value.code as number) > 16)
    return `code ${JSON.stringify(value.code)} is not a gRPC error code`;
  if (typeof value.message !== "string") return "message is not a string";
  if (!Array.isArray(value.details) || !value.details.every((d) => isObject(d) && typeof d["@type"] === "string"))
    return "details is not a list of typed details";
  return undefined;
}

const fold = (name: string) => name.toLowerCase().replace(/[_-]/g, "");

/**
 * The code a request asks the fixture's Fail for, when it reaches Fail: `POST /v1/fail`, a
 * default route of library naming Fail, or `POST /rpc` naming it. Undefined for anything else.
 */
function failCodeAsked(request: FuzzRequest): number | undefined {
  const [rawPath, query = ""] = request.target.split("?", 2) as [string, string?];
  const body = request.body === undefined ? undefined : parseJson(request.body.toString("utf8"));
  const codeOf = (message: unknown) =>
    isObject(message) && message.code !== undefined && message.code !== null ? Number(message.code) : 0;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    path = rawPath;
  }
  if (request.method === "POST" && path === "/v1/fail") return codeOf(body);
  if (request.method === "POST" && path === "/rpc" && isObject(body) && body.service === "library") {
    const spec = body.method ?? body.endpoint;
    if (typeof spec !== "string" || fold(spec.split(/[./]/).at(-1) ?? "") !== "fail") return undefined;
    const inner = typeof body.request === "string" ? parseJson(body.request) : body.request;
    return codeOf(inner);
  }
  const parts = path.split("/").filter((s) => s !== "");
  if (parts[0] === "library" && (parts.length === 2 || parts.length === 3) && fold(parts.at(-1)!) === "fail") {
    if (request.method === "GET" || request.method === "DELETE" || request.method === "HEAD")
      return Number(new URLSearchParams(query).get("code") ?? 0);
    return codeOf(body);
  }
  return undefined;
}

function isBreakerOpenBody(value: unknown): boolean {
  return (
    isObject(value) &&
    value.code === 14 &&
    Array.isArray(value.details) &&
    value.details.some((d) => isObject(d) && d.reason === "BREAKER_OPEN")
  );
}

/** Checks NDJSON or SSE framing: results, then at most one error, last. */
function streamProblem(contentType: string, text: string): string | undefined {
  const items: { error: boolean; json: unknown }[] = [];
  if (contentType.startsWith("application/x-ndjson")) {
    for (const line of text.split("\n").filter((l) => l !== "")) {
      const value = parseJson(line);
      if (!isObject(value) || Object.keys(value).length !== 1) return `NDJSON line is not {result} or {error}: ${line}`;
      if ("result" in value) items.push({ error: false, json: value.result });
      else if ("error" in value) items.push({ error: true, json: value.error });
      else return `NDJSON line is not {result} or {error}: ${line}`;
    }
  } else {
    for (const event of text.split("\n\n").filter((e) => e !== "")) {
      const match = /^(?:event: (error)\n)?data: (.*)$/s.exec(event);
      if (!match) return `not an SSE event: ${event}`;
      items.push({ error: match[1] === "error", json: parseJson(match[2]!) });
    }
  }
  for (const [index, item] of items.entries()) {
    if (item.error && index !== items.length - 1) return "an error item is not the last one";
    if (item.error) {
      const problem = errorShapeProblem(item.json);
      if (problem) return `the stream's error: ${problem}`;
    } else if (!isObject(item.json)) return "a result is not a JSON object";
  }
  return undefined;
}

/** Every property one answer must have; undefined when it has them all. */
function violationOf(request: FuzzRequest, outcome: Outcome): Violation | undefined {
  if ("aborted" in outcome) return undefined;
  if ("error" in outcome) return { kind: "no answer", detail: outcome.error };
  const { status, headers: answerHeaders, body } = outcome;
  const contentType = String(answerHeaders["content-type"] ?? "");
  const text = body.toString("utf8");
  if (status < 200 || (status >= 300 && status < 400) || status > 599)
    return { kind: "odd status", detail: `status ${status}` };
  if (request.method === "HEAD") {
    return status >= 500 ? { kind: "5xx outside Fail", detail: `HEAD answered ${status}` } : undefined;
  }
  if (status >= 400) {
    if (!contentType.startsWith("application/json"))
      return { kind: "error body not {code,message,details}", detail: `content-type ${contentType}: ${text}` };
    const value = parseJson(text);
    const problem = errorShapeProblem(value);
    if (problem) return { kind: "error body not {code,message,details}", detail: `${status} ${problem}: ${text}` };
    const code = (value as { code: number }).code;
    // A path routed only under other methods: 405 with Allow, UNIMPLEMENTED as grpc-gateway says it.
    if (status === 405)
      return code === 12 && typeof answerHeaders.allow === "string" && answerHeaders.allow !== ""
        ? undefined
        : { kind: "405 without UNIMPLEMENTED and Allow", detail: `${code} allow=${answerHeaders.allow}: ${text}` };
    if (status >= 500 !== httpStatusOf(code) >= 500)
      return { kind: "status and code disagree", detail: `${status} with code ${code}: ${text}` };
    if (status >= 500) {
      const asked = failCodeAsked(request);
      const answersFail = asked !== undefined && code === asked && status === httpStatusOf(asked);
      if (answersFail) return undefined;
      if (asked !== undefined && isBreakerOpenBody(value)) return undefined;
      return isBreakerOpenBody(value)
        ? { kind: "breaker opened on a method that only failed through the gateway", detail: text }
        : { kind: "5xx outside Fail", detail: `${status}: ${text}` };
    }
    return undefined;
  }
  if (contentType.startsWith("application/x-ndjson") || contentType.startsWith("text/event-stream")) {
    const problem = streamProblem(contentType, text);
    return problem ? { kind: "bad stream", detail: problem } : undefined;
  }
  if (!contentType.startsWith("application/json"))
    return { kind: "success not JSON", detail: `${status} ${contentType}: ${text.slice(0, 200)}` };
  if (parseJson(text) === undefined) return { kind: "success not JSON", detail: text.slice(0, 200) };
  return undefined;
}

function preview(request: FuzzRequest): string {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);
  const body = request.body === undefined ? "" : ` body ${cut(JSON.stringify(request.body.toString("latin1")), 160)}`;
  const headers = Object.keys(request.headers).length > 0 ? ` headers ${JSON.stringify(request.headers)}` : "";
  return `${request.method} ${cut(request.target, 160)}${headers}${body}`;
}

function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([value, count]) => `${value} ×${count}`)
    .join(", ");
}

/** Violations by kind, then by how the answer began (numbers folded), one example each. */
function report(violations: readonly (Violation & { request: FuzzRequest })[]): string {
  const byKind = new Map<string, Map<string, (Violation & { request: FuzzRequest })[]>>();
  for (const violation of violations) {
    const signature = violation.detail.replace(/\d+/g, "N").slice(0, 80);
    const kind = byKind.get(violation.kind) ?? new Map<string, (Violation & { request: FuzzRequest })[]>();
    kind.set(signature, [...(kind.get(signature) ?? []), violation]);
    byKind.set(violation.kind, kind);
  }
  const lines: string[] = [];
  for (const [kind, signatures] of byKind) {
    lines.push(`${kind}: ${[...signatures.values()].reduce((n, list) => n + list.length, 0)}`);
    for (const list of [...signatures.values()].sort((a, b) => b.length - a.length).slice(0, 12)) {
      const example = list[0]!;
      lines.push(`  ×${list.length}  ${preview(example.request)}`, `        -> ${example.detail.slice(0, 300)}`);
    }
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

describe("the gateway under random requests", () => {
  let dir = "";
  let gateway: Gateway;
  let port = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gw-fuzz-"));
    const flags = ["--registry=local", `--registry_address=${dir}`];
    await startNode("test/fixtures/gateway-node.ts", flags);
    // A generous timeout: on a loaded machine a 5 s deadline would turn slowness into 504s,
    // which this test counts as failures; a real failure still shows.
    gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0", "--client_request_timeout=30s"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    await gateway.start();
    port = Number(new URL(gateway.url!).port);
    process.on("unhandledRejection", onUnhandled);
    process.on("uncaughtException", onUnhandled);
  });

  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    process.off("uncaughtException", onUnhandled);
    agent.destroy();
    await gateway?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  /** The request after the storm: the gateway must still route and answer it. */
  async function stillAnswers(): Promise<void> {
    const outcome = await send(port, agent, {
      method: "GET",
      target: "/v1/shelves/still-here",
      headers: {},
      body: undefined,
      abort: false,
      kind: "check",
    });
    expect("status" in outcome ? [outcome.status, outcome.body.toString()] : outcome).toEqual([
      200,
      '{"name":"shelves/still-here"}',
    ]);
  }

  it(`keeps its promises for ${runs} random requests`, { timeout: 300_000 }, async () => {
    await stillAnswers();
    const requests = fc.sample(fuzzRequest, { seed, numRuns: runs });
    const started = performance.now();
    const outcomes = await eachLimited(requests, inFlight, (request) => send(port, agent, request));
    const seconds = (performance.now() - started) / 1000;

    const violations = requests.flatMap((request, i) => {
      const violation = violationOf(request, outcomes[i]!);
      return violation ? [{ request, outcome: outcomes[i]!, ...violation }] : [];
    });
    const statuses = outcomes.map((o) => ("status" in o ? String(o.status) : "aborted" in o ? "aborted" : "none"));
    const streams = outcomes.filter(
      (o) => "status" in o && /ndjson|event-stream/.test(String(o.headers["content-type"])),
    ).length;
    console.log(
      `gateway fuzz: ${runs} requests (seed ${seed}) in ${seconds.toFixed(1)} s, ${inFlight} in flight\n` +
        `  by generator: ${tally(requests.map((r) => r.kind))}\n` +
        `  by method: ${tally(requests.map((r) => r.method))}\n` +
        `  by status: ${tally(statuses)}\n` +
        `  streams answered: ${streams}; Fail requests: ${requests.filter((r) => failCodeAsked(r) !== undefined).length}`,
    );

    await stillAnswers();
    expect(unhandled, "unhandled rejections or exceptions during the run").toEqual([]);
    if (violations.length > 0) {
      throw new Error(
        `${violations.length} of ${runs} requests broke a property ` +
          `(seed ${seed}; rerun with FUZZ_SEED=${seed}):\n${report(violations)}`,
      );
    }
  });

  /** A value for one path segment: any unicode, and the strings that look like path syntax. */
  const segmentValue = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }) },
    { weight: 1, arbitrary: fc.constantFrom(".", "..", "/", "a/b", "%2F", "%2f", "%", "%zz", ":", "x:publish", "+") },
  );
  /** A multi-segment capture keeps its own slashes as %2F (google/api/http.proto). */
  const keepSlashes = (value: string) => value.replaceAll("/", "%2F");

  /** Route, values, and the JSON the node must echo back through the gateway. */
  const roundTrip: fc.Arbitrary<{ method: string; target: string; body?: string; expected: unknown }> = fc.oneof(
    segmentValue.map((v) => ({
      method: "GET",
      target: `/v1/shelves/${encodeURIComponent(v)}`,
      expected: { name: `shelves/${v}` },
    })),
    segmentValue.map((v) => ({
      method: "GET",
      target: `/v1/authors/${encodeURIComponent(v)}`,
      expected: { name: `authors/${v}` },
    })),
    segmentValue.map((v) => ({ method: "GET", target: `/v1/books/${encodeURIComponent(v)}`, expected: { name: v } })),
    fc.tuple(segmentValue, segmentValue).map(([a, b]) => ({
      method: "GET",
      target: `/v1/shelves/${encodeURIComponent(a)}/books/${encodeURIComponent(b)}`,
      expected: { name: `shelves/${keepSlashes(a)}/books/${keepSlashes(b)}` },
    })),
    fc.array(segmentValue, { minLength: 1, maxLength: 4 }).map((values) => ({
      method: "GET",
      target: `/v1/files/${values.map(encodeURIComponent).join("/")}`,
      expected: { path: values.map(keepSlashes).join("/") },
    })),
    fc.tuple(segmentValue, fc.array(segmentValue, { minLength: 1, maxLength: 3 })).map(([bucket, rest]) => ({
      method: "GET",
      target: `/v1/buckets/${encodeURIComponent(bucket)}/objects/${rest.map(encodeURIComponent).join("/")}`,
      expected: { path: `buckets/${keepSlashes(bucket)}/objects/${rest.map(keepSlashes).join("/")}` },
    })),
    fc.tuple(segmentValue, segmentValue, segmentValue).map(([a, b, edition]) => ({
      method: "POST",
      target: `/v1/shelves/${encodeURIComponent(a)}/books/${encodeURIComponent(b)}:publish`,
      body: JSON.stringify({ edition }),
      expected: { name: `shelves/${keepSlashes(a)}/books/${keepSlashes(b)}`, edition },
    })),
    fc.tuple(segmentValue, segmentValue, segmentValue).map(([shelf, id, title]) => ({
      method: "POST",
      target: `/v1/shelves/${encodeURIComponent(shelf)}/books?request_id=${encodeURIComponent(id)}`,
      body: JSON.stringify({ title }),
      expected: { name: `shelves/${shelf}/books/${id}`, title },
    })),
    fc.tuple(segmentValue, segmentValue).map(([shelf, author]) => ({
      method: "GET",
      target: `/v1/shelves/${encodeURIComponent(shelf)}/books?filter.author=${encodeURIComponent(author)}`,
      expected: { books: [{ name: `shelves/${shelf}/books/1`, author }], totalSize: 1 },
    })),
    segmentValue.map((v) => ({
      method: "GET",
      target: `/library/Library/GetShelf?shelf=${encodeURIComponent(v)}`,
      expected: { name: `shelves/${v}` },
    })),
  );

  it("round-trips every captured path variable and query value to the backend and back", async () => {
    await fc.assert(
      fc.asyncProperty(roundTrip, async ({ method, target, body, expected }) => {
        const outcome = await send(port, agent, {
          method,
          target,
          headers: {},
          body: body === undefined ? undefined : Buffer.from(body),
          abort: false,
          kind: "round-trip",
        });
        const answer =
          "status" in outcome ? { status: outcome.status, json: parseJson(outcome.body.toString()) } : outcome;
        expect(answer, `${method} ${target}`).toEqual({ status: 200, json: expected });
      }),
      { numRuns: 500, seed },
    );
  });
});
