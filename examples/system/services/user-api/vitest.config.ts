import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A project whose proto declares no service yet has nothing to test.
    passWithNoTests: true,
    // The embedded database takes a few seconds to start on a busy machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
