import { defineConfig } from "vitest/config";

// `npm run faults [-- --full]`: every fault scenario, one file at a time (the restart and
// connection-killing ones included), at full size when FAULTS_FULL=1.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default", ["json", { outputFile: "test-results/faults.json" }]],
  },
});
