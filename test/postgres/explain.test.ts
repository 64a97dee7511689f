import { afterEach, expect, it } from "vitest";
import {
  explainClaimCandidates, explainClaimRunnable, explainExtendLeases, explainListJobRows, explainLiveKeyHolders, explainSettleAndUnblock,
} from "../../src/storage/postgres/sql/explain.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A schema holding `others` jobs in each status but completed, then 100,000 newer completed ones, analyzed. */
async function crowdedSchema(others: number) {
  const { schema, cleanup } = await newPostgresStorage({ listen: false });
  const sql = adminSql();
  cleanups.push(async () => {
    await sql.end();
    await cleanup();
  });
  for (const status of ["pending", "blocked", "failed", "cancelled"]) {
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
      select gen_random_uuid(), 't', ${status}, (i % 4)::smallint, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 minute'
      from generate_series(1, ${others}::int) as i`;
  }
  await sql`
    insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at, lease_expires_at, attempt)
    select gen_random_uuid(), 't', 'running', 2, '{}'::jsonb, 1, '{}'::jsonb, now(), now() + interval '1 minute', 1
    from generate_series(1, ${others}::int) as i`;
  // Newer than every other job: a walk down seq would pass all of them first.
  await sql`
    insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at, finished_at, attempt)
    select gen_random_uuid(), 't', 'completed', (i % 4)::smallint, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 hour', now(), 1
    from generate_series(1, 100000) as i`;
  await sql`analyze ${sql(schema)}.jobs`;
  return { schema, sql };
}

const planOf = (rows: { "QUERY PLAN": string }[]) => rows.map((row) => row["QUERY PLAN"]).join("\n");

/** The lines of a plan under its first `Update on jobs` node. */
function firstUpdateOf(plan: readonly string[]): string {
  const update = plan.findIndex((line) => /Update on jobs/.test(line));
  expect(update).toBeGreaterThan(-1);
  const depth = (line: string) => line.search(/\S/);
  const below = plan.slice(update + 1);
  const end = below.findIndex((line) => depth(line) <= depth(plan[update] ?? ""));
  return (end === -1 ? below : below.slice(0, end)).join("\n");
}

/** A migrated schema holding 20,000 finished jobs, analyzed: statistics that know of no live job. */
async function analyzedWithFinishedJobsOnly() {
  const { schema, cleanup } = await newPostgresStorage({ listen: false });
  const sql = adminSql();
  cleanups.push(async () => {
    await sql.end();
    await cleanup();
  });
  await sql`
    insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at, finished_at, attempt)
    select gen_random_uuid(), 't', 'completed', 2, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 hour', now(), 1
    from generate_series(1, 20000) as i`;
  await sql`analyze ${sql(schema)}.jobs`;
  return { schema, sql };
}

describePostgres("PostgresStorage query plans", () => {
  it("finds claim candidates through the partial index among 100,000 finished jobs", async () => {
    const { schema, sql } = await crowdedSchema(50);
    const plan = planOf(await explainClaimCandidates(sql, schema, ["t"], 20));
    expect(plan).toContain("jobs_claim_idx");
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it("leases claimed jobs through the primary key when statistics are stale", async () => {
    // 20,000 finished jobs analyzed, then a burst of 1,000 pending jobs that no analyze has seen: the
    // planner believes there is about one pending job. Joined to the chosen ones, the lease walked
    // every pending job for each chosen one (15 ms for a claim of 50 among 950 instead of 0.3 ms).
    const { schema, sql } = await analyzedWithFinishedJobsOnly();
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
      select gen_random_uuid(), 't', 'pending', 2, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 minute'
      from generate_series(1, 1000) as i`;
    const plan = (await explainClaimRunnable(sql, schema, { channel: "jobgraph_changes", sender: "" }, { types: ["t"], limit: 50, workerId: "w", leaseMs: 30_000, starvationMs: 300_000 }))
      .map((row) => row["QUERY PLAN"]);
    const subtree = firstUpdateOf(plan);
    expect(subtree).toContain("jobs_pkey");
    expect(subtree).not.toContain("jobs_claim_idx");
  });

  it("settles and extends leases through the primary key when statistics are stale", async () => {
    // 20,000 finished jobs analyzed while none ran, then 1,000 running ones: the planner believes
    // about one job runs. Through the partial index of running jobs, the settle walked all of them
    // and joined each to every lease of the batch (a settle of 50 in 2.2 ms instead of 0.7).
    const { schema, sql } = await analyzedWithFinishedJobsOnly();
    const leases = await sql<{ id: string; token: string }[]>`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at, attempt, lease_token, lease_expires_at)
      select gen_random_uuid(), 't', 'running', 2, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 minute', 1, gen_random_uuid(), now() + interval '1 minute'
      from generate_series(1, 1000) as i
      returning id::text as id, lease_token::text as token`;
    const batch = leases.slice(0, 50);
    const settlements = batch.map((lease, ord) => ({ ord, id: lease.id, token: lease.token, only_if_expired: false, kind: "completed" as const, result: null }));
    const settle = firstUpdateOf((await explainSettleAndUnblock(sql, schema, { channel: "jobgraph_changes", sender: "" }, settlements)).map((row) => row["QUERY PLAN"]));
    expect(settle).toContain("jobs_pkey");
    expect(settle).not.toContain("jobs_rescue_idx");
    const heartbeatPlan = (await explainExtendLeases(sql, schema, batch, 30_000)).map((row) => row["QUERY PLAN"]);
    const heartbeat = firstUpdateOf(heartbeatPlan);
    expect(heartbeat).toContain("jobs_pkey");
    // Its reads of the leased rows, before the update, go through the primary key too.
    expect(heartbeatPlan.join("\n")).not.toContain("jobs_rescue_idx");
    expect(heartbeatPlan.join("\n")).not.toMatch(/Seq Scan on jobs/);
  });

  it.each([
    ["failed", "jobs_failed_idx"],
    ["cancelled", "jobs_cancelled_idx"],
    ["blocked", "jobs_blocked_idx"],
  ])("lists %s jobs among 100,000 completed ones through %s", async (status, index) => {
    const { schema, sql } = await crowdedSchema(50);
    const filter = { statuses: [status], types: [], beforeSeq: null, limit: 20, maxBytes: 1_000_000 };
    const plan = planOf(await explainListJobRows(sql, schema, filter));
    expect(plan).toContain(index);
    expect(plan).not.toMatch(/Seq Scan/);
    const paged = planOf(await explainListJobRows(sql, schema, { ...filter, statuses: [status, "failed"], beforeSeq: "1000" }));
    expect(paged).toContain(index);
    expect(paged).not.toMatch(/Seq Scan/);
  });

  it("finds the live holders of idempotency keys through the partial idempotency index", async () => {
    const { schema, sql } = await crowdedSchema(50);
    const plan = planOf(await explainLiveKeyHolders(sql, schema, ["a", "b"]));
    expect(plan).toContain("jobs_idempotency_idx");
    expect(plan).not.toMatch(/Seq Scan on jobs/);
  });

  it("lists running jobs among 100,000 completed ones without walking past them", async () => {
    const { schema, sql } = await crowdedSchema(50);
    const plan = planOf(await explainListJobRows(sql, schema, { statuses: ["running"], types: [], beforeSeq: null, limit: 20, maxBytes: 1_000_000 }));
    expect(plan).toContain("jobs_rescue_idx");
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
