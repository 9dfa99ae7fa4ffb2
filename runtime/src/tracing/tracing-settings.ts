import { SetupError } from "../errors/setup-error.js";

/** The OTLP/HTTP encodings tsmicro exports spans in: protobuf (the OTel default) or JSON. */
export type TraceProtocol = "http/protobuf" | "http/json";

/** The standard OTEL_TRACES_SAMPLER names tsmicro understands. */
export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

/** Where and how finished spans are sent. */
export interface TraceExport {
  /** The full OTLP/HTTP URL spans are POSTed to, such as `http://localhost:4318/v1/traces`. */
  readonly url: string;
  readonly protocol: TraceProtocol;
  /**
   * How long one export may take, retries included (OTEL_BSP_EXPORT_TIMEOUT); it also bounds how
   * long stop waits for the last spans. Default 5 s rather than the spec's 30 s: a collector
   * that is down must not hold a service's shutdown up for half a minute.
   */
  readonly timeoutMs: number;
  /** How spans are batched: OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE. */
  readonly batch: SpanBatching;
}

/** When a batch of spans leaves, and how many may wait. */
export interface SpanBatching {
  /** At most this long after a batch's first span, in milliseconds (default 5000). */
  readonly delayMs: number;
  /** Spans waiting beyond this are dropped (default 8192). */
  readonly maxQueueSize: number;
  /** A batch leaves once it holds this many (default 2048). */
  readonly maxBatchSize: number;
}

/**
 * Tracing as a service or gateway runs it, resolved from flags and the
 * standard `OTEL_*` variables. Tracing is on by default: spans are made and
 * W3C `traceparent`/`tracestate` propagate, so trace ids reach logs and error
 * bodies with no collector; spans leave the process only when `exporter` is
 * set. `enabled: false` (OTEL_SDK_DISABLED=true) loads nothing at all.
 */
export interface TracingSettings {
  readonly enabled: boolean;
  /** The resource's `service.name`: OTEL_SERVICE_NAME, else the service's own name. */
  readonly serviceName: string;
  /** More resource attributes from OTEL_RESOURCE_ATTRIBUTES (`deployment.environment.name=prod,…`). */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** Undefined: spans are made and propagated but not exported. */
  readonly exporter: TraceExport | undefined;
  readonly sampler: SamplerName;
  /** The ratio of the `*traceidratio` samplers, in [0, 1]. */
  readonly samplerRatio: number;
}

