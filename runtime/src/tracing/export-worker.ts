/**
 * The export worker's thread: it sends the span batches the service's
 * thread wrote (already OTLP protobuf) to the collector over OpenTelemetry's
 * OTLP/HTTP transport, or reads them back for OTel's JSON exporter, so the
 * HTTP requests and any re-encoding cost the service's event loop nothing
 * (see WorkerExporter).
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import type { Attributes } from "@opentelemetry/api";
import { TraceState, type ExportResult } from "@opentelemetry/core";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { decodeSpans, exportRequests, type SpanBatch, type SpanOrigin } from "./span-record.js";
import type { TraceExport } from "./tracing-settings.js";

/** What the worker starts with: where to export, and the resource and scope of every span. */
export interface ExportWorkerData {
  readonly target: TraceExport;
  readonly resource: Attributes;
  readonly scope: string;
}

/** To the worker: a batch to export, or the last word. */
export type ToExportWorker =
  | { readonly id: number; readonly spans: SpanBatch }
  | { readonly id: number; readonly shutdown: true };

/**
 * From the worker: how request `id` went (id 0: the worker is ready);
 * `error` says why it failed. An exported batch's buffer comes back as
 * `spare`, for the service's thread to write the next batch in.
 */
export interface FromExportWorker {
  readonly id: number;
  readonly error?: string;
  readonly spare?: ArrayBuffer;
}

/** Sends batches to the collector: export() answers through its callback, as OTel's exporters do. */
interface BatchExporter {
  export(batch: SpanBatch, done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/**
 * The exporter of the protocol, on OTel's OTLP/HTTP transport (its retries,
 * timeout, headers and compression from OTEL_EXPORTER_OTLP_*). Protobuf
 * batches go out as the service's thread wrote them, wrapped in their
 * resource and scope; JSON is written by OTel's exporter from the spans read
 * back. Each package loads only when chosen.
 */
async function createExporter(target: TraceExport, origin: SpanOrigin): Promise<BatchExporter> {
  const options = { url: target.url, timeoutMillis: target.timeoutMs };
  if (target.protocol === "http/json") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    const exporter = new OTLPTraceExporter(options);
    return {
      export: (batch, done) => exporter.export(decodeSpans(batch, origin), done),
      shutdown: () => exporter.shutdown(),
    };
  }
  const [{ convertLegacyHttpOptions, createOtlpHttpExportDelegate }, { ProtobufTraceSerializer }] = await Promise.all([
    import("@opentelemetry/otlp-exporter-base/node-http"),
    import("@opentelemetry/otlp-transformer"),
  ]);
  const requestOf = exportRequests(origin);
  const delegate = createOtlpHttpExportDelegate<SpanBatch, unknown>(
    convertLegacyHttpOptions(options, "TRACES", "v1/traces", { "Content-Type": "application/x-protobuf" }),
    {
      serializeRequest: requestOf,
      deserializeResponse: (bytes) => ProtobufTraceSerializer.deserializeResponse(bytes),
    },
    "otlp_http_span_exporter",
    { name: "span", countItems: (batch) => batch.count },
    undefined,
  );
  return { export: (batch, done) => delegate.export(batch, done), shutdown: () => delegate.shutdown() };
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function serve(data: ExportWorkerData): Promise<void> {
  const port = parentPort!;
  const origin: SpanOrigin = {
    // The SDK's telemetry.sdk.* attributes, under the service's own.
    resource: defaultResource().merge(resourceFromAttributes(data.resource)),
    scope: { name: data.scope },
    traceState: (text) => new TraceState(text),
  };
  const exporter = await createExporter(data.target, origin);
  const answer = (id: number, error?: unknown) =>
    port.postMessage(error === undefined ? { id } : { id, error: reasonOf(error) });
  port.on("message", (message: ToExportWorker) => {
    if ("shutdown" in message) {
      exporter.shutdown().then(
        () => answer(message.id),
        (error: unknown) => answer(message.id, error),
      );
      return;
    }
    exporter.export(message.spans, (result: ExportResult) => {
      // ExportResultCode.SUCCESS is 0. After a failure the request may still hold the bytes: they are not handed back.
      if (result.code !== 0) {
        answer(message.id, result.error ?? "the collector refused the spans");
        return;
      }
      const spare = message.spans.bytes.buffer;
      port.postMessage({ id: message.id, spare } satisfies FromExportWorker, [spare]);
    });
  });
  answer(0);
}

/**
 * Lowers this thread's priority (nice 10) where a thread may set its own
 * (Linux): exporting is background work. At normal priority, the worker
 * woken by each full batch took the CPU from the service's event loop for
 * the whole export, about a millisecond, on a machine whose cores were busy
 * serving calls. Niced, it still gets a tenth of a busy core: many times
 * what exporting needs.
 */
function yieldToTheService(): void {
  try {
    const thread = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(thread)) setPriority(thread, 10);
  } catch {
    // No /proc/thread-self (not Linux) or no permission: the thread keeps the process's priority.
  }
}

yieldToTheService();
await serve(workerData as ExportWorkerData);
