/**
 * The HTTP gateway end to end: real HTTP to an in-process gateway, real gRPC to fixture 16's
 * Library nodes, which echo what they received (test/fixtures/gateway-node.ts), so every case
 * shows how an HTTP request was mapped onto a request message and back.
 *
 * Services behind the gateway (all on the loopback, found through one local registry folder):
 * - `library`: the fixture node, serving every google.api.http route;
 * - `doomed`: a second fixture node, killed to see a backend go down;
 * - `broken`: an in-process service with Library and Alpha (fixture 10) handlers that fail on
 *   purpose, counting the calls they get;
 * - `late`: a fixture node started after the gateway.
 * Their names sort before `library`, so the google.api.http routes they share stay `library`'s
 * (the last registered route wins); they are reached through the default routes.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescFile, type FileRegistry, fromBinary, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { FieldDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Validator } from "@seriousme/openapi-schema-validator";
import {
  Code,
  createLocalRegistry,
  createService,
  silentLogger,
  TsmicroError,
  type CallContext,
  type HandlerOf,
  type MicroService,
  type ServiceDefinition,
} from "@tsmicro/runtime";
import { createGateway, type Gateway } from "@tsmicro/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOpenApi } from "../generator/openapi.js";
import { AlphaDefinition } from "./golden/10-services/services.micro.js";
import { Book } from "./golden/16-gateway/gateway.js";
import { LibraryDefinition } from "./golden/16-gateway/gateway.micro.js";
import { recordingLogger } from "../runtime/src/broker/testdata/broker-conformance.js";
import { repoRoot } from "./support/cli.js";
import { killAllNodes, killLeavingRegistration, startNode, type NodeProcess } from "./support/nodes.js";
import { suiteEnv } from "./support/suite-env.js";

/** An HTTP answer, read to the end. */
interface Answer {
  readonly status: number;
  readonly contentType: string;
  /** The `traceresponse` header, when the answer has one. */
  readonly traceResponse: string | null;
  readonly retryAfter: string | null;
  readonly text: string;
  json(): unknown;
}

/** One row of a table: a request and what the gateway must answer. */
interface Case {
  readonly name: string;
  readonly method: string;
  /** Path and query, still percent-encoded as sent. */
  readonly path: string;
  /** A string is sent as it is; anything else as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly status: number;
  /** The whole JSON body, compared with toEqual. */
  readonly json?: unknown;
  /** Further checks on the answer. */
  readonly check?: (answer: Answer) => void;
}

async function send(
  base: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    init.headers = { "content-type": "application/json", ...headers };
  }
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  const traceResponse = response.headers.get("traceresponse");
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    traceResponse,
    retryAfter: response.headers.get("retry-after"),
    text,
    json: () => withoutTraceDetail(JSON.parse(text) as unknown, traceResponse),
  };
}

/**
 * An error body without the google.rpc.RequestInfo detail a traced gateway error carries, after
 * checking that it names the trace of the response's `traceresponse` header; so the cases below
 * compare the rest of the body exactly.
 */
function withoutTraceDetail(body: unknown, traceResponse: string | null): unknown {
  const status = body as { code?: unknown; message?: unknown; details?: unknown } | null;
  if (typeof status?.code !== "number" || typeof status.message !== "string" || !Array.isArray(status.details))
    return body;
  // Every answer names its trace, also one fastify's router refuses before any hook runs (a malformed %-escape).
  expect(traceResponse, "a traceresponse header").toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  const traceId = traceResponse?.split("-")[1];
  const isTraceDetail = (d: { "@type"?: unknown; requestId?: unknown }) =>
    d["@type"] === "type.googleapis.com/google.rpc.RequestInfo" && d.requestId === traceId;
  expect(status.details.filter(isTraceDetail), `one RequestInfo detail naming trace ${traceId}`).toHaveLength(1);
  return { ...status, details: status.details.filter((d) => !isTraceDetail(d)) };
}

/** The lines of an NDJSON body, parsed. */
function ndjson(text: string): unknown[] {
  expect(text.endsWith("\n"), text).toBe(true);
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as unknown);
}

/** The events of a text/event-stream body: each event's name (if any) and its data, parsed. */
function sseEvents(text: string): { event?: string; data: unknown }[] {
  expect(text.endsWith("\n\n"), text).toBe(true);
  return text
    .split("\n\n")
    .filter((block) => block !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice("event: ".length);
      const data = lines
        .filter((l) => l.startsWith("data: "))
        .map((l) => l.slice("data: ".length))
        .join("\n");
      return { ...(event === undefined ? {} : { event }), data: JSON.parse(data) as unknown };
    });
}

/**
 * What a client of the gateway reads of a failure on the servers' side, whatever the failure
 * said: its own words go to the gateway's log.
 */
const publicWords: Readonly<Partial<Record<Code, string>>> = {
  [Code.CANCELLED]: "the call was cancelled",
  [Code.UNKNOWN]: "internal error",
  [Code.DEADLINE_EXCEEDED]: "the call did not finish in time",
  [Code.INTERNAL]: "internal error",
  [Code.UNAVAILABLE]: "the service is unavailable; try again later",
  [Code.DATA_LOSS]: "internal error",
};

/** A google.rpc.Status body, as every error answer has. */
function status(code: Code, message: string, details: unknown[] = []) {
  return { code, message, details };
}

/** `definition` as built from its proto edited: its Request message with a string field `name` (number 99) more. */
function withRequestField<S extends ServiceDefinition>(definition: S, name: string): S {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(definition.fileDescriptorSet, "base64"));
  const request = set.file.flatMap((file) => file.messageType).find((message) => message.name === "Request")!;
  request.field.push(create(FieldDescriptorProtoSchema, { name, jsonName: name, number: 99, type: 9, label: 1 }));
  return { ...definition, fileDescriptorSet: Buffer.from(toBinary(FileDescriptorSetSchema, set)).toString("base64") };
}

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function openApiOf(file: DescFile, registry: FileRegistry): JsonObject {
  return JSON.parse(buildOpenApi(file, file.proto, registry, "0.0.0-test")) as JsonObject;
}

/** Every proto3 JSON mapping case of EchoMessage, written canonically (as toJson writes it). */
const everyField = {
  int64Value: "-9007199254740993",
  uint64Value: "18446744073709551615",
  sint64Value: "-42",
  int32Value: -7,
  doubleValue: 1.5,
  floatValue: 0.25,
  boolValue: true,
  genre: "GENRE_HISTORY",
  bytesValue: "AAH+/w==",
  stringValue: "héllo ✓",
  int64List: ["1", "-2", "9007199254740993"],
  labels: { a: "1", b: "2" },
  book: {
    name: "shelves/1/books/2",
    title: "T",
    author: "A",
    read: true,
    pages: 3,
    genre: "GENRE_FICTION",
    tags: ["x", "y"],
  },
  timestamp: "2024-01-02T03:04:05.678Z",
  duration: "1.500s",
  fieldMask: "title,book.author",
  structValue: { n: 1, s: "s", list: [true, null], nested: { k: "v" } },
  anyValue: ["a", 2, { b: false }],
  wrappedInt64: "0",
  wrappedString: "",
  wrappedBool: false,
  optionalInt32: 0,
  customName: "renamed",
  choiceNumber: 0,
};

