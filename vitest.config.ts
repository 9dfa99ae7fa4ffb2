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
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
