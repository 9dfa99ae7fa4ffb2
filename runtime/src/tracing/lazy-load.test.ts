import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const probe = fileURLToPath(new URL("./testdata/load-probe.mjs", import.meta.url));

/** How many @opentelemetry imports a fresh process resolves after importing the runtime, and after a service's start. */
async function otelImports(env: Record<string, string>): Promise<{ afterImport: number; afterStart: number }> {
  const { OTEL_SDK_DISABLED: _, ...inherited } = process.env;
  const { stdout } = await promisify(execFile)(process.execPath, [probe], { env: { ...inherited, ...env } });
  return JSON.parse(stdout) as { afterImport: number; afterStart: number };
}

describe("the OpenTelemetry SDK", () => {
  it("is not loaded by importing the runtime, only by starting a service", async () => {
    const loads = await otelImports({});
    expect(loads.afterImport).toBe(0);
    expect(loads.afterStart).toBeGreaterThan(0);
  });

  it("is never loaded with OTEL_SDK_DISABLED=true", async () => {
    expect(await otelImports({ OTEL_SDK_DISABLED: "true" })).toEqual({ afterImport: 0, afterStart: 0 });
  });
});
