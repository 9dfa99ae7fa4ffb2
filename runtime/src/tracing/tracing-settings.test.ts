import { describe, expect, it } from "vitest";
import { resolveServiceSettings } from "../service/settings.js";
import { resolveTracingSettings } from "./tracing-settings.js";

/** Tracing as a service named `orders` resolves it from these flags and variables. */
function tracingOf(args: string[], env: Record<string, string> = {}) {
  return resolveTracingSettings("orders", resolveServiceSettings({}, args, env), env);
}

describe("resolveTracingSettings", () => {
  it("is on with nothing set: parent-based always-on, the service's name, nothing exported", () => {
    expect(tracingOf([])).toEqual({
      enabled: true,
      serviceName: "orders",
      resourceAttributes: {},
      exporter: undefined,
      sampler: "parentbased_always_on",
      samplerRatio: 1,
    });
  });

  it("is off only for OTEL_SDK_DISABLED=true", () => {
    expect(tracingOf([], { OTEL_SDK_DISABLED: "TRUE" }).enabled).toBe(false);
    expect(tracingOf([], { OTEL_SDK_DISABLED: "false" }).enabled).toBe(true);
    // Off means nothing else is read: a bad protocol does not matter then.
    expect(tracingOf([], { OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }).enabled).toBe(false);
  });

  it("exports to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, or the traces endpoint as it is", () => {
    expect(tracingOf([], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318/" }).exporter).toEqual({
      url: "http://jaeger:4318/v1/traces",
      protocol: "http/protobuf",
      timeoutMs: 5_000,
      batch: { delayMs: 5_000, maxQueueSize: 8_192, maxBatchSize: 2_048 },
    });
    expect(
      tracingOf([], {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://collector.example/custom/path",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_EXPORT_TIMEOUT: "1500",
        OTEL_BSP_SCHEDULE_DELAY: "0",
        OTEL_BSP_MAX_QUEUE_SIZE: "100",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "1000",
      }).exporter,
    ).toEqual({
      url: "https://collector.example/custom/path",
      protocol: "http/json",
      timeoutMs: 1_500,
      // A batch is never larger than the queue.
      batch: { delayMs: 0, maxQueueSize: 100, maxBatchSize: 100 },
    });
  });

  it("refuses a batch variable that is not a whole number, naming it", () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318", OTEL_BSP_MAX_QUEUE_SIZE: "lots" };
    expect(() => tracingOf([], env)).toThrow(
      /OTEL_BSP_MAX_QUEUE_SIZE.*"lots".*expected a whole number of spans, such as 8192/,
    );
  });

  it("exports to localhost:4318 for OTEL_TRACES_EXPORTER=otlp alone, and nothing for none", () => {
    expect(tracingOf([], { OTEL_TRACES_EXPORTER: "otlp" }).exporter?.url).toBe("http://localhost:4318/v1/traces");
    expect(
      tracingOf([], { OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" }).exporter,
    ).toBeUndefined();
  });

  it("lets flags win over the OTEL_* variables", () => {
    const settings = tracingOf(
      ["--trace_endpoint=http://127.0.0.1:4318", "--trace_protocol=http/json", "--trace_sampler_ratio=0.25"],
      {
        OTEL_TRACES_EXPORTER: "none",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_TRACES_SAMPLER: "always_off",
      },
    );
    expect(settings).toMatchObject({
      exporter: { url: "http://127.0.0.1:4318/v1/traces", protocol: "http/json" },
      sampler: "parentbased_traceidratio",
      samplerRatio: 0.25,
    });
    expect(tracingOf(["--trace_endpoint=http://c:4318/v1/traces"]).exporter?.url).toBe("http://c:4318/v1/traces");
    expect(tracingOf([], { TSMICRO_TRACE_SAMPLER_RATIO: "0" }).samplerRatio).toBe(0);
  });

  it("names the service by OTEL_SERVICE_NAME when set", () => {
    expect(tracingOf([], { OTEL_SERVICE_NAME: "orders-eu" }).serviceName).toBe("orders-eu");
  });

  it("reads OTEL_RESOURCE_ATTRIBUTES, values percent-decoded", () => {
    expect(
      tracingOf([], { OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=prod, team=pay%20ments" })
        .resourceAttributes,
    ).toEqual({ "deployment.environment.name": "prod", team: "pay ments" });
  });

  it("reads the standard samplers and their ratio", () => {
    expect(tracingOf([], { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.5" })).toMatchObject({
      sampler: "traceidratio",
      samplerRatio: 0.5,
    });
    expect(tracingOf([], { OTEL_TRACES_SAMPLER: "parentbased_always_off" }).sampler).toBe("parentbased_always_off");
  });

  it.each([
    [
      { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      /OTEL_EXPORTER_OTLP_PROTOCOL has an invalid value "grpc".*OTLP\/HTTP only/,
    ],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" }, /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL .*http\/protobuf/],
    [{ OTEL_TRACES_SAMPLER: "jaeger_remote" }, /OTEL_TRACES_SAMPLER .*use one of always_on/],
    [{ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }, /OTEL_TRACES_SAMPLER_ARG .*from 0 to 1/],
    [{ OTEL_TRACES_EXPORTER: "zipkin" }, /OTEL_TRACES_EXPORTER .*use otlp/],
    [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_BSP_EXPORT_TIMEOUT: "5s" }, /OTEL_BSP_EXPORT_TIMEOUT .*whole milliseconds/],
    [{ OTEL_RESOURCE_ATTRIBUTES: "team" }, /OTEL_RESOURCE_ATTRIBUTES .*not key=value/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "jaeger:4318" }, /OTEL_EXPORTER_OTLP_ENDPOINT .*http:\/\/ or https:\/\//],
  ])("refuses %o naming the variable and what to do", (env, message) => {
    expect(() => tracingOf([], env)).toThrow(message);
  });

  it.each([
    ["--trace_protocol=grpc", /--trace_protocol has an invalid value "grpc"/],
    ["--trace_sampler_ratio=half", /--trace_sampler_ratio .*from 0 to 1/],
    ["--trace_endpoint=localhost", /--trace_endpoint .*URL/],
  ])("refuses %s naming the flag", (flag, message) => {
    expect(() => tracingOf([flag])).toThrow(message);
  });
});
