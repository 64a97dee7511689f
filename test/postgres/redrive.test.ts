import { afterEach, beforeEach, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { NewJob } from "../../src/types.js";
import { attemptError, claimRequest, newJob } from "../storage/builders.js";
import { databaseUrl, describePostgres } from "../support/postgres.js";
import { PostgresQueues } from "./support/queues.js";

let pg: PostgresQueues;
let store: PostgresStorage;
beforeEach(async () => {
  pg = new PostgresQueues();
  await (await pg.producer()).migrate();
  store = new PostgresStorage({ connectionString: databaseUrl, schema: pg.schema, max: 2, listen: false });
});
afterEach(async () => {
  await store.close();
  await pg.cleanup();
});

/** Inserts the jobs and fails those of `type`, as a worker of another process would. */
async function insertAndFail(jobs: readonly NewJob[], type: string): Promise<void> {
  await store.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
  const { claimed } = await store.claimJobs(claimRequest([type], { limit: jobs.length }));
  await store.settle(claimed.map(({ lease }) => ({ lease, outcome: { type: "failed", error: attemptError() } })), new Date());
}

describePostgres("retryMany on PostgresStorage across stores", () => {
  it("two redrives at once from different stores retry each failed job exactly once", async () => {
    const jobs = Array.from({ length: 300 }, () => newJob({ type: "redrive.many" }));
    await insertAndFail(jobs, "redrive.many");
    const [a, b] = [await pg.producer(), await pg.producer()];
    const counts = await Promise.all([a.retryMany({ type: "redrive.many" }), b.retryMany({ type: "redrive.many" })]);
    expect(counts[0]! + counts[1]!).toBe(300);
    const statuses = (await store.getJobs(jobs.map((job) => job.id))).map((job) => job.status);
    expect(statuses).toEqual(Array(300).fill("pending"));
  });

  it("three redrives of a failed root and its 100 cancelled dependents at once: the root once, every dependent back, no deadlock", async () => {
    const root = newJob({ type: "redrive.root" });
    const dependents: NewJob[] = [];
    for (let i = 0; i < 100; i++) dependents.push(newJob({ type: "redrive.dep", dependsOn: [i % 2 === 0 ? root.id : (dependents[i - 1] ?? root).id] }));
    await insertAndFail([root, ...dependents], "redrive.root");
    const [a, b] = [await pg.producer(), await pg.producer()];
    // Of everything, of the dependents only (each refused while the root is failed), and of the root only.
    const counts = await Promise.all([a.retryMany({ status: ["failed", "cancelled"] }), b.retryMany({ status: "cancelled" }), a.retryMany({ status: "failed" })]);
    expect(counts.reduce((sum, n) => sum + n, 0)).toBe(1);
    expect((await store.getJob(root.id))?.status).toBe("pending");
    expect(new Set((await store.getJobs(dependents.map((job) => job.id))).map((job) => job.status))).toEqual(new Set(["blocked"]));
  });
});
