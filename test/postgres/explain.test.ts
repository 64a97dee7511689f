import { afterEach, expect, it } from "vitest";
import { explainClaimCandidates } from "../../src/storage/postgres/queries.js";
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
});
