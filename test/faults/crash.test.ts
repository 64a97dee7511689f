import { expect, it } from "vitest";
import { describePostgres } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

describePostgres("scenario 1: a worker holding running jobs is SIGKILLed", () => {
  it("another worker completes every job within lease + 10 s, one attempt more each, each effect exactly once", async () => {
    const leaseMs = size(2_000, 10_000);
    const held = 50;
    const doomed = await children.worker(db.schema, { HOLD: "abort", CONCURRENCY: held, LEASE_MS: leaseMs });
    const ids = await db.enqueueLedgerJobs(held);
    await waitUntil(
      async () => {
        const jobs = await db.jobs(ids);
        return jobs.every((job) => job.status === "running" && job.worker_id === doomed.workerId && job.attempt === 1) ? true : undefined;
      },
      "the doomed worker to hold every job",
      30_000,
    );
    const survivor = await children.worker(db.schema, { CONCURRENCY: held, LEASE_MS: leaseMs });

    const killedAt = Date.now();
    await children.kill(doomed);
    const recoveryMs = await db.waitForStatus("completed", held, leaseMs + 10_000);

    const facts = await db.ledgerFacts(ids);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: held, attempts: { 2: held } });
    const { sql, schema } = db;
    const workers = await sql<{ worker: string }[]>`select distinct worker from ${sql(schema)}.ledger`;
    expect(workers.map((w) => w.worker)).toEqual([survivor.workerId]);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(leaseMs + 10_000);
    report("1 sigkill", { jobs: held, faults: "1 SIGKILL", leaseMs, recoveryMs, lost: facts.lost, duplicated: facts.duplicated });
  }, 90_000);
});

describePostgres("scenario 11: a poison job crashes its process on every attempt", () => {
  it("ends failed after maxAttempts, while the other jobs keep flowing on restarted workers", async () => {
    const leaseMs = size(1_500, 10_000);
    const maxAttempts = 3;
    const normal = size(300, 5_000);
    const config = { CONCURRENCY: 10, LEASE_MS: leaseMs, MAX_ATTEMPTS: maxAttempts, TRACK: 1 as const };
    const slots = [await children.worker(db.schema, config), await children.worker(db.schema, config)];
    const [poison] = await db.producer.enqueueMany([{ key: "poison", type: "fault.poison", maxAttempts }]);
    const ids = await db.enqueueLedgerJobs(normal, () => ({ sleepMs: 20 }));

    // A supervisor, as in production: a worker that died is replaced (a bounded number of times).
    let restarts = 0;
    const started = Date.now();
    await waitUntil(
      async () => {
        for (const [i, child] of slots.entries()) {
          if (child.alive) continue;
          if (++restarts > maxAttempts + 3) throw new Error(`more restarts than the poison job has attempts: ${restarts}`);
          slots[i] = await children.worker(db.schema, config);
        }
        const [job] = await db.jobs([poison!.id]);
        return job?.status === "failed" && (await db.count("completed")) === normal ? true : undefined;
      },
      "the poison job to fail and every other job to complete",
      size(90_000, 300_000),
      100,
    );
    const [job] = await db.jobs([poison!.id]);
    expect(job).toMatchObject({ status: "failed", attempt: maxAttempts, error: { code: "LEASE_EXPIRED" } });
    const { sql, schema } = db;
    const [runs] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.executions where job_id = ${poison!.id}`;
    expect(runs?.n).toBe(maxAttempts);
    expect(restarts).toBe(maxAttempts);
    const facts = await db.ledgerFacts(ids);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: normal });
    report("11 poison", { jobs: normal + 1, faults: `${restarts} crashes`, leaseMs, totalMs: Date.now() - started, poisonAttempts: job?.attempt, lost: facts.lost, duplicated: facts.duplicated, attempts: facts.attempts });
  }, size(180_000, 600_000));
});