describe("the HTTP gateway", () => {
  let dir = "";
  let flags: string[] = [];
  let node: NodeProcess;
  let doomed: NodeProcess;
  let broken: MicroService;
  /** How many calls the broken service's Fail handler received. */
  let brokenFailCalls = 0;
  /** How many of the broken service's StreamBooks calls saw their caller cancel. */
  let streamsCancelled = 0;
  /** The gateway most cases use: default settings, OpenAPI served. */
  let gateway: Gateway;
  /** What it logs. */
  const gatewayLog = recordingLogger();
  /** What the strict gateway logs. */
  const strictLog = recordingLogger();
  /** A second gateway with a 1 KiB body limit and breakers that open after 3 failures. */
  let strict: Gateway;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tsmicro-gateway-"));
    flags = ["--registry=local", `--registry_address=${dir}`];
    [node, doomed] = await Promise.all([
      startNode("test/fixtures/gateway-node.ts", flags),
      startNode("test/fixtures/gateway-node.ts", flags, { GATEWAY_NODE_NAME: "doomed" }),
    ]);

    // A short shutdown grace: a stream the gateway failed to cancel would otherwise hold stop() for 10 s.
    broken = createService({
      name: "broken",
      args: [...flags, "--shutdown_grace=1s"],
      env: suiteEnv(),
      logger: silentLogger(),
    });
    const unimplemented = () => {
      throw new TsmicroError(Code.UNIMPLEMENTED, "the broken service does not serve this");
    };
    const library = {
      ...Object.fromEntries(Object.keys(LibraryDefinition.methods).map((name) => [name, unimplemented])),
      async ping() {
        return { status: "ok" };
      },
      async getShelf() {
        throw new Error("the database password is hunter2");
      },
      // "gone" fails before the first book, "slow" sends 5 books 20 ms apart, "endless" sends books until
      // the call is cancelled (counted in streamsCancelled); any other shelf fails after the first book.
      async *streamBooks(request: { shelf: string }, context: CallContext): AsyncIterable<Book> {
        const book = (i: number): Book => ({
          name: `shelves/${request.shelf}/books/${i}`,
          title: `book ${i}`,
          author: "",
          read: false,
          pages: i,
          genre: 0,
          tags: [],
        });
        if (request.shelf === "gone") throw new TsmicroError(Code.NOT_FOUND, "no shelf gone");
        if (request.shelf === "slow" || request.shelf === "endless") {
          const count = request.shelf === "slow" ? 5 : 250;
          for (let i = 1; i <= count; i++) {
            if (context.signal.aborted) {
              streamsCancelled++;
              return;
            }
            yield book(i);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          if (context.signal.aborted) streamsCancelled++;
          return;
        }
        yield book(1);
        throw new TsmicroError(Code.ABORTED, "the shelf moved");
      },
      async fail(request: { code: number; message: string }) {
        brokenFailCalls++;
        // A detail of the service's own type, which the gateway renders from the service's descriptors.
        const details =
          request.message === "with a book"
            ? [
                {
                  typeUrl: "type.googleapis.com/fixtures.gateway.v1.Book",
                  value: Book.encode(
                    Book.fromPartial({ name: "shelves/s1/books/b1", title: "Dune", pages: 412 }),
                  ).finish(),
                },
              ]
            : [];
        throw new TsmicroError(request.code as Code, request.message, { details });
      },
    };
    broken.handle(LibraryDefinition, library as unknown as HandlerOf<typeof LibraryDefinition>);
    const alpha = Object.fromEntries(Object.keys(AlphaDefinition.methods).map((name) => [name, unimplemented]));
    broken.handle(AlphaDefinition, alpha as unknown as HandlerOf<typeof AlphaDefinition>);
    await broken.start();

    gateway = createGateway({
      args: [...flags, "--address=127.0.0.1:0"],
      env: suiteEnv(),
      logger: gatewayLog.logger,
      openApi: openApiOf,
    });
    strict = createGateway({
      args: [
        ...flags,
        "--address=127.0.0.1:0",
        "--body_limit=1kb",
        "--breaker_volume_threshold=3",
        "--breaker_error_threshold=50",
        "--breaker_reset_timeout=10m",
        "--breaker_window=10m",
      ],
      env: suiteEnv(),
      logger: strictLog.logger,
    });
    await Promise.all([gateway.start(), strict.start()]);
  });

  afterAll(async () => {
    await Promise.allSettled([gateway?.stop(), strict?.stop()]);
    await broken?.stop();
    await killAllNodes();
    await rm(dir, { recursive: true, force: true });
  });

  describe("maps the google.api.http grammar, default routes and POST /rpc", () => {
    const grammar: Case[] = [
      // Literal paths and one-segment variables.
      { name: "literal path", method: "GET", path: "/v1/ping", status: 200, json: { status: "ok" } },
      { name: "{field}", method: "GET", path: "/v1/shelves/s1", status: 200, json: { name: "shelves/s1" } },
      {
        name: "{field} is fully percent-decoded, %2F included",
        method: "GET",
        path: "/v1/shelves/a%2Fb%20c",
        status: 200,
        json: { name: "shelves/a/b c" },
      },
      {
        name: "{field=*}",
        method: "GET",
        path: "/v1/authors/tolkien",
        status: 200,
        json: { name: "authors/tolkien" },
      },
      // Multi-segment and deep captures.
      {
        name: "{name=shelves/*/books/*}",
        method: "GET",
        path: "/v1/shelves/s1/books/b2",
        status: 200,
        json: { name: "shelves/s1/books/b2" },
      },
      {
        name: "multi-segment capture keeps %2F encoded and decodes the rest",
        method: "GET",
        path: "/v1/shelves/s%2F1/books/b%202",
        status: 200,
        json: { name: "shelves/s%2F1/books/b 2" },
      },
      {
        name: "additional_bindings: the second route reaches GetBook",
        method: "GET",
        path: "/v1/books/b9",
        status: 200,
        json: { name: "b9" },
      },
      {
        name: "{path=**} takes every remaining segment",
        method: "GET",
        path: "/v1/files/a/b/c.txt",
        status: 200,
        json: { path: "a/b/c.txt" },
      },
      {
        name: "{path=**} keeps %2F inside a segment encoded",
        method: "GET",
        path: "/v1/files/dir/x%2Fy/my%20notes.txt",
        status: 200,
        json: { path: "dir/x%2Fy/my notes.txt" },
      },
      {
        name: "{path=buckets/*/objects/**}",
        method: "GET",
        path: "/v1/buckets/b1/objects/photos/2024/cat.jpg",
        status: 200,
        json: { path: "buckets/b1/objects/photos/2024/cat.jpg" },
      },
      {
        name: "a long deep path (hundreds of characters) is one capture",
        method: "GET",
        path: `/v1/files/${"segment/".repeat(40)}end.txt`,
        status: 200,
        json: { path: `${"segment/".repeat(40)}end.txt` },
      },
      {
        name: "a long single-segment variable",
        method: "GET",
        path: `/v1/shelves/${"s".repeat(300)}`,
        status: 200,
        json: { name: `shelves/${"s".repeat(300)}` },
      },
      // Everything from path and query.
      {
        name: "GET: nested, repeated, int32, bool and enum-by-name fields from the query; unknown ones ignored",
        method: "GET",
        path: "/v1/shelves/s1/books?page_size=2&read=true&genre=GENRE_SCIENCE&tags=a&tags=b&filter.author=ada&filter.min_pages=10&_=1700000000",
        status: 200,
        json: {
          books: [1, 2].map((i) => ({
            name: `shelves/s1/books/${i}`,
            author: "ada",
            read: true,
            pages: 10,
            genre: "GENRE_SCIENCE",
            tags: ["a", "b"],
          })),
          totalSize: 2,
        },
      },
      {
        name: "GET: JSON names, an enum by number, a bool as 1 and a repeated field given once",
        method: "GET",
        path: "/v1/shelves/s1/books?pageSize=1&read=1&genre=2&tags=solo&filter.minPages=5",
        status: 200,
        json: {
          books: [{ name: "shelves/s1/books/1", read: true, pages: 5, genre: "GENRE_HISTORY", tags: ["solo"] }],
          totalSize: 1,
        },
      },
      {
        name: "GET: a query parameter cannot override a path variable",
        method: "GET",
        path: "/v1/shelves/s1/books?shelf=other",
        status: 200,
        json: { books: [{ name: "shelves/s1/books/1" }], totalSize: 1 },
      },
      {
        name: 'additional_bindings: POST with body "*" and a custom verb reaches ListBooks',
        method: "POST",
        path: "/v1/shelves/s1/books:search",
        body: { pageSize: 1, genre: "GENRE_FICTION", shelf: "ignored" },
        status: 200,
        json: { books: [{ name: "shelves/s1/books/1", genre: "GENRE_FICTION" }], totalSize: 1 },
      },
      // Bodies.
      {
        name: 'body: "book", the rest from path and query; a query parameter inside the body field is ignored',
        method: "POST",
        path: "/v1/shelves/s1/books?request_id=r1&book.title=ignored",
        body: { title: "Dune", author: "Herbert", pages: 412, genre: "GENRE_FICTION", tags: ["sf"] },
        status: 200,
        json: {
          name: "shelves/s1/books/r1",
          title: "Dune",
          author: "Herbert",
          pages: 412,
          genre: "GENRE_FICTION",
          tags: ["sf"],
        },
      },
      {
        name: "{book.name=…} sets a field inside the body field, over the body's; a FieldMask from the query",
        method: "PATCH",
        path: "/v1/shelves/s1/books/b1?update_mask=title,read",
        body: { name: "shelves/x/books/y", title: "New", read: true },
        status: 200,
        json: { book: { name: "shelves/s1/books/b1", title: "New", read: true }, updateMask: "title,read" },
      },
      {
        name: 'custom verb :publish with body "*"',
        method: "POST",
        path: "/v1/shelves/s1/books/b1:publish",
        body: { edition: "2nd", copies: 5 },
        status: 200,
        json: { name: "shelves/s1/books/b1", edition: "2nd", copies: 5 },
      },
      {
        name: "an encoded colon is part of the name, never a verb: the path is GetBook's, which takes no POST",
        method: "POST",
        path: "/v1/shelves/s1/books/b1%3Apublish",
        body: { edition: "2nd" },
        status: 405,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.UNIMPLEMENTED,
            message: /it takes DELETE, GET, HEAD, PATCH$/,
          }),
      },
      {
        name: "DELETE with a bool from the query answers Empty as {}",
        method: "DELETE",
        path: "/v1/shelves/s1/books/b1?force=true",
        status: 200,
        json: {},
      },
      {
        name: "DELETE without the bool fails as the node says",
        method: "DELETE",
        path: "/v1/shelves/s1/books/b1",
        status: 400,
        json: status(Code.FAILED_PRECONDITION, "shelves/s1/books/b1: pass force=true to delete"),
      },
      {
        name: "response_body answers only that field",
        method: "GET",
        path: "/v1/shelves/s1/books:latest",
        status: 200,
        check: (answer) => {
          // Without servedBy, and without the book's unset fields: --json_emit_unpopulated is off.
          expect(answer.json()).toEqual({ name: "shelves/s1/books/latest", title: "latest" });
        },
      },
      {
        name: "Hash and HashKV claim POST /v3/maintenance/hash: HashKV, registered last, answers",
        method: "POST",
        path: "/v3/maintenance/hash",
        body: { revision: "7" },
        status: 200,
        json: { hash: 2, hashRevision: "7" },
      },
      {
        name: "an int64 sent as a JSON number past 2^53 reaches the service exact",
        method: "POST",
        path: "/v3/maintenance/hash",
        body: '{"revision": 9007199254740993}',
        status: 200,
        json: { hash: 2, hashRevision: "9007199254740993" },
      },
      {
        name: "HashKV answers the conflicting route even for an empty body",
        method: "POST",
        path: "/v3/maintenance/hash",
        body: {},
        status: 200,
        json: { hash: 2 },
      },
      // Default routes: /{service}/{method} and /{service}/{Service}/{method}.
      {
        name: "default route /{service}/{Service}/{method} reaches Whoami, which has no http option",
        method: "POST",
        path: "/library/Library/Whoami",
        body: {},
        status: 200,
        check: (answer) => expect(answer.json()).toMatchObject({ nodeId: node.id }),
      },
      {
        name: "default route /{service}/{method}, method name in lower case, GET",
        method: "GET",
        path: "/library/whoami",
        status: 200,
        check: (answer) => expect(answer.json()).toMatchObject({ nodeId: node.id }),
      },
      {
        name: "default route with a snake_case method and GET fields from the query",
        method: "GET",
        path: "/library/Library/get_shelf?shelf=s9",
        status: 200,
        json: { name: "shelves/s9" },
      },
      {
        name: "GET fields from the query as grpc-gateway reads them: a Go duration, Go's bool spellings",
        method: "GET",
        path: "/library/Library/Echo?duration=1h30m&boolValue=True&wrappedBool=F",
        status: 200,
        json: { duration: "5400s", boolValue: true, wrappedBool: false },
      },
      {
        name: "GET map entries from the query, name[key]=value, as grpc-gateway takes them (brackets escaped or not)",
        method: "GET",
        path: "/library/Library/Echo?labels[team]=core&labels%5Btier%5D=gold&labels[a.b]=dotted",
        status: 200,
        json: { labels: { team: "core", tier: "gold", "a.b": "dotted" } },
      },
      {
        name: "default route: upper-case method name with _",
        method: "GET",
        path: "/library/GET_SHELF?shelf=s7",
        status: 200,
        json: { name: "shelves/s7" },
      },
      {
        name: "default route, POST: the JSON body is the whole request",
        method: "POST",
        path: "/library/Library/GetShelf",
        body: { shelf: "s8" },
        status: 200,
        json: { name: "shelves/s8" },
      },
      {
        name: "default route naming the proto service by its full name",
        method: "POST",
        path: "/library/fixtures.gateway.v1.Library/GetAuthor",
        body: { author: "ursula" },
        status: 200,
        json: { name: "authors/ursula" },
      },
      // POST /rpc.
      {
        name: "POST /rpc with method",
        method: "POST",
        path: "/rpc",
        body: { service: "library", method: "Library.GetShelf", request: { shelf: "s3" } },
        status: 200,
        json: { name: "shelves/s3" },
      },
      {
        name: "POST /rpc with endpoint (go-micro's spelling)",
        method: "POST",
        path: "/rpc",
        body: { service: "library", endpoint: "Library.GetAuthor", request: { author: "le guin" } },
        status: 200,
        json: { name: "authors/le guin" },
      },
      {
        name: "POST /rpc with the full method name and the request as a JSON string",
        method: "POST",
        path: "/rpc",
        body: { service: "library", method: "fixtures.gateway.v1.Library.GetShelf", request: '{"shelf":"s4"}' },
        status: 200,
        json: { name: "shelves/s4" },
      },
      // Proto3 JSON both ways.
      {
        name: "Echo round-trips every proto3 JSON mapping case",
        method: "POST",
        path: "/v1/echo",
        body: everyField,
        status: 200,
        json: everyField,
      },
      {
        name: "Echo accepts non-canonical forms and answers canonical ones",
        method: "POST",
        path: "/v1/echo",
        body: {
          int64_value: 42,
          uint64Value: 7,
          int32Value: "-7",
          doubleValue: "2.5",
          genre: 3,
          bytesValue: "AAH-_w",
          duration: "2s",
          timestamp: "2024-01-02T04:04:05.678+01:00",
          wrappedInt64: 5,
          customName: "by JSON name",
          choice_text: "snake",
        },
        status: 200,
        json: {
          int64Value: "42",
          uint64Value: "7",
          int32Value: -7,
          doubleValue: 2.5,
          genre: "GENRE_SCIENCE",
          bytesValue: "AAH+/w==",
          duration: "2s",
          timestamp: "2024-01-02T03:04:05.678Z",
          wrappedInt64: "5",
          customName: "by JSON name",
          choiceText: "snake",
        },
      },
      {
        name: "Echo reads a number in a string as protojson does: a JSON number, whole 64-bit ones with a fraction or an exponent too",
        method: "POST",
        path: "/v1/echo",
        body: {
          int64Value: "1e3",
          uint64Value: "12.0",
          sint64Value: "-2.5e1",
          int32Value: "1e2",
          doubleValue: "-2.5e-1",
        },
        status: 200,
        json: { int64Value: "1000", uint64Value: "12", sint64Value: "-25", int32Value: 100, doubleValue: -0.25 },
      },
      {
        name: "Echo: NaN and infinities are strings",
        method: "POST",
        path: "/v1/echo",
        body: { doubleValue: "NaN", floatValue: "-Infinity" },
        status: 200,
        json: { doubleValue: "NaN", floatValue: "-Infinity" },
      },
      {
        name: "Echo: zero values of implicit-presence fields are left out; null is unset",
        method: "POST",
        path: "/v1/echo",
        body: { int32Value: 0, stringValue: "", boolValue: false, genre: "GENRE_UNSPECIFIED", wrappedBool: null },
        status: 200,
        json: {},
      },
      {
        name: "Echo: a message with a nested oneof member",
        method: "POST",
        path: "/v1/echo",
        body: { choiceBook: { title: "in a oneof" } },
        status: 200,
        json: { choiceBook: { title: "in a oneof" } },
      },
      {
        name: "a JSON body is read whatever its content type",
        method: "POST",
        path: "/v1/echo",
        body: '{"stringValue":"plain"}',
        headers: { "content-type": "text/plain" },
        status: 200,
        json: { stringValue: "plain" },
      },
      {
        name: 'no body at all on a body "*" route is the empty message',
        method: "POST",
        path: "/v1/echo",
        status: 200,
        json: {},
      },
      // Headers to metadata.
      {
        name: "Grpc-Metadata-*, Authorization, X-Request-Id and X-Forwarded-For reach the node; Cookie does not",
        method: "GET",
        path: "/library/Library/Whoami",
        headers: {
          "Grpc-Metadata-Tenant": "acme",
          "Grpc-Metadata-X-Trace": "t1",
          Authorization: "Bearer abc",
          "X-Request-Id": "req-1",
          "X-Forwarded-For": "10.0.0.1",
          Cookie: "session=secret",
          "Grpc-Metadata-X-Jwt-Sub": "admin",
        },
        status: 200,
        check: (answer) => {
          const body = answer.json() as { metadataKeys: string[]; metadata: Record<string, string> };
          expect(body.metadataKeys).toEqual(
            expect.arrayContaining(["tenant", "x-trace", "authorization", "x-request-id", "x-forwarded-for"]),
          );
          expect(body.metadataKeys).not.toContain("cookie");
          // Claims come only from a verified token, never from a client's header.
          expect(body.metadataKeys).not.toContain("x-jwt-sub");
          expect(body.metadata).toMatchObject({
            "x-trace": "t1",
            "x-request-id": "req-1",
            "x-forwarded-for": "10.0.0.1, 127.0.0.1",
          });
        },
      },
      {
        name: "a Grpc-Metadata-*-Bin header is base64 and reaches the node as bytes",
        method: "GET",
        path: "/library/Library/Whoami",
        headers: { "Grpc-Metadata-X-Blob-Bin": "AQL+/w==" },
        status: 200,
        check: (answer) => expect(answer.json()).toMatchObject({ metadata: { "x-blob-bin": "AQL+/w==" } }),
      },
      // Server streaming.
      {
        name: "a server stream is NDJSON, one {result} per message",
        method: "GET",
        path: "/v1/shelves/s1/books:stream?count=2",
        status: 200,
        check: (answer) => {
          expect(answer.contentType).toMatch(/^application\/x-ndjson/);
          // The headers set before the stream began (the trace's, CORS') go out with it.
          expect(answer.traceResponse).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
          expect(ndjson(answer.text)).toEqual([
            { result: { name: "shelves/s1/books/1", title: "book 1", pages: 1 } },
            { result: { name: "shelves/s1/books/2", title: "book 2", pages: 2 } },
          ]);
        },
      },
      {
        name: "a server stream is SSE when the client accepts text/event-stream",
        method: "GET",
        path: "/v1/shelves/s1/books:stream",
        headers: { Accept: "text/event-stream" },
        status: 200,
        check: (answer) => {
          expect(answer.contentType).toMatch(/^text\/event-stream/);
          expect(sseEvents(answer.text)).toEqual(
            [1, 2, 3].map((i) => ({ data: { name: `shelves/s1/books/${i}`, title: `book ${i}`, pages: i } })),
          );
        },
      },
      {
        name: "a server stream through a default route, POST body as the request",
        method: "POST",
        path: "/library/Library/StreamBooks",
        body: { shelf: "s2", count: 1 },
        status: 200,
        check: (answer) =>
          expect(ndjson(answer.text)).toEqual([{ result: { name: "shelves/s2/books/1", title: "book 1", pages: 1 } }]),
      },
    ];

    it.each(grammar)("$name: $method $path", async (row) => {
      const answer = await send(gateway.url, row.method, row.path, row.body, row.headers);
      expect(answer.status, answer.text).toBe(row.status);
      if (row.json !== undefined) expect(answer.json()).toEqual(row.json);
      row.check?.(answer);
    });
  });

  describe("rejects bad input with a status and a message naming the problem", () => {
    const badInput: Case[] = [
      {
        name: "malformed JSON",
        method: "POST",
        path: "/v1/echo",
        body: '{"int32Value": 1,',
        status: 400,
        // Where and what in tsmicro's words, not V8's "Unexpected end of JSON input".
        json: status(
          Code.INVALID_ARGUMENT,
          'the request body is not valid JSON at line 1, column 18: the body ends where a "quoted" property name should be',
        ),
      },
      {
        name: "a URL past Node's limit on the request line and headers",
        method: "GET",
        path: `/v1/echo?q=${"a".repeat(20_000)}`,
        status: 431,
        // Answered by Node's parser's error handler, before any trace starts.
        check: (answer) =>
          expect(JSON.parse(answer.text)).toEqual(
            status(
              Code.INVALID_ARGUMENT,
              "the request's URL and headers are too large together (over 16 KiB); send less in the query or the headers",
            ),
          ),
      },
      ...(
        [
          ["int64Value", "0x10", "0x10", "an int64"],
          ["int32Value", "+5", "+5", "an int32"],
          ["uint64Value", "007", "007", "a uint64"],
          ["doubleValue", " 2.5", " 2.5", "a double"],
          ["wrappedInt64", "0b11", "0b11", "an int64"],
          ["int64List[1]", ["1", "1_000"], "1_000", "an int64"],
        ] as const
      ).map(
        ([at, value, odd, type]): Case => ({
          name: `a number in a string that is no JSON number (${JSON.stringify(odd)}), which protojson refuses`,
          method: "POST",
          path: "/v1/echo",
          body: { [at.replace(/\[\d+\]$/, "")]: value },
          status: 400,
          json: status(
            Code.INVALID_ARGUMENT,
            `the request does not fit fixtures.gateway.v1.EchoMessage: at ${at} (${JSON.stringify(odd)}): expected ${type}: a number, or a string holding a JSON number such as ${type === "a double" ? '"-3.5", "1e-3", "NaN" or "Infinity"' : type === "a uint64" ? '"12" or "1e3"' : '"12", "-3" or "1e3"'}`,
          ),
        }),
      ),
      {
        name: "a field given under both its names",
        method: "POST",
        path: "/v1/echo",
        body: '{"int32Value": 1, "int32_value": 2}',
        status: 400,
        json: status(
          Code.INVALID_ARGUMENT,
          "the request does not fit fixtures.gateway.v1.EchoMessage: at int32_value (2): fixtures.gateway.v1.EchoMessage.int32_value is given twice, as int32Value and int32_value; send it once",
        ),
      },
      {
        name: "a body that is not UTF-8",
        method: "POST",
        path: "/v1/echo",
        body: Buffer.concat([Buffer.from('{"stringValue":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message: "the request body is not valid UTF-8, which JSON text must be",
          }),
      },
      {
        name: "a body that is not UTF-8, of a Content-Type not JSON",
        method: "POST",
        path: "/v1/echo",
        body: Buffer.from([0xff, 0xfe]),
        headers: { "content-type": "text/plain" },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message:
              "the request body (Content-Type text/plain; the gateway reads every body as JSON) is not valid UTF-8, which JSON text must be",
          }),
      },
      {
        name: "a Content-Type that is no media type",
        method: "POST",
        path: "/v1/echo",
        body: "{}",
        headers: { "content-type": "text" },
        status: 415,
        json: status(
          Code.INVALID_ARGUMENT,
          'the Content-Type "text" is no media type (type/subtype); send application/json, as the gateway reads every body as JSON',
        ),
      },
      {
        name: "a form's body, not JSON",
        method: "POST",
        path: "/v1/echo",
        body: "name=zed",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message:
              'the request body (Content-Type application/x-www-form-urlencoded; the gateway reads every body as JSON) is not valid JSON at line 1, column 1: expected a value, found "n"',
          }),
      },
      {
        name: "the whole request sent to a route whose body is one field of it",
        method: "POST",
        path: "/v1/shelves/s1/books",
        body: JSON.stringify({ book: { title: "Dune" } }),
        status: 400,
        json: status(
          Code.INVALID_ARGUMENT,
          'POST /v1/shelves/{shelf}/books takes book (a fixtures.gateway.v1.Book) as its body: send its fields as the body, not {"book": {…}}',
        ),
      },
      {
        name: "a string for an int32",
        method: "POST",
        path: "/v1/echo",
        body: { int32Value: "seven" },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /int32_?[vV]alue/ }),
      },
      {
        name: "an int32 out of range",
        method: "POST",
        path: "/v1/echo",
        body: { int32Value: 2147483648 },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /int32_?[vV]alue/ }),
      },
      {
        name: "an object for a string",
        method: "POST",
        path: "/v1/echo",
        body: { stringValue: { nested: true } },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /string_?[vV]alue/ }),
      },
      {
        name: "an unknown field",
        method: "POST",
        path: "/v1/echo",
        body: { int32Value: 1, colour: "red" },
        status: 400,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /colour/ }),
      },
      {
        name: "an unknown field inside a nested message",
        method: "POST",
        path: "/v1/echo",
        body: { book: { title: "T", blurb: "x" } },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message:
              'the request does not fit fixtures.gateway.v1.EchoMessage: at book.blurb ("x"): ' +
              "fixtures.gateway.v1.Book has no field blurb; its fields are name, title, author, read, pages, genre, tags",
          }),
      },
      {
        name: "a field of a nested message sent at the top: the message that has it",
        method: "POST",
        path: "/v1/echo",
        body: { author: "A" },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message:
              'the request does not fit fixtures.gateway.v1.EchoMessage: at author ("A"): ' +
              'fixtures.gateway.v1.EchoMessage has no field author; author is a field of book: send {"book": {"author": …}}',
          }),
      },
      {
        name: "an unknown enum name",
        method: "POST",
        path: "/v1/echo",
        body: { genre: "GENRE_POETRY" },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /genre[\s\S]*GENRE_POETRY/ }),
      },
      {
        name: "a bad value deep in a message, named by its path and value",
        method: "POST",
        path: "/v1/echo",
        body: { int32Value: 1, book: { title: "T", tags: ["a", 5], genre: "GENRE_FICTION" } },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message: expect.stringMatching(
              /^the request does not fit fixtures\.gateway\.v1\.EchoMessage: at book\.tags\[1\] \(5\): /,
            ),
          }),
      },
      {
        name: "a bad Timestamp, named by its field and value",
        method: "POST",
        path: "/v1/echo",
        body: { timestamp: "yesterday" },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message: expect.stringMatching(/ at timestamp \("yesterday"\): .*Timestamp/),
          }),
      },
      {
        name: "a bad map value, named by its key",
        method: "POST",
        path: "/v1/echo",
        body: { labels: { ok: "x", "a b": 7 } },
        status: 400,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.INVALID_ARGUMENT,
            message: expect.stringContaining(' at labels["a b"] (7): '),
          }),
      },
      {
        name: 'a JSON array where body "*" needs an object',
        method: "POST",
        path: "/v1/echo",
        body: [1, 2],
        status: 400,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT }),
      },
      {
        name: "a query value that is not an int32 names the query parameter, not the JSON the gateway built",
        method: "GET",
        path: "/v1/shelves/s1/books?page_size=ten",
        status: 400,
        json: status(Code.INVALID_ARGUMENT, 'query parameter page_size: "ten" is not a valid int32'),
      },
      {
        name: "a query value that is not a bool",
        method: "GET",
        path: "/v1/shelves/s1/books?read=maybe",
        status: 400,
        json: status(Code.INVALID_ARGUMENT, 'query parameter read: "maybe" is not a valid bool'),
      },
      {
        name: "an enum number no value of the enum declares, in the query",
        method: "GET",
        path: "/v1/shelves/s1/books?genre=99",
        status: 400,
        json: status(
          Code.INVALID_ARGUMENT,
          'query parameter genre: "99" is not a valid enum fixtures.gateway.v1.Genre',
        ),
      },
      {
        name: "a singular field given twice in the query",
        method: "GET",
        path: "/v1/shelves/s1/books?page_size=1&page_size=2",
        status: 400,
        json: status(
          Code.INVALID_ARGUMENT,
          "query parameter page_size is given 2 times, but page_size takes one value",
        ),
      },
      {
        name: "an array where the body field is one message",
        method: "POST",
        path: "/v1/shelves/s1/books",
        body: [1],
        status: 400,
        json: status(
          Code.INVALID_ARGUMENT,
          "the request body must be a JSON object of fixtures.gateway.v1.Book's fields (book), not an array",
        ),
      },
      {
        name: "a malformed %-escape in the path",
        method: "GET",
        path: "/v1/shelves/%zz",
        status: 400,
        json: status(Code.INVALID_ARGUMENT, 'the path "/v1/shelves/%zz" has a malformed %-escape'),
      },
      {
        name: "a malformed %-escape in the query, even of a parameter that sets no field",
        method: "GET",
        path: "/v1/shelves/s1?utm=%zz",
        status: 400,
        json: status(Code.INVALID_ARGUMENT, 'the query "utm=%zz" has a malformed %-escape'),
      },
      {
        name: "a field's value in the query whose %-escapes are not UTF-8",
        method: "GET",
        path: "/v1/shelves/s1/books?filter.author=caf%E9&utm=caf%E9",
        status: 400,
        json: status(
          Code.INVALID_ARGUMENT,
          "query parameter filter.author has %-escapes of bytes that are not UTF-8: send its text as UTF-8",
        ),
      },
      {
        name: "an unknown route",
        method: "GET",
        path: "/v1/nowhere/to/be/found",
        status: 404,
        json: status(
          Code.NOT_FOUND,
          "no route for GET /v1/nowhere/to/be/found: no service registered so far serves it (is its service running?)",
        ),
      },
      {
        name: "a route's path with a trailing /, naming the path its routes take",
        method: "GET",
        path: "/v1/shelves/s1/",
        status: 404,
        json: status(
          Code.NOT_FOUND,
          "no route for GET /v1/shelves/s1/: routes match paths exactly; /v1/shelves/s1 (without the extra /) has routes",
        ),
      },
      {
        name: "a route's path with a doubled /",
        method: "GET",
        path: "/v1//shelves/s1",
        status: 404,
        json: status(
          Code.NOT_FOUND,
          "no route for GET /v1//shelves/s1: routes match paths exactly; /v1/shelves/s1 (without the extra /) has routes",
        ),
      },
      {
        name: "an unknown service on a default route",
        method: "POST",
        path: "/nosuch/Library/Ping",
        body: {},
        status: 404,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.NOT_FOUND, details: [] }),
      },
      {
        name: "an unknown method of a known service on a default route lists the methods there are",
        method: "GET",
        path: "/library/Library/Borrow",
        status: 404,
        check: (answer) =>
          expect(answer.json()).toMatchObject({
            code: Code.NOT_FOUND,
            message: /^library has no method Library\.Borrow; it has .*Library\.GetShelf/,
          }),
      },
      {
        name: "POST /rpc to an unknown service",
        method: "POST",
        path: "/rpc",
        body: { service: "nosuch", method: "Library.Ping", request: {} },
        status: 404,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.NOT_FOUND, message: /nosuch/ }),
      },
      {
        name: "POST /rpc to an unknown method lists the methods there are",
        method: "POST",
        path: "/rpc",
        body: { service: "library", method: "Library.Borrow" },
        status: 404,
        check: (answer) =>
          expect(answer.json()).toMatchObject({ code: Code.NOT_FOUND, message: /Borrow[\s\S]*Library\.GetShelf/ }),
      },
      {
        name: "POST /rpc without a service",
        method: "POST",
        path: "/rpc",
        body: { method: "Library.Ping" },
        status: 400,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.INVALID_ARGUMENT, message: /service/ }),
      },
      {
        name: "a client-streaming method over HTTP",
        method: "POST",
        path: "/broken/Alpha/ClientStream",
        body: {},
        status: 501,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.UNIMPLEMENTED, message: /gRPC/ }),
      },
      {
        name: "a bidi-streaming method over HTTP",
        method: "POST",
        path: "/broken/Alpha/BidiStream",
        body: {},
        status: 501,
        check: (answer) => expect(answer.json()).toMatchObject({ code: Code.UNIMPLEMENTED }),
      },
    ];

    it.each(badInput)("$name: $method $path -> $status", async (row) => {
      const answer = await send(gateway.url, row.method, row.path, row.body, row.headers);
      expect(answer.status, answer.text).toBe(row.status);
      expect(answer.contentType).toMatch(/^application\/json/);
      if (row.json !== undefined) expect(answer.json()).toEqual(row.json);
      row.check?.(answer);
    });

    it("answers HEAD on a GET route as GET, without the body", async () => {
      const head = await fetch(`${gateway.url}/v1/ping`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await head.text()).toBe("");
    });

    it("a body over --body_limit is 413 with a JSON status; one under it goes through", async () => {
      const over = await send(strict.url, "POST", "/v1/echo", { stringValue: "x".repeat(2000) });
      expect(over.status, over.text).toBe(413);
      expect(over.json()).toMatchObject({
        code: Code.OUT_OF_RANGE,
        message: "the request body is over the gateway's limit of 1024 bytes (--body_limit)",
        details: [],
      });
      const under = await send(strict.url, "POST", "/v1/echo", { stringValue: "x".repeat(900) });
      expect(under.status, under.text).toBe(200);
      expect(under.json()).toEqual({ stringValue: "x".repeat(900) });
      // The main gateway's default limit (1 MiB) lets the same body through.
      const same = await send(gateway.url, "POST", "/v1/echo", { stringValue: "x".repeat(2000) });
      expect(same.status, same.text).toBe(200);
    });

    it("reads a body sent with Content-Encoding gzip, deflate or br, and refuses one it cannot read", async () => {
      const json = Buffer.from(JSON.stringify({ stringValue: "packed" }));
      for (const [coding, bytes] of [
        ["gzip", gzipSync(json)],
        ["deflate", deflateSync(json)],
        ["br", brotliCompressSync(json)],
        ["identity", json],
        ["deflate, gzip", gzipSync(deflateSync(json))],
      ] as const) {
        const answer = await send(gateway.url, "POST", "/v1/echo", bytes, { "content-encoding": coding });
        expect(answer.status, `${coding}: ${answer.text}`).toBe(200);
        expect(answer.json()).toEqual({ stringValue: "packed" });
      }
      const unknown = await send(gateway.url, "POST", "/v1/echo", json, { "content-encoding": "zstd" });
      expect(unknown.status, unknown.text).toBe(415);
      expect(unknown.json()).toEqual(
        status(
          Code.INVALID_ARGUMENT,
          'the request body\'s Content-Encoding "zstd" is not one the gateway reads: send it as it is, or as gzip, deflate or br',
        ),
      );
      const notGzip = await send(gateway.url, "POST", "/v1/echo", json, { "content-encoding": "gzip" });
      expect(notGzip.status, notGzip.text).toBe(400);
      expect(notGzip.json()).toEqual(
        status(
          Code.INVALID_ARGUMENT,
          "the request body is not gzip data, as its Content-Encoding says: send it encoded so, or without the header",
        ),
      );
      // 2000 bytes that gzip to far less than --body_limit=1kb are still over it once read.
      const big = gzipSync(JSON.stringify({ stringValue: "x".repeat(2000) }));
      expect(big.length).toBeLessThan(1024);
      const bomb = await send(strict.url, "POST", "/v1/echo", big, { "content-encoding": "gzip" });
      expect(bomb.status, bomb.text).toBe(413);
      expect(bomb.json()).toEqual(
        status(
          Code.OUT_OF_RANGE,
          "the request body, decoded from gzip, is over the gateway's limit of 1024 bytes (--body_limit)",
        ),
      );
    });

    it("a request Node's HTTP parser refuses gets a JSON status too", async () => {
      const { port } = new URL(gateway.url!);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1", () =>
          socket.write("GET /v1/ping HTTP/1.1\r\nHost: x\r\nNot a header line\r\n\r\n"),
        );
        let text = "";
        socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))).toEqual({
        code: 3,
        message: "the request is not valid HTTP",
        details: [],
      });
    });
  });

  describe("answers gRPC failures with their HTTP status and a google.rpc.Status body", () => {
    const codes: [Code, number][] = [
      [Code.CANCELLED, 499],
      [Code.UNKNOWN, 500],
      [Code.INVALID_ARGUMENT, 400],
      [Code.DEADLINE_EXCEEDED, 504],
      [Code.NOT_FOUND, 404],
      [Code.ALREADY_EXISTS, 409],
      [Code.PERMISSION_DENIED, 403],
      [Code.RESOURCE_EXHAUSTED, 429],
      [Code.FAILED_PRECONDITION, 400],
      [Code.ABORTED, 409],
      [Code.OUT_OF_RANGE, 400],
      [Code.UNIMPLEMENTED, 501],
      [Code.INTERNAL, 500],
      [Code.UNAVAILABLE, 503],
      [Code.DATA_LOSS, 500],
      [Code.UNAUTHENTICATED, 401],
    ];

    it.each(codes)("Fail with gRPC code %i -> HTTP %i", async (code, httpStatus) => {
      const answer = await send(gateway.url, "POST", "/v1/fail", { code, message: `failed with ${code}` });
      expect(answer.status, answer.text).toBe(httpStatus);
      expect(answer.contentType).toMatch(/^application\/json/);
      // A failure on the servers' side is told in public words; its own go to the log (but a 499's, whose client left).
      expect(answer.json()).toEqual(status(code, publicWords[code] ?? `failed with ${code}`));
      const logged = gatewayLog.entries.some((e) => e.message === `POST /v1/fail failed: failed with ${code}`);
      expect(logged).toBe(publicWords[code] !== undefined);
    });

    it("an answer over the gateway's own --client_max_recv_msg_size is a 502 in public words, logged; not a 429", async () => {
      const log = recordingLogger();
      const tight = createGateway({
        args: [...flags, "--address=127.0.0.1:0", "--metrics_address=off", "--client_max_recv_msg_size=4"],
        // Descriptors from the definitions: reflection's answers would be over the limit too.
        definitions: [LibraryDefinition, AlphaDefinition],
        env: suiteEnv(),
        logger: log.logger,
      });
      await tight.start();
      try {
        const answer = await send(tight.url, "GET", "/v1/shelves/s1");
        expect(answer.status, answer.text).toBe(502);
        expect(answer.json()).toEqual(status(Code.RESOURCE_EXHAUSTED, "the service's answer is too large to pass on"));
        expect(answer.text).not.toContain("client_max_recv_msg_size");
        const logged = log.entries.find((e) => e.message?.startsWith("GET /v1/shelves/s1 failed: "));
        expect(logged?.level).toBe("warn");
        expect(logged?.message).toMatch(/over its limit of 4 \(--client_max_recv_msg_size\)$/);
      } finally {
        await tight.stop();
      }
    });

    it("Fail with code 0 succeeds with {}", async () => {
      const answer = await send(gateway.url, "POST", "/v1/fail", { code: 0 });
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json()).toEqual({});
    });

    it('a detail of the service\'s own type is rendered as proto3 JSON, its fields beside "@type"', async () => {
      const answer = await send(gateway.url, "POST", "/broken/Library/Fail", {
        code: Code.FAILED_PRECONDITION,
        message: "with a book",
      });
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json()).toEqual(
        status(Code.FAILED_PRECONDITION, "with a book", [
          {
            "@type": "type.googleapis.com/fixtures.gateway.v1.Book",
            name: "shelves/s1/books/b1",
            title: "Dune",
            pages: 412,
          },
        ]),
      );
    });

    it('an ErrorInfo detail is rendered as JSON with "@type"', async () => {
      const answer = await send(gateway.url, "POST", "/v1/fail", {
        code: Code.PERMISSION_DENIED,
        message: "not your shelf",
        reason: "NOT_OWNER",
        metadata: { shelf: "s1" },
      });
      expect(answer.status, answer.text).toBe(403);
      expect(answer.json()).toEqual(
        status(Code.PERMISSION_DENIED, "not your shelf", [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "NOT_OWNER",
            domain: "fixtures.gateway.v1",
            metadata: { shelf: "s1" },
          },
        ]),
      );
    });

    it("a handler's own exception is 500 'internal error', with nothing of it in the body", async () => {
      const answer = await send(gateway.url, "GET", "/broken/Library/GetShelf?shelf=s1");
      expect(answer.status, answer.text).toBe(500);
      expect(answer.json()).toEqual(status(Code.INTERNAL, "internal error"));
      expect(answer.text).not.toMatch(/hunter2|\bat \S+:\d+|Error:/);
    });

    it("a stream failing after its first message ends the NDJSON body with {error}", async () => {
      const answer = await send(gateway.url, "GET", "/broken/Library/StreamBooks?shelf=s");
      expect(answer.status, answer.text).toBe(200);
      const [first, last] = ndjson(answer.text) as [unknown, { error: unknown }];
      expect(first).toEqual({ result: { name: "shelves/s/books/1", title: "book 1", pages: 1 } });
      // Named by its trace, as every error body is.
      expect(withoutTraceDetail(last.error, answer.traceResponse)).toEqual(status(Code.ABORTED, "the shelf moved"));
    });

    it("a stream failing after its first message ends the SSE body with an error event", async () => {
      const answer = await send(gateway.url, "GET", "/broken/Library/StreamBooks?shelf=s", undefined, {
        Accept: "text/event-stream",
      });
      expect(answer.status, answer.text).toBe(200);
      const [first, last] = sseEvents(answer.text);
      expect(first).toEqual({ data: { name: "shelves/s/books/1", title: "book 1", pages: 1 } });
      expect(last?.event).toBe("error");
      expect(withoutTraceDetail(last?.data, answer.traceResponse)).toEqual(status(Code.ABORTED, "the shelf moved"));
    });

    it("a stream failing before its first message is a plain error response with the code's status", async () => {
      const answer = await send(gateway.url, "GET", "/broken/Library/StreamBooks?shelf=gone");
      expect(answer.status, answer.text).toBe(404);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.json()).toEqual(status(Code.NOT_FOUND, "no shelf gone"));
    });

    it("a backend whose only node died answers 503 with code 14", async () => {
      const before = await send(gateway.url, "GET", "/doomed/Library/Whoami");
      expect(before.status, before.text).toBe(200);
      expect(before.json()).toMatchObject({ nodeId: doomed.id });
      // Where no reader can check its process (another container's, say): still registered, nothing listening.
      await killLeavingRegistration(doomed, dir, "doomed");
      const after = await send(gateway.url, "GET", "/doomed/Library/Whoami");
      expect(after.status, after.text).toBe(503);
      expect(after.contentType).toMatch(/^application\/json/);
      // Nothing of the node (its address) or the call reaches the client, which could act on none of it.
      expect(after.json()).toEqual(status(Code.UNAVAILABLE, "the service is unavailable; try again later"));
      // The log has it, worded alike on both transports: the node, the call and why, without grpc-js's own text.
      const logged = gatewayLog.entries.find((e) => e.message?.startsWith("GET /doomed/Library/Whoami failed: "));
      expect(logged?.fields).toMatchObject({ code: "UNAVAILABLE", status: 503, failedService: "doomed" });
      expect(logged?.message).toMatch(
        /failed: cannot reach \S+ for \/[\w.]+\/Whoami: connect ECONNREFUSED \S+: nothing listens there/,
      );
      expect(logged?.message).not.toMatch(/No connection established|Last error|Resolution note/);
      // Other services are unaffected.
      expect((await send(gateway.url, "GET", "/v1/ping")).status).toBe(200);
    });

    it("an open circuit breaker answers 503 without calling the node", async () => {
      const answers: Answer[] = [];
      let callsWhenOpened = -1;
      for (let i = 0; i < 10 && callsWhenOpened < 0; i++) {
        const calls = brokenFailCalls;
        const answer = await send(strict.url, "POST", "/broken/Library/Fail", {
          code: Code.INTERNAL,
          message: "kaput",
        });
        answers.push(answer);
        if (answer.status === 503) callsWhenOpened = calls;
      }
      expect(callsWhenOpened, answers.map((a) => `${a.status} ${a.text}`).join("\n")).toBeGreaterThanOrEqual(3);
      // Until it opened, the node answered every call itself.
      for (const answer of answers.slice(0, -1)) expect(answer.json()).toEqual(status(Code.INTERNAL, "internal error"));
      expect(brokenFailCalls).toBe(callsWhenOpened);

      for (let i = 0; i < 3; i++) {
        const answer = await send(strict.url, "POST", "/broken/Library/Fail", { code: Code.INTERNAL, message: "x" });
        expect(answer.status, answer.text).toBe(503);
        expect(answer.json()).toMatchObject({
          code: Code.UNAVAILABLE,
          message: "the service is unavailable; try again later",
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "BREAKER_OPEN",
              domain: "tsmicro.runtime",
            },
            // Its next probe is what is left of --breaker_reset_timeout, which HTTP clients read as Retry-After.
            {
              "@type": "type.googleapis.com/google.rpc.RetryInfo",
              retryDelay: expect.stringMatching(/^(599\.\d+|600)s$/),
            },
          ],
        });
        expect(answer.retryAfter).toBe("600");
      }
      expect(brokenFailCalls).toBe(callsWhenOpened);
      // The breaker logged its opening: each refusal's own words go at debug, not a warn line per call.
      const refusals = strictLog.entries.filter((e) => e.message?.includes("failed: circuit breaker open"));
      expect(refusals.length).toBeGreaterThanOrEqual(3);
      expect(new Set(refusals.map((e) => e.level))).toEqual(new Set(["debug"]));
      // One breaker per method: the service's other methods still go through.
      const ping = await send(strict.url, "GET", "/broken/Library/Ping");
      expect(ping.status, ping.text).toBe(200);
      expect(ping.json()).toEqual({ status: "ok" });
    });
  });

  describe("server streams over HTTP", () => {
    it.each([
      ["GET", "/broken/Library/StreamBooks?shelf=slow", undefined],
      ["POST", "/broken/Library/StreamBooks", { shelf: "slow" }],
    ])("a stream whose messages come apart arrives whole: %s %s", async (method, path, body) => {
      const answer = await send(gateway.url, method, path, body);
      expect(answer.status, answer.text).toBe(200);
      expect(ndjson(answer.text)).toEqual(
        [1, 2, 3, 4, 5].map((i) => ({ result: { name: `shelves/slow/books/${i}`, title: `book ${i}`, pages: i } })),
      );
    });

    it.each([
      ["GET", "/broken/Library/StreamBooks?shelf=endless", undefined],
      ["POST", "/broken/Library/StreamBooks", { shelf: "endless" }],
    ])("an HTTP client going away cancels the backend's stream: %s %s", async (method, path, body) => {
      const cancelledBefore = streamsCancelled;
      const abort = new AbortController();
      const response = await fetch(`${gateway.url}${path}`, {
        method,
        signal: abort.signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain('"shelves/endless/books/1"');
      abort.abort();
      await reader.cancel().catch(() => undefined);
      // The endless stream runs 250 × 20 ms when nobody cancels it; the wait ends before that.
      await until("the backend sees its stream cancelled", () => streamsCancelled > cancelledBefore, 4_000);
    });
    it("a client's Connection: close holds for an SSE stream: the answer says close and the socket ends", async () => {
      const { port } = new URL(gateway.url!);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1", () =>
          socket.write(
            "GET /v1/shelves/s1/books:stream?count=1 HTTP/1.1\r\nHost: x\r\n" +
              "Accept: text/event-stream\r\nConnection: close\r\n\r\n",
          ),
        );
        let text = "";
        socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
      });
      const head = raw.slice(0, raw.indexOf("\r\n\r\n")).toLowerCase();
      expect(head).toMatch(/^http\/1\.1 200 /);
      expect(head).toContain("\r\nconnection: close");
      expect(head).not.toContain("keep-alive");
    });
  });

  describe("discovery", () => {
    it("a service started after the gateway is routed without restarting it", async () => {
      const before = await send(gateway.url, "GET", "/late/Library/Ping");
      expect(before.status, before.text).toBe(404);
      const late = await startNode("test/fixtures/gateway-node.ts", flags, { GATEWAY_NODE_NAME: "late" });
      // The registry watch brings it in, before any request asks for it.
      await until("the gateway learns of late", () => gateway.catalogue.services().some((s) => s.name === "late"));
      await until("GET /late/Library/Ping answers 200", async () => {
        return (await send(gateway.url, "GET", "/late/Library/Ping")).status === 200;
      });
      const whoami = await send(gateway.url, "GET", "/late/whoami");
      expect(whoami.status, whoami.text).toBe(200);
      expect(whoami.json()).toMatchObject({ nodeId: late.id });
    });

    it("a route two services claim goes to the live one once the winner's nodes have all left", async () => {
      // zeta sorts after library, so its routes win the conflict (the last registered wins).
      const zeta = await startNode("test/fixtures/gateway-node.ts", flags, { GATEWAY_NODE_NAME: "zeta" });
      await until("the gateway routes zeta", () => gateway.catalogue.services().some((s) => s.name === "zeta"));
      const served = gateway.catalogue.router.find("GET", "/v1/ping");
      expect(served?.route.target.service).toBe("zeta");
      zeta.kill("SIGTERM");
      await zeta.exited;
      // Deregistered: library, live, serves the route again, where zeta's route answered 503.
      await until(
        "library serves GET /v1/ping again",
        async () => (await send(gateway.url, "GET", "/v1/ping")).status === 200,
      );
      expect(gateway.catalogue.router.find("GET", "/v1/ping")?.route.target.service).toBe("library");
    });

    it("a service restarted with an edited proto is routed by its new descriptor, with the same methods", async () => {
      const echo = { id: "answered", payload: new Uint8Array(), sequence: 1 };
      const serve = async (definition: ServiceDefinition) => {
        const service = createService({ name: "reshaped", args: flags, env: suiteEnv(), logger: silentLogger() });
        const handler = Object.fromEntries(Object.keys(definition.methods).map((name) => [name, async () => echo]));
        service.handle(definition as typeof AlphaDefinition, handler as unknown as HandlerOf<typeof AlphaDefinition>, {
          partial: true,
        });
        await service.start();
        return service;
      };
      const unary = () => send(gateway.url, "POST", "/reshaped/Alpha/Unary", { id: "x", note: "new" });
      const first = await serve(AlphaDefinition);
      try {
        await until("the gateway routes reshaped", async () => (await unary()).status !== 404);
        const before = await unary();
        expect(before.status, before.text).toBe(400);
        expect(before.text).toContain("note");
      } finally {
        await first.stop();
      }
      // The same service, methods and messages, its Request message now with a field `note`.
      const second = await serve(withRequestField(AlphaDefinition, "note"));
      try {
        await until("the gateway takes the edited Request", async () => (await unary()).status === 200);
      } finally {
        await second.stop();
      }
    });
    it("a rolling deploy of an edited proto is routed by the new build, whichever node the registry lists first", async () => {
      // Each build runs on a registry of its own, and the gateway's lists both by hand: the old node
      // first (the ids sort so), and the endpoints of the new build, as those of the node registered last.
      const build = async (definition: ServiceDefinition, id: string) => {
        const folder = join(dir, `rolling-${id}`);
        const service = createService({
          name: "rolling",
          args: ["--registry=local", `--registry_address=${folder}`],
          env: suiteEnv(),
          logger: silentLogger(),
        });
        const handler = { unary: async () => ({ id: "answered", payload: new Uint8Array(), sequence: 1 }) };
        service.handle(definition as typeof AlphaDefinition, handler as unknown as HandlerOf<typeof AlphaDefinition>, {
          partial: true,
        });
        await service.start();
        const [record] = await createLocalRegistry({ dir: folder }).getService("rolling");
        return { service, record: { ...record!, nodes: [{ ...record!.nodes[0]!, id }] } };
      };
      const old = await build(AlphaDefinition, "rolling-a-old");
      const edited = await build(withRequestField(AlphaDefinition, "note"), "rolling-b-new");
      const listing = createLocalRegistry({ dir });
      await listing.start();
      let last = "";
      const unary = async () => {
        const answer = await send(gateway.url, "POST", "/rolling/Alpha/Unary", { id: "x", note: "new" });
        last = `${answer.status} ${answer.text.slice(0, 300)}`;
        return answer;
      };
      // On a timeout, what the gateway logged of this service says which load failed and why.
      const logged = () =>
        gatewayLog.entries
          .filter((e) => e.fields.backend === "rolling" || e.message?.includes("rolling"))
          .map((e) => `${e.level} ${e.message} ${String((e.fields.err as Error | undefined)?.message ?? "")}`)
          .join("\n");
      try {
        await listing.register(old.record, { ttlMs: 60_000 });
        await until("the gateway routes the old build", async () => (await unary()).status === 400);
        // Registered last (the later expiry), the new build is what the registry lists.
        await listing.register(edited.record, { ttlMs: 120_000 });
        await until("the gateway takes the new build's Request", async () => (await unary()).status === 200);
        // The new node leaves: the old build is listed again, and routed so.
        await listing.deregister(edited.record);
        await until("the gateway routes the old build again", async () => (await unary()).status === 400);
        // A new node listed after the old one (an earlier expiry) changes nothing, until the old one leaves.
        await listing.register(edited.record, { ttlMs: 30_000 });
        await listing.deregister(old.record);
        await until(
          "the gateway routes the new build once the old node left",
          async () => (await unary()).status === 200,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message} (last answer: ${last}); the gateway logged:\n${logged()}`);
      } finally {
        await listing.deregister(edited.record).catch(() => undefined);
        await Promise.all([old.service.stop(), edited.service.stop()]);
      }
    });

    it("says in a 404 that a web service is --handler web's, and that a path a routed service has no route for matches none", async () => {
      const listing = createLocalRegistry({ dir });
      await listing.start();
      const site = {
        name: "site",
        version: "latest",
        metadata: {},
        endpoints: [],
        nodes: [{ id: "site-1", address: "127.0.0.1:9", metadata: { protocol: "http" } }],
      };
      await listing.register(site, { ttlMs: 60_000 });
      try {
        const rpc = await send(gateway.url, "POST", "/rpc", { service: "site", method: "Site.Get", request: {} });
        expect([rpc.status, rpc.json()]).toEqual([
          404,
          status(Code.NOT_FOUND, "POST /rpc: site is a web service; a gateway with --handler web serves it"),
        ]);
        const page = "no route for GET /site/: site is a web service; a gateway with --handler web serves it";
        await until("the gateway names site a web service", async () => {
          const answer = await send(gateway.url, "GET", "/site/");
          return answer.status === 404 && (answer.json() as { message: string }).message === page;
        });
        // One segment too long for a default route: no route, and nothing of the service's methods.
        for (const path of ["/library/ping/a/", "/library/getShelf/3", "/library/Library/Ping/x"]) {
          const answer = await send(gateway.url, "GET", path);
          expect([answer.status, answer.json()]).toEqual([
            404,
            status(
              Code.NOT_FOUND,
              `no route for GET ${path}: no route matches the path; library's default routes are /library/{method} and /library/{Service}/{method}`,
            ),
          ]);
        }
      } finally {
        await listing.deregister(site).catch(() => undefined);
        await listing.stop();
      }
    });
  });

  describe("GET /", () => {
    it("answers an index pointing at /openapi.json, /rpc, the default routes and the services routed", async () => {
      const answer = await send(gateway.url, "GET", "/");
      expect(answer.status, answer.text).toBe(200);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.json()).toMatchObject({
        gateway: "tsmicro api",
        openapi: "/openapi.json",
        rpc: 'POST /rpc with {"service": …, "method": …, "request": {…}}',
        defaultRoutes: "/{service}/{method} and /{service}/{Service}/{method}",
        services: expect.arrayContaining(["library", "broken"]),
      });
      expect((await send(gateway.url, "HEAD", "/")).status).toBe(200);
      // Without an OpenAPI builder (createGateway's openApi), the index does not name one.
      expect((await send(strict.url, "GET", "/")).json()).not.toHaveProperty("openapi");
    });

    it("takes HEAD where it takes GET, and answers another method on / with 405 and Allow: GET, HEAD", async () => {
      expect((await send(gateway.url, "HEAD", "/openapi.json")).status).toBe(200);
      const posted = await send(gateway.url, "POST", "/", {});
      expect(posted.status).toBe(405);
      expect(posted.json()).toEqual(status(Code.UNIMPLEMENTED, "POST is not allowed on /; it takes GET, HEAD"));
    });
  });

  describe("/openapi.json", () => {
    it("is a valid OpenAPI 3.1 document with every route of the fixture", async () => {
      const answer = await send(gateway.url, "GET", "/openapi.json");
      expect(answer.status, answer.text).toBe(200);
      expect(answer.contentType).toMatch(/^application\/json/);
      const document = answer.json() as Record<string, unknown>;
      const result = await new Validator().validate(document);
      expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
      expect(result.valid).toBe(true);
      expect(document.openapi).toBe("3.1.0");

      // Every path and operation of the generated document for the fixture's file is there.
      const paths = document.paths as Record<string, Record<string, unknown>>;
      const golden = JSON.parse(
        await readFile(join(repoRoot, "test/golden/16-gateway/gateway.openapi.json"), "utf8"),
      ) as { paths: Record<string, Record<string, unknown>> };
      for (const [path, item] of Object.entries(golden.paths)) {
        expect(Object.keys(paths[path] ?? {}).sort(), path).toEqual(Object.keys(item).sort());
      }
      expect(paths).toHaveProperty(["/v1/shelves/{shelf}/books/{book}:publish", "post"]);
      expect(paths).toHaveProperty(["/v3/maintenance/hash", "post"]);

      // Merging documents kept every schema they refer to.
      const schemas = (document.components as { schemas: Record<string, unknown> }).schemas;
      const refs = JSON.stringify(document).match(/"\$ref":"[^"]*"/g) ?? [];
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) {
        const target = ref.slice('"$ref":"'.length, -1);
        expect(target).toMatch(/^#\/components\/schemas\//);
        expect(schemas, target).toHaveProperty([target.slice("#/components/schemas/".length)]);
      }
    });

    it("serves every operation at its path as a generated client calls it, each parameter percent-encoded", async () => {
      type Operation = { operationId: string; parameters?: { name: string; in: string }[]; requestBody?: unknown };
      const document = (await send(gateway.url, "GET", "/openapi.json")).json() as {
        paths: Record<string, Record<string, Operation>>;
      };
      const answers: Record<string, [number, unknown]> = {};
      for (const [path, item] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(item)) {
          // As openapi-fetch fills a path: each parameter encoded as one segment.
          let n = 0;
          const url = path.replace(/\{([^}]+)\}/g, () => encodeURIComponent(`p${n++}`));
          const body = operation.requestBody === undefined ? undefined : {};
          const answer = await send(gateway.url, method.toUpperCase(), url, body);
          const json = answer.status === 200 && answer.contentType.startsWith("application/json");
          answers[operation.operationId] = [answer.status, json ? answer.json() : undefined];
        }
      }
      // Each one routed and answered; DeleteBook refuses without force=true, as the node does.
      const statuses = Object.fromEntries(Object.entries(answers).map(([id, [status]]) => [id, status]));
      expect(Object.keys(statuses)).toHaveLength(18);
      expect(statuses).toEqual({
        ...Object.fromEntries(Object.keys(statuses).map((id) => [id, 200])),
        Library_DeleteBook: 400,
      });
      // The parameters of an expanded variable fill the one field, segment by segment.
      expect(answers.Library_GetBook?.[1]).toMatchObject({ name: "shelves/p0/books/p1" });
      expect(answers.Library_UpdateBook?.[1]).toMatchObject({ book: { name: "shelves/p0/books/p1" } });
      expect(answers.Library_PublishBook?.[1]).toMatchObject({ name: "shelves/p0/books/p1" });
      expect(answers.Library_GetObject?.[1]).toEqual({ path: "buckets/p0/objects/p1" });
      expect(answers.Library_GetShelf?.[1]).toEqual({ name: "shelves/p0" });
    });
  });
});
