import type postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { explainFinishedJobIds } from "../../src/storage/postgres/sql/finished.js";
import { explainWalkGraph } from "../../src/storage/postgres/sql/graph.js";
import { adminSql, describePostgres, newPostgresStorage } from "../support/postgres.js";

describePostgres("PostgresStorage query plans: redrive and graph walks", () => {
  let store: Awaited<ReturnType<typeof newPostgresStorage>>;
  let sql: postgres.Sql;
  beforeAll(async () => {
    store = await newPostgresStorage({ listen: false });
    sql = adminSql();
  });
  afterAll(async () => {
    await sql.end();
    await store.cleanup();
  });

  it("pages a redrive along the failed and cancelled partial indexes, and walks a graph through the edge indexes, among 100,000 jobs", async () => {
    const { schema } = store;
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at, finished_at, attempt)
      select gen_random_uuid(), 't', case when i % 1000 = 0 then 'failed' else 'completed' end, 2, '{}'::jsonb, 1, '{}'::jsonb, now(), now(), 1
      from generate_series(1, 100000) as i`;
    // A chain through the first 60,000 jobs: each depends on the one before.
    await sql`
      insert into ${sql(schema)}.job_dependencies (job_id, depends_on_id, position)
      select j.id, p.id, 0 from ${sql(schema)}.jobs j join ${sql(schema)}.jobs p on p.seq = j.seq - 1 where j.seq <= 60000`;
    await sql`analyze ${sql(schema)}.jobs`;
    await sql`analyze ${sql(schema)}.job_dependencies`;
    const text = (rows: readonly { "QUERY PLAN": string }[]) => rows.map((row) => row["QUERY PLAN"]).join("\n");

    const filter = { statuses: ["failed", "cancelled"], types: ["t"], finishedAfter: new Date(0), finishedBefore: null, afterSeq: "10", limit: 100 };
    const redrive = text(await explainFinishedJobIds(sql, schema, filter));
    expect(redrive).toContain("jobs_failed_idx");
    expect(redrive).toContain("jobs_cancelled_idx");
    expect(redrive).not.toMatch(/Seq Scan/);

    const [middle] = await sql<{ id: string }[]>`select id::text as id from ${sql(schema)}.jobs where seq = 30000`;
    const down = text(await explainWalkGraph(sql, schema, middle!.id, "dependents", 1_000));
    expect(down).toContain("job_dependencies_depends_on_idx");
    const up = text(await explainWalkGraph(sql, schema, middle!.id, "dependencies", 1_000));
    expect(up).toContain("job_dependencies_pkey");
    for (const plan of [down, up]) expect(plan).not.toMatch(/Seq Scan/);
  });
});
