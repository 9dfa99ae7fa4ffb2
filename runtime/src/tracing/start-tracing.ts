import type { ContextManager } from "@opentelemetry/api";
import { formatTraceparent, headerOf, isPropagatable, parseTraceparent } from "./trace-context.js";
import type { Tracing } from "./tracing.js";
import type { TracingSettings } from "./tracing-settings.js";
import { loadContextManager, loadOtelApi, type OtelApiModule } from "./otel-api.js";
import { lendToGlobalTracer } from "./global-tracer.js";
import { leanTracer } from "./lean-tracer.js";
import { SpanOnlyContext } from "./span-context.js";
import { RandomIds, samplerOf } from "./sampling.js";

/** What the resource says of the process besides `service.name`. */
export interface TracingResource {
  readonly serviceVersion?: string | undefined;
  /** `service.instance.id`: the registry node id. */
  readonly instanceId?: string | undefined;
}

/** The tracer name spans are attributed to (their instrumentation scope). */
const scopeName = "@tsmicro/runtime";

/**
 * Loads the OpenTelemetry SDK (only now: importing the runtime does not) and
 * starts tracing for one service or gateway: tsmicro's lean tracer with the
 * SDK's sampler and ids and, when the settings name an endpoint, spans
 * batched to OTel's OTLP/HTTP exporter on a worker thread (WorkerExporter), whose failures to
 * export reach `onExportFailure` (once, until an export gets through again).
 * Nothing is registered globally (a test process runs several services, each
 * with its own `service.name`), except the process-wide AsyncLocalStorage
 * context manager, installed once, so spans are active across awaits, and a
 * tracer provider for user code's spans, which finds the tracer of the span
 * it runs in (see lendToGlobalTracer).
 */
export async function startTracing(
  settings: TracingSettings,
  resource: TracingResource = {},
  onExportFailure?: (error: Error) => void,
): Promise<Tracing> {
  const api = loadOtelApi();
  const hooks = loadContextManager();
  installContextManager(api, () => new hooks.AsyncLocalStorageContextManager());
  const target = settings.exporter;
  // The exporter (its worker and span writer) loads only when spans go somewhere.
  const exporter = target
    ? await (await import("./worker-exporter.js")).WorkerExporter.start(
        target,
        {
          ...settings.resourceAttributes,
          "service.name": settings.serviceName,
          ...(resource.serviceVersion ? { "service.version": resource.serviceVersion } : {}),
          ...(resource.instanceId ? { "service.instance.id": resource.instanceId } : {}),
        },
        scopeName,
        onExportFailure,
      )
    : undefined;
  const tracer = leanTracer(api, samplerOf(settings.sampler, settings.samplerRatio), new RandomIds(), exporter?.record);
  const withdraw = lendToGlobalTracer(api, tracer);
  return {
    api,
    tracer,
    recording: exporter !== undefined,
    extract(carrier) {
      const header = headerOf(carrier, "traceparent");
      const parent = header === undefined ? undefined : parseTraceparent(header);
      if (!parent) return api.ROOT_CONTEXT;
      const state = headerOf(carrier, "tracestate");
      if (state) parent.traceState = api.createTraceState(state);
      return new SpanOnlyContext(api, api.trace.wrapSpanContext(parent));
    },
    inject(span, carrier) {
      if (!span || !isPropagatable(span)) return;
      carrier.traceparent = formatTraceparent(span);
      const state = span.traceState?.serialize();
      if (state) carrier.tracestate = state;
    },
    shutdown: async () => {
      withdraw();
      await exporter?.shutdown();
    },
  };
}

/** The global context manager is per process by OTel's design; the first tracing to start installs it and it stays. */
function installContextManager(api: OtelApiModule, create: () => ContextManager): void {
  const probe = api.createContextKey("tsmicro.context-manager-probe");
  const works = api.context.with(api.ROOT_CONTEXT.setValue(probe, true), () => api.context.active().getValue(probe));
  if (works) return;
  const manager = create().enable();
  if (!api.context.setGlobalContextManager(manager)) manager.disable();
}
