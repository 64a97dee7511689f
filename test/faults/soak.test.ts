import { expect, it } from "vitest";
import { describePostgres } from "../support/postgres.js";
import { report } from "./harness.js";
import { runSoak } from "./soak.js";

// The short form of scenario 13 (the full one is `npm run soak`, ten minutes): the worker keeps up,
// and with finished jobs deleted after `keepSeconds`, the tables stay bounded.
describePostgres("scenario 13 (short form): a steady stream through one worker", () => {
  it("keeps up, and the tables stay bounded once finished jobs are deleted", async () => {
    const result = await runSoak({ seconds: 25, rate: 50, keepSeconds: 5 });
    expect(result.backlogAtEnd).toBeLessThan(200);
    expect(result.pruned).toBeGreaterThan(0);
    // Bounded: what is left is about keepSeconds + one prune interval of jobs, not the whole run.
    expect(result.tables.end.jobs?.rows ?? Infinity).toBeLessThan(result.enqueued);
    report("13 soak (short)", { ...result, tables: undefined, jobsRowsEnd: result.tables.end.jobs?.rows, logRowsEnd: result.tables.end.job_logs?.rows });
  }, 90_000);
});
