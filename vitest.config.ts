import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/**/*.test.ts",
      "generator/**/*.test.ts",
      "bin/**/*.test.ts",
      "runtime/src/**/*.test.ts",
      "runtime/gateway/src/**/*.test.ts",
    ],
    // Most suites wait on real processes (servers, registries, npm) rather than the CPU, so two files run at
    // once even on two cores; vitest's default there would be one.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
