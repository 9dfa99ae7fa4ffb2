/**
 * An OTLP/HTTP receiver for tests: it takes `POST /v1/traces` in both encodings and keeps the spans as a
 * collector would see them, the protobuf requests decoded with a small OTLP schema of our own
 * (test/fixtures/otlp/otlp-traces.proto).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  createFileRegistry,
  fromBinary,
  type DescMessage,
  type FileRegistry,
  type MessageShape,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { buildImage } from "../../bin/cli/buf-image.js";
import { repoRoot } from "./cli.js";

let schema: Promise<FileRegistry> | undefined;

/** The OTLP fixture schema, compiled once per test file. */
function otlpSchema(): Promise<FileRegistry> {
  schema ??= buildImage(join(repoRoot, "test/fixtures/otlp"), "test/fixtures/otlp").then((image) =>
    createFileRegistry(fromBinary(FileDescriptorSetSchema, image)),
  );
  return schema;
}

/** A span as the receiver got it, from either encoding. */
export interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: "server" | "client" | "internal" | "other";
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly events: readonly { name: string; attributes: Readonly<Record<string, string | number | boolean>> }[];
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
}

/** What the receiver saw: spans, and the content type of each export request. */
export interface Receiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly contentTypes: string[];
  close(): Promise<void>;
}

export type Protocol = "http/protobuf" | "http/json";
type ExportRequest = MessageShape<DescMessage>;

const kinds: Readonly<Record<number, ReceivedSpan["kind"]>> = { 1: "internal", 2: "server", 3: "client" };

/** An OTLP/HTTP receiver on 127.0.0.1:0 accepting `POST /v1/traces` in both encodings. */
export async function startReceiver(): Promise<Receiver> {
  const otlp = await otlpSchema();
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const type = request.headers["content-type"] ?? "";
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end();
        return;
      }
      contentTypes.push(type);
      if (type.startsWith("application/json")) {
        spans.push(...spansOfJson(JSON.parse(body.toString("utf8")) as JsonExport));
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else {
        spans.push(...spansOfProtobuf(otlp, body));
        response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// The decoded protobuf request, typed by the fields the fixture schema declares.
interface ProtoValue {
  value: { case: string | undefined; value?: unknown };
}
interface ProtoKeyValue {
  key: string;
  value?: ProtoValue;
}
interface ProtoSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId: Uint8Array;
  name: string;
  kind: number;
  attributes: ProtoKeyValue[];
  events: { name: string; attributes: ProtoKeyValue[] }[];
  status?: { code: number; message: string };
}
interface ProtoExport {
  resourceSpans: { resource?: { attributes: ProtoKeyValue[] }; scopeSpans: { spans: ProtoSpan[] }[] }[];
}

function spansOfProtobuf(otlp: FileRegistry, body: Uint8Array): ReceivedSpan[] {
  const schema = otlp.getMessage("tsmicro.test.otlp.ExportTraceServiceRequest");
  if (!schema) throw new Error("the OTLP fixture schema has no ExportTraceServiceRequest");
  const request = fromBinary(schema, body) as ExportRequest as unknown as ProtoExport;
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  const attributes = (list: ProtoKeyValue[]) =>
    Object.fromEntries(list.map((kv) => [kv.key, plain(kv.value?.value.value)]));
  return request.resourceSpans.flatMap((resource) => {
    const service = String(attributes(resource.resource?.attributes ?? [])["service.name"]);
    return resource.scopeSpans.flatMap((scope) =>
      scope.spans.map(
        (span): ReceivedSpan => ({
          service,
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          name: span.name,
          kind: kinds[span.kind] ?? "other",
          attributes: attributes(span.attributes),
          events: span.events.map((event) => ({ name: event.name, attributes: attributes(event.attributes) })),
          statusCode: span.status?.code ?? 0,
          statusMessage: span.status?.message ?? "",
        }),
      ),
    );
  });
}

// OTLP/JSON as the spec defines it: ids in hex, enums as numbers, int64 as a number or a string.
interface JsonKeyValue {
  key: string;
  value: Record<string, unknown>;
}
interface JsonExport {
  resourceSpans: {
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans: {
      spans: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: JsonKeyValue[];
        events?: { name: string; attributes?: JsonKeyValue[] }[];
        status?: { code?: number; message?: string };
      }[];
    }[];
  }[];
}

function spansOfJson(request: JsonExport): ReceivedSpan[] {
  const attributes = (list: JsonKeyValue[] = []) =>
    Object.fromEntries(
      list.map((kv) => {
        const [kind, value] = Object.entries(kv.value)[0] ?? ["", undefined];
        return [kv.key, kind === "intValue" ? Number(value) : plain(value)];
      }),
    );
  return request.resourceSpans.flatMap((resource) => {
    const service = String(attributes(resource.resource?.attributes)["service.name"]);
    return resource.scopeSpans.flatMap((scope) =>
      scope.spans.map(
        (span): ReceivedSpan => ({
          service,
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          kind: kinds[span.kind] ?? "other",
          attributes: attributes(span.attributes),
          events: (span.events ?? []).map((event) => ({ name: event.name, attributes: attributes(event.attributes) })),
          statusCode: span.status?.code ?? 0,
          statusMessage: span.status?.message ?? "",
        }),
      ),
    );
  });
}

function plain(value: unknown): string | number | boolean {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  return String(value);
}
