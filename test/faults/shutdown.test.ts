import { expect, it } from "vitest";
import { describePostgres } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

describePostgres("scenario 10: graceful shutdown under load", () => {
  it("SIGTERM: jobs that finish within the grace period complete, the rest return to pending without a burnt attempt", async () => {
    const graceMs = size(3_000, 20_000);
    const running = 40;
    const worker = await children.worker(db.schema, { CONCURRENCY: running, GRACE_MS: graceMs, LEASE_MS: 30_000, EVENTS: "interrupted" });
    // Half finish a second in; the other half would run for minutes (they honour their signal).
    const ids = await db.enqueueLedgerJobs(running, (i) => ({ sleepMs: i % 2 === 0 ? 1_000 : 600_000, sleepOn: worker.workerId }));
    const quick = ids.filter((_, i) => i % 2 === 0);
    const slow = ids.filter((_, i) => i % 2 === 1);
    await waitUntil(async () => ((await db.count("running")) === running ? true : undefined), "40 running jobs", 20_000, 20);
    const termAt = Date.now();
    worker.signal("SIGTERM");
    const exit = await worker.exited;
    const exitMs = Date.now() - termAt;
    expect(exit.code).toBe(0);

    const quickJobs = await db.jobs(quick);
    expect(quickJobs.every((job) => job.status === "completed" && job.attempt === 1)).toBe(true);
    const slowJobs = await db.jobs(slow);
    expect(slowJobs.map((job) => [job.status, job.attempt, job.worker_id])).toEqual(slow.map(() => ["pending", 0, null]));
    expect(worker.events.filter((e) => e.event === "interrupted")).toHaveLength(slow.length);

    // Nothing is lost: another worker runs the released jobs, each on its first attempt.
    await children.worker(db.schema, { CONCURRENCY: running });
    await db.waitForStatus("completed", running, 30_000);
    const facts = await db.ledgerFacts(ids);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, attempts: { 1: running } });
    report("10 graceful shutdown", { jobs: running, graceMs, exitMs, completedInGrace: quick.length, releasedUnburnt: slow.length, lost: facts.lost, duplicated: facts.duplicated });
  }, 90_000);
});

describePostgres("scenario 12: handlers that ignore their abort signal", () => {
  it("keep their resources reserved, are reported stuck, and the worker never exceeds its capacity", async () => {
    const jobs = size(6, 30);
    const attempts = 2;
    const worker = await children.worker(db.schema, {
      CONCURRENCY: 10, CAPACITY_CPU: 2, JOB_CPU: 1, TIMEOUT_MS: 400, STUCK_GRACE_MS: 300, HOLD: "ignore", HOLD_MS: 1_200,
      MAX_ATTEMPTS: attempts, LEASE_MS: 5_000, EVENTS: "started",
    });
    // The producer has no handler for the type, so the job options say what the handler would.
    const ids = await db.enqueueLedgerJobs(jobs, () => ({}), { resources: { cpu: 1 }, timeoutMs: 400, maxAttempts: attempts });
    await db.waitForStatus("failed", jobs, size(60_000, 180_000));
    // The last attempts failed at their timeout; their stuck reports follow a grace later.
    await waitUntil(() => (worker.events.filter((e) => e.event === "stuck").length >= jobs * attempts ? true : undefined), "a stuck report per attempt", 10_000);
    const stuck = worker.events.filter((e) => e.event === "stuck");
    const started = worker.events.filter((e) => e.event === "started");
    // Every attempt timed out, ignored its signal and was reported stuck.
    expect(started).toHaveLength(jobs * attempts);
    expect(stuck).toHaveLength(jobs * attempts);
    // The handlers still running after their timeout kept their cpu: never more than the capacity at once.
    const most = Math.max(...started.map((e) => e.inFlight as number));
    expect(most).toBeLessThanOrEqual(2);
    const failed = await db.jobs(ids);
    expect(failed.every((job) => job.status === "failed" && job.attempt === attempts && job.error?.code === "JOB_TIMEOUT")).toBe(true);
    // Their late returns were fenced: no effect was committed.
    const { sql, schema } = db;
    const [effects] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.ledger`;
    expect(effects?.n).toBe(0);
    report("12 ignored abort", { jobs, attempts: jobs * attempts, stuckEvents: stuck.length, capacity: 2, mostInFlight: most, committedEffects: effects?.n });
  }, size(90_000, 240_000));
});
