import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Restarting PostgreSQL or killing connections would break the tests running beside them:
    // those run afterwards, on their own (vitest.serial.config.ts).
    exclude: ["**/node_modules/**", "test/faults/**/*.serial.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The adapters' dashboard tests serve dist/dashboard: built here when missing.
    globalSetup: ["test/dashboard/global-setup.ts"],
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
  },
});
