import { describe, expect, it } from "vitest";
import { protectionMiddleware, protectionSettingsFrom, mergeProtection } from "./protection-settings.js";

describe("protectionSettingsFrom", () => {
  it("reads flags over TSMICRO_* over MICRO_* variables", () => {
    const settings = protectionSettingsFrom(["--rate_limit=100", "--max_queue", "8", "serve"], {
      MICRO_RATE_LIMIT: "5",
      MICRO_RATE_LIMIT_BURST: "50",
      TSMICRO_RATE_LIMIT_BURST: "200",
      TSMICRO_MAX_CONCURRENT: "16",
      TSMICRO_LOAD_SHEDDING_CPU: "80%",
    });
    expect(settings).toEqual({
      rateLimit: { rate: 100, burst: 200 },
      bulkhead: { maxConcurrent: 16, maxQueue: 8 },
      loadShedder: { cpuThreshold: 0.8 },
    });
  });

  it("reads 0 and off as no limit, and load_shedding=off wins over a threshold", () => {
    expect(
      protectionSettingsFrom(
        ["--rate_limit=off", "--max_concurrent=0", "--load_shedding_delay=50ms", "--load_shedding=off"],
        {},
      ),
    ).toEqual({
      rateLimit: { rate: Infinity },
      bulkhead: { maxConcurrent: Infinity },
      loadShedder: { enabled: false, eventLoopDelayMs: 50 },
    });
  });

  it("names the flag or variable with a bad value", () => {
    expect(() => protectionSettingsFrom(["--rate_limit=fast"], {})).toThrow(/--rate_limit has an invalid value "fast"/);
    expect(() => protectionSettingsFrom([], { TSMICRO_MAX_CONCURRENT: "1.5" })).toThrow(/TSMICRO_MAX_CONCURRENT/);
    expect(() => protectionSettingsFrom(["--max_queue"], {})).toThrow(/--max_queue/);
    expect(() => protectionSettingsFrom(["--load_shedding_delay=100"], {})).toThrow(
      "expected a duration such as 500ms, 5s or 1m",
    );
  });
});

describe("protectionMiddleware", () => {
  it("makes only the middleware that limit something, rate limit first, keeping code's per-method entries under flags", () => {
    expect(protectionMiddleware({}).middleware).toHaveLength(0);
    expect(protectionMiddleware({ rateLimit: { rate: Infinity }, bulkhead: {} }).middleware).toHaveLength(0);
    const code = { rateLimit: { rate: 10, perMethod: { "/t.v1.Shop/Buy": { rate: 1 } } } };
    const merged = mergeProtection(code, protectionSettingsFrom(["--rate_limit=20", "--max_concurrent=4"], {}));
    expect(merged).toEqual({
      rateLimit: { rate: 20, perMethod: { "/t.v1.Shop/Buy": { rate: 1 } } },
      bulkhead: { maxConcurrent: 4 },
    });
    const protection = protectionMiddleware({ ...merged, loadShedder: { enabled: true } });
    expect(protection.middleware).toHaveLength(3);
    protection.stop();
    expect(protectionMiddleware({ loadShedder: { enabled: false } }).middleware).toHaveLength(0);
  });
});
