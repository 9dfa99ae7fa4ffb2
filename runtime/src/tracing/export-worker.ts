/**
 * The export worker's thread: it turns span batches back into spans and
 * hands them to OpenTelemetry's OTLP/HTTP exporter, so the encoding and the
 * HTTP requests cost the service's event loop nothing (see SpanExportWorker).
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Attributes } from "@opentelemetry/api";
import { TraceState, type ExportResult } from "@opentelemetry/core";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import { decodeSpans, type SpanBatch, type SpanOrigin } from "./span-record.js";
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

/** From the worker: how request `id` went (id 0: the worker is ready); `error` says why it failed. */
export interface FromExportWorker {
  readonly id: number;
  readonly error?: string;
}

/** The OTLP/HTTP exporter of the protocol; each package loads only when chosen. */
async function createExporter(target: TraceExport): Promise<SpanExporter> {
  const options = { url: target.url, timeoutMillis: target.timeoutMs };
  if (target.protocol === "http/json") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    return new OTLPTraceExporter(options);
  }
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
  return new OTLPTraceExporter(options);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function serve(data: ExportWorkerData): Promise<void> {
  const port = parentPort!;
  const exporter = await createExporter(data.target);
  const origin: SpanOrigin = {
    // The SDK's telemetry.sdk.* attributes, under the service's own.
    resource: defaultResource().merge(resourceFromAttributes(data.resource)),
    scope: { name: data.scope },
    traceState: (text) => new TraceState(text),
  };
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
    exporter.export(decodeSpans(message.spans, origin), (result: ExportResult) => {
      // ExportResultCode.SUCCESS is 0.
      answer(message.id, result.code === 0 ? undefined : (result.error ?? "the collector refused the spans"));
    });
  });
  answer(0);
}

await serve(workerData as ExportWorkerData);
