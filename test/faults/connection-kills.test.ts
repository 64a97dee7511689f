import { expect, it } from "vitest";
import { describePostgres } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

describePostgres("scenario 15: a busy worker's sessions killed again and again", () => {
  it("stores every outcome once the kills stop, runs fresh jobs, and shuts down", async () => {
    const leaseMs = 3_000;
    const killForMs = size(8_000, 15_000);
    const wave = size(2_000, 6_000);
    const worker = await children.worker(db.schema, {
      CONCURRENCY: 40, LEASE_MS: leaseMs, RESCUE_MS: 500, POOL_MAX: 6, MAX_ATTEMPTS: 50, BACKOFF_MS: 10, GRACE_MS: 2_000, EVENTS: "error",
    });
    const first = await db.enqueueLedgerJobs(wave, (i) => ({ sleepMs: 2 + (i % 20) }));
    await waitUntil(async () => ((await db.count("completed")) >= 50 ? true : undefined), "the worker to be busy", 30_000, 20);

    // Terminate the worker's own sessions (its pool and its listener, found by application_name)
    // every 40-160 ms, for a bounded time and count.
    let kills = 0;
    let terminated = 0;
    const until = Date.now() + killForMs;
    for (let round = 0; round < 1_000 && Date.now() < until; round++) {
      terminated += await db.terminateBackends("all");
      kills++;
      await new Promise((resolve) => setTimeout(resolve, 40 + Math.floor(Math.random() * 120)));
    }
    expect(worker.alive).toBe(true);

    // Left alone: no job stays running (an expired lease is rescued), and every job ends completed, once.
    await db.waitForStatus("completed", wave, 90_000);
    expect(await db.count("running")).toBe(0);
    const facts = await db.ledgerFacts(first);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0 });

    // Fresh jobs start and complete on the same worker.
    const fresh = await db.enqueueLedgerJobs(100);
    await db.waitForStatus("completed", wave + 100, 30_000);
    const freshFacts = await db.ledgerFacts(fresh);
    expect(freshFacts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0 });
    const { sql, schema } = db;
    const [mine] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.ledger where worker = ${worker.workerId} and job_id = any(${fresh}::uuid[])`;
    expect(mine?.n).toBe(100);

    // shutdown() returns: the worker exits on SIGTERM, well within 10 s.
    const termAt = Date.now();
    worker.signal("SIGTERM");
    const exit = await Promise.race([worker.exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 10_000))]);
    const exitMs = Date.now() - termAt;
    expect(exit).toEqual({ code: 0, signal: null });
    report("15 killed sessions", { jobs: wave + 100, killForMs, kills, terminated, attempts: facts.attempts, exitMs, errors: worker.events.filter((e) => e.event === "error").length });
  }, size(180_000, 300_000));
});