/** The tracing flags of a service (`--trace_*`, also `TSMICRO_TRACE_*`); each wins over its `OTEL_*` variable. */
export interface TracingFlags {
  readonly traceEndpoint?: string | undefined;
  readonly traceProtocol?: TraceProtocol | undefined;
  readonly traceSamplerRatio?: number | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The OTLP/HTTP default collector address, used when OTEL_TRACES_EXPORTER=otlp names no endpoint. */
export const defaultOtlpEndpoint = "http://localhost:4318";

/** How spans are encoded when neither `--trace_protocol` nor OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL says. */
export const defaultTraceProtocol: TraceProtocol = "http/protobuf";

/** The default of OTEL_BSP_EXPORT_TIMEOUT, in milliseconds. */
export const defaultExportTimeoutMs = 5_000;

const samplerNames: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

/**
 * Resolves tracing from flags over `OTEL_*` variables. `serviceName` is the
 * default `service.name` (a service's name; `api` for the gateway). A bad
 * value is a SetupError (TSM_ERR_FLAG) naming the flag or variable.
 */
export function resolveTracingSettings(serviceName: string, flags: TracingFlags, env: Env): TracingSettings {
  const enabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== "true";
  const name = nonEmpty(env.OTEL_SERVICE_NAME) ?? serviceName;
  if (!enabled)
    return {
      enabled,
      serviceName: name,
      resourceAttributes: {},
      exporter: undefined,
      sampler: "parentbased_always_on",
      samplerRatio: 1,
    };
  const protocol =
    flags.traceProtocol ??
    envProtocol(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ??
    envProtocol(env, "OTEL_EXPORTER_OTLP_PROTOCOL") ??
    defaultTraceProtocol;
  const url = exportUrl(flags, env);
  const { sampler, samplerRatio } =
    flags.traceSamplerRatio === undefined
      ? envSampler(env)
      : { sampler: "parentbased_traceidratio" as const, samplerRatio: flags.traceSamplerRatio };
  const exporter = url ? { url, protocol, timeoutMs: exportTimeout(env), batch: spanBatching(env) } : undefined;
  const resourceAttributes = resourceAttributesOf(env.OTEL_RESOURCE_ATTRIBUTES);
  return { enabled, serviceName: name, resourceAttributes, exporter, sampler, samplerRatio };
}

/**
 * The traces URL, or undefined for no export: `--trace_endpoint` always
 * exports; otherwise OTEL_TRACES_EXPORTER=none exports nothing, `otlp` exports
 * (to localhost:4318 when no endpoint is set), and unset exports only when an
 * OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set.
 */
function exportUrl(flags: TracingFlags, env: Env): string | undefined {
  if (flags.traceEndpoint !== undefined) return flags.traceEndpoint;
  const exporter = tracesExporter(env);
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const configured = traces
    ? httpUrl(traces, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    : base
      ? tracesUrlOf(base, "OTEL_EXPORTER_OTLP_ENDPOINT", true)
      : undefined;
  if (exporter === "none") return undefined;
  if (exporter === "otlp") return configured ?? `${defaultOtlpEndpoint}/v1/traces`;
  return configured;
}

/** OTEL_TRACES_EXPORTER: `otlp`, `none`, or unset; others (console, zipkin, jaeger) are not shipped. */
function tracesExporter(env: Env): "otlp" | "none" | undefined {
  const value = nonEmpty(env.OTEL_TRACES_EXPORTER);
  if (value === undefined) return undefined;
  const names = value.split(",").map((n) => n.trim().toLowerCase());
  if (names.includes("otlp")) return "otlp";
  if (names.every((n) => n === "none")) return "none";
  throw new SetupError(
    "TSM_ERR_FLAG",
    "OTEL_TRACES_EXPORTER",
    JSON.stringify(value),
    "tsmicro exports traces over OTLP only; use otlp (Jaeger and collectors ingest it) or none",
  );
}

/** OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs separated by commas, values percent-encoded. */
function resourceAttributesOf(value: string | undefined): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of (value ?? "").split(",")) {
    if (pair.trim() === "") continue;
    const equals = pair.indexOf("=");
    const key = pair.slice(0, equals).trim();
    let decoded: string | undefined;
    try {
      decoded = decodeURIComponent(pair.slice(equals + 1).trim());
    } catch {
      decoded = undefined;
    }
    if (equals <= 0 || key === "" || decoded === undefined)
      throw new SetupError(
        "TSM_ERR_FLAG",
        "OTEL_RESOURCE_ATTRIBUTES",
        JSON.stringify(value),
        `${JSON.stringify(pair)} is not key=value (values percent-encoded); use such as deployment.environment.name=prod,team=payments`,
      );
    attributes[key] = decoded;
  }
  return attributes;
}

/** OTEL_BSP_EXPORT_TIMEOUT: whole milliseconds, at least 1. */
function exportTimeout(env: Env): number {
  return wholeNumber(env, "OTEL_BSP_EXPORT_TIMEOUT", defaultExportTimeoutMs, 1, "whole milliseconds, such as 5000");
}

/**
 * The batch processor's variables; a batch is at most the queue. The delay
 * is the SDK's (5 s); batch and queue are four times the SDK's 512 and 2048,
 * in the same ratio. An OTLP/HTTP export costs the export worker about a
 * millisecond of CPU whatever its size (node's HTTP client and the kernel's
 * loopback, code that runs a few dozen times a second and stays cold): at
 * 512 spans a request, a busy service sending every span spent 2.5 µs of
 * CPU a span exporting, at 2048 0.7 µs. Collectors take far larger requests
 * (the OTel Collector batches 8192 spans by default).
 */
function spanBatching(env: Env): SpanBatching {
  const delayMs = wholeNumber(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000, 0, "whole milliseconds, such as 5000");
  const maxQueueSize = wholeNumber(env, "OTEL_BSP_MAX_QUEUE_SIZE", 8_192, 1, "a whole number of spans, such as 8192");
  const maxBatchSize = wholeNumber(
    env,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    2_048,
    1,
    "a whole number of spans, such as 2048",
  );
  return { delayMs, maxQueueSize, maxBatchSize: Math.min(maxBatchSize, maxQueueSize) };
}

/** The whole number variable `name`, at least `minimum`; `fallback` when unset. */
function wholeNumber(env: Env, name: string, fallback: number, minimum: number, expected: string): number {
  const value = nonEmpty(env[name]);
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum)
    throw new SetupError("TSM_ERR_FLAG", name, JSON.stringify(value), `expected ${expected}`);
  return number;
}

