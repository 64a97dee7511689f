import { defineConfig } from "vitest/config";

// Fault scenarios that restart PostgreSQL or kill connections: run after the main pass, one file at
// a time, so no other test shares the server with them.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.serial.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default", ["json", { outputFile: "test-results/vitest-serial.json" }]],
  },
});
