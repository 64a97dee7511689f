import { expect, it } from "vitest";
import { describePostgres } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

describePostgres("scenario 3: the rescuer races a completing worker", () => {
  it("a job whose lease expires as its handler finishes ends completed exactly once, never overwritten by the rescue", async () => {
    const leaseMs = 1_000;
    const jobs = size(200, 2_000);
    // No heartbeats: every lease expires 1 s after its claim, while handlers finish between 0.6 and
    // 1.4 s after it; both workers look for expired leases every 10 ms.
    const config = { CONCURRENCY: 100, LEASE_MS: leaseMs, HEARTBEAT_MS: 600_000, RESCUE_MS: 10, POOL_MAX: 6, SLEEP_IGNORES_SIGNAL: 1 as const };
    await Promise.all([children.worker(db.schema, config), children.worker(db.schema, config)]);
    const ids: string[] = [];
    for (let wave = 0; wave < jobs / 200; wave++) {
      ids.push(...(await db.enqueueLedgerJobs(200, (i) => ({ sleepMs: 600 + ((i * 37) % 800), firstAttemptOnly: true }))));
      await db.waitForStatus("completed", ids.length, 60_000);
    }
    const facts = await db.ledgerFacts(ids);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: jobs });
    // Both sides of the race happened: completions that beat the rescue, and rescues that beat them.
    const wonByWorker = facts.attempts[1] ?? 0;
    const wonByRescue = jobs - wonByWorker;
    expect(wonByWorker).toBeGreaterThan(0);
    expect(wonByRescue).toBeGreaterThan(0);
    const { sql, schema } = db;
    // A rescued attempt shows its lease expiry; a completed one shows nothing after its completion.
    const [late] = await sql<{ n: number }[]>`
      select count(*)::int as n from ${sql(schema)}.jobs j cross join lateral jsonb_array_elements(j.attempts) with ordinality a(entry, i)
      where a.entry->>'outcome' = 'completed'
        and (a.i < jsonb_array_length(j.attempts)
          or exists (select 1 from jsonb_array_elements(j.transitions) t where (t->>'at')::timestamptz >= (a.entry->>'finishedAt')::timestamptz))`;
    expect(late?.n).toBe(0);
    report("3 rescue race", { jobs, leaseMs, wonByWorker, wonByRescue, attempts: facts.attempts, lost: facts.lost, duplicated: facts.duplicated });
  }, 120_000);
});