function envProtocol(env: Env, name: string): TraceProtocol | undefined {
  const value = nonEmpty(env[name]);
  return value === undefined ? undefined : traceProtocol(value, name);
}

/** OTEL_TRACES_SAMPLER and its _ARG; default parent-based always-on, as the OTel SDKs. */
function envSampler(env: Env): { sampler: SamplerName; samplerRatio: number } {
  const value = nonEmpty(env.OTEL_TRACES_SAMPLER)?.toLowerCase() ?? "parentbased_always_on";
  if (!samplerNames.includes(value as SamplerName))
    throw new SetupError(
      "TSM_ERR_FLAG",
      "OTEL_TRACES_SAMPLER",
      JSON.stringify(value),
      `use one of ${samplerNames.join(", ")}`,
    );
  const arg = nonEmpty(env.OTEL_TRACES_SAMPLER_ARG);
  const samplerRatio = value.endsWith("traceidratio") && arg !== undefined ? ratio(arg, "OTEL_TRACES_SAMPLER_ARG") : 1;
  return { sampler: value as SamplerName, samplerRatio };
}

/** Parses `--trace_protocol` or an OTLP protocol variable; `grpc` is refused with what to use instead. */
export function traceProtocol(value: string, source: string): TraceProtocol {
  const v = value.trim().toLowerCase();
  if (v === "http/protobuf" || v === "http/json") return v;
  const hint =
    v === "grpc"
      ? "tsmicro exports spans over OTLP/HTTP only; use http/protobuf (the default) or http/json, and the collector's HTTP port (4318)"
      : "use http/protobuf (the default) or http/json";
  throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), hint);
}

/** Parses a sampling ratio in [0, 1] (`--trace_sampler_ratio`, OTEL_TRACES_SAMPLER_ARG). */
export function ratio(value: string, source: string): number {
  const n = Number(value.trim());
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1)
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "expected a ratio from 0 to 1, such as 0.25");
  return n;
}

/**
 * Parses `--trace_endpoint`: a collector's base URL as OTEL_EXPORTER_OTLP_ENDPOINT
 * takes it (`http://jaeger:4318`, `/v1/traces` is appended), or the full traces
 * URL (a path already ending in `/v1/traces` is kept).
 */
export function traceEndpoint(value: string, source: string): string {
  return tracesUrlOf(value, source, false);
}

function tracesUrlOf(value: string, source: string, alwaysAppend: boolean): string {
  const url = httpUrl(value, source);
  if (!alwaysAppend && /\/v1\/traces\/?$/.test(new URL(url).pathname)) return url;
  return `${url.replace(/\/+$/, "")}/v1/traces`;
}

function httpUrl(value: string, source: string): string {
  const trimmed = value.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new SetupError("TSM_ERR_FLAG", source, JSON.stringify(value), "expected a URL such as http://localhost:4318");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new SetupError(
      "TSM_ERR_FLAG",
      source,
      JSON.stringify(value),
      "expected an http:// or https:// URL such as http://localhost:4318 (OTLP over HTTP)",
    );
  return trimmed;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}
