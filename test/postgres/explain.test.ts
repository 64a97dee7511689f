import { afterEach, expect, it } from "vitest";
import { explainClaimCandidates, explainClaimRunnable } from "../../src/storage/postgres/queries.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describePostgres("PostgresStorage query plans", () => {
  it("finds claim candidates through the partial index among 100,000 finished jobs", async () => {
    const { schema, cleanup } = await newPostgresStorage({ listen: false });
    const sql = adminSql();
    cleanups.push(async () => {
      await sql.end();
      await cleanup();
    });
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at, finished_at, attempt)
      select gen_random_uuid(), 't', 'completed', (i % 4)::smallint, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 hour', now(), 1
      from generate_series(1, 100000) as i`;
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
      select gen_random_uuid(), 't', 'pending', (i % 4)::smallint, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 minute'
      from generate_series(1, 50) as i`;
    await sql`analyze ${sql(schema)}.jobs`;
    const plan = (await explainClaimCandidates(sql, schema, ["t"], 20)).map((row) => row["QUERY PLAN"]).join("\n");
    expect(plan).toContain("jobs_claim_idx");
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it("leases claimed jobs through the primary key when statistics are stale", async () => {
    // 20,000 finished jobs analyzed, then a burst of 1,000 pending jobs that no analyze has seen: the
    // planner believes there is about one pending job. Joined to the chosen ones, the lease walked
    // every pending job for each chosen one (15 ms for a claim of 50 among 950 instead of 0.3 ms).
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
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
      select gen_random_uuid(), 't', 'pending', 2, '{}'::jsonb, 1, '{}'::jsonb, now() - interval '1 minute'
      from generate_series(1, 1000) as i`;
    const plan = (await explainClaimRunnable(sql, schema, "jobgraph_changes", { types: ["t"], limit: 50, workerId: "w", leaseMs: 30_000, starvationMs: 300_000 }))
      .map((row) => row["QUERY PLAN"]);
    const update = plan.findIndex((line) => /Update on jobs/.test(line));
    expect(update).toBeGreaterThan(-1);
    const depth = (line: string) => line.search(/\S/);
    const below = plan.slice(update + 1);
    const end = below.findIndex((line) => depth(line) <= depth(plan[update] ?? ""));
    const subtree = (end === -1 ? below : below.slice(0, end)).join("\n");
    expect(subtree).toContain("jobs_pkey");
    expect(subtree).not.toContain("jobs_claim_idx");
  });
});
