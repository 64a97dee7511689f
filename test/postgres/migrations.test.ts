import { afterEach, expect, it } from "vitest";
import { LATEST_VERSION, MIGRATIONS, PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, newPostgresStorage } from "../support/postgres.js";
import { claimAny, newJob } from "./fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const indexesOf = async (schema: string) => {
  const sql = adminSql();
  try {
    const rows = await sql<{ name: string }[]>`select indexname as name from pg_indexes where schemaname = ${schema} and tablename = 'jobs'`;
    return rows.map((row) => row.name).sort();
  } finally {
    await sql.end();
  }
};

describePostgres("PostgresStorage migrations", () => {
  it("upgrades a version 2 schema that holds jobs: the created_at index goes, the jobs stay", async () => {
    const { storage, schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    const job = newJob();
    await storage.insertJobs({ jobs: [job], onDuplicate: "reject", now: new Date() });
    // The schema as version 2 left it: migration 3 not recorded, its index still there (later ones stay applied).
    const sql = adminSql();
    try {
      await sql`create index jobs_created_at_idx on ${sql(schema)}.jobs (created_at)`;
      await sql`delete from ${sql(schema)}.migrations where version = 3`;
    } finally {
      await sql.end();
    }
    expect(await indexesOf(schema)).toContain("jobs_created_at_idx");

    const upgraded = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, listen: false });
    cleanups.push(() => upgraded.close());
    await upgraded.setup();

    expect(LATEST_VERSION).toBe(MIGRATIONS.length);
    expect(MIGRATIONS[2]?.name).toBe("drop created_at index");
    expect(await indexesOf(schema)).not.toContain("jobs_created_at_idx");
    const check = adminSql();
    try {
      const versions = await check<{ version: number }[]>`select version from ${check(schema)}.migrations order by version`;
      expect(versions.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
    } finally {
      await check.end();
    }
    const { claimed } = await claimAny(upgraded);
    expect(claimed.map((c) => c.job.id)).toEqual([job.id]);
    const page = await upgraded.listJobs({ limit: 10 });
    expect(page.jobs.map((j) => j.status)).toEqual(["running"]);
  });

  it("sets up a new schema without the created_at index, keeping the ones the queries use", async () => {
    const { schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    expect(await indexesOf(schema)).toEqual([
      "jobs_claim_idx", "jobs_finished_idx", "jobs_idempotency_idx", "jobs_pkey", "jobs_rescue_idx", "jobs_seq_idx", "jobs_status_idx", "jobs_type_idx",
    ]);
  });
});
