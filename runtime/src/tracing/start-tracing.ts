import type { ContextManager } from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import type { Sampler, SpanExporter } from "@opentelemetry/sdk-trace";
import { carrierGetter, type Tracing } from "./tracing.js";
import type { TraceExport, TracingSettings } from "./tracing-settings.js";
import { loadOtelApi, type OtelApiModule } from "./otel-api.js";
import { propagatingTracer } from "./propagating-tracer.js";

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
 * starts a tracer provider of its own for one service or gateway, with the
 * sampler and, when the settings name an endpoint, a batching OTLP/HTTP
 * exporter. It does not register the provider globally (a test process runs
 * several services, each with its own `service.name`); it does install the
 * process-wide AsyncLocalStorage context manager, once, so spans are active
 * across awaits.
 */
export async function startTracing(settings: TracingSettings, resource: TracingResource = {}): Promise<Tracing> {
  const [api, sdk, core, hooks, resources] = await Promise.all([
    loadOtelApi(),
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/core"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/resources"),
  ]);
  installContextManager(api, () => new hooks.AsyncLocalStorageContextManager());
  const target = settings.exporter;
  const exporter = target ? new FailureWatch(await createExporter(target)) : undefined;
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({
      ...settings.resourceAttributes,
      "service.name": settings.serviceName,
      ...(resource.serviceVersion ? { "service.version": resource.serviceVersion } : {}),
      ...(resource.instanceId ? { "service.instance.id": resource.instanceId } : {}),
    }),
    sampler: createSampler(sdk, settings),
    spanProcessors:
      exporter && target ? [new sdk.BatchSpanProcessor({ exporter, exportTimeoutMillis: target.timeoutMs })] : [],
  });
  const propagator = new core.W3CTraceContextPropagator();
  // Without an exporter no span is read: make spans that only carry ids (see propagatingTracer).
  const tracer = exporter
    ? provider.getTracer(scopeName)
    : propagatingTracer(api, createSampler(sdk, settings), new sdk.RandomIdGenerator());
  return {
    api,
    tracer,
    recording: exporter !== undefined,
    extract: (carrier) => propagator.extract(api.ROOT_CONTEXT, carrier, carrierGetter),
    inject(context) {
      const carrier: Record<string, string> = {};
      propagator.inject(context, carrier, api.defaultTextMapSetter);
      return carrier;
    },
    async shutdown() {
      exporter?.clear();
      const closed = (async () => {
        await provider.forceFlush({ timeoutMillis: target?.timeoutMs ?? 0 });
        await provider.shutdown();
      })();
      // The exporter gives up after its timeout; this bound covers anything past it.
      if (target && !(await settlesWithin(closed, target.timeoutMs + 1_000)))
        throw new Error(`the collector at ${target.url} did not take the last spans within ${target.timeoutMs} ms`);
      await closed;
      exporter?.throwIfFailed();
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

type Sdk = typeof import("@opentelemetry/sdk-trace");

/** The standard samplers by their OTEL_TRACES_SAMPLER names. */
function createSampler(sdk: Sdk, settings: TracingSettings): Sampler {
  const ratio = new sdk.TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case "always_on":
      return new sdk.AlwaysOnSampler();
    case "always_off":
      return new sdk.AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new sdk.ParentBasedSampler({ root: ratio });
    default:
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
  }
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

/**
 * An exporter that remembers its last failure: the batch processor reports
 * failed exports only to OTel's silent global handler, and stop must be able
 * to say that the last spans were lost.
 */
class FailureWatch implements SpanExporter {
  readonly #inner: SpanExporter;
  #failure: unknown;

  constructor(inner: SpanExporter) {
    this.#inner = inner;
  }

  export(spans: Parameters<SpanExporter["export"]>[0], done: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      // ExportResultCode.SUCCESS is 0.
      if (result.code !== 0) this.#failure = result.error ?? new Error("the collector refused the spans");
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }

  /** Forgets failures so far: only the exports after this count for throwIfFailed. */
  clear(): void {
    this.#failure = undefined;
  }

  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/** True when `promise` settles within `ms` (its rejection is left to the caller); the timer does not hold the process. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
