import { afterEach, expect, it } from "vitest";
import { LATEST_VERSION, MIGRATIONS, PostgresStorage } from "../../src/storage/postgres/index.js";
import { adminSql, databaseUrl, describePostgres, dropSchema, freshSchemaName, newPostgresStorage } from "../support/postgres.js";
import { claimAny } from "./fixtures.js";
import { insertV3Jobs, schemaAtVersion } from "./schema-v3.js";

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

/** A schema as the code of `version` left it, with an admin pool, both cleaned up after the test. */
async function oldSchema(version: number) {
  const schema = freshSchemaName();
  const sql = adminSql();
  cleanups.push(async () => {
    await sql.end();
    await dropSchema(schema);
  });
  await schemaAtVersion(sql, schema, version);
  return { schema, sql };
}

function upgradedStorage(schema: string): PostgresStorage {
  const storage = new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, listen: false });
  cleanups.unshift(() => storage.close());
  return storage;
}

describePostgres("PostgresStorage migrations", () => {
  it("upgrades a version 2 schema: the created_at index goes, and the later migrations follow", async () => {
    const { schema, sql } = await oldSchema(2);
    expect(await indexesOf(schema)).toContain("jobs_created_at_idx");
    await upgradedStorage(schema).setup();
    expect(await indexesOf(schema)).not.toContain("jobs_created_at_idx");
    const versions = await sql<{ version: number }[]>`select version from ${sql(schema)}.migrations order by version`;
    expect(versions.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
    expect(LATEST_VERSION).toBe(MIGRATIONS.length);
    expect(MIGRATIONS[3]?.name).toBe("history in the job row");
  });

  it("upgrades a version 3 schema holding jobs in every status: the same history, read from the row, and no status rows left", async () => {
    const { schema, sql } = await oldSchema(3);
    const ids = await insertV3Jobs(sql, schema);
    const id = (name: string) => ids.get(name)!;
    // What version 3 returned as each job's logs, less `seq` (a position now).
    const before = new Map<string, unknown[]>();
    for (const [name, jobId] of ids) {
      const rows = await sql<{ at: Date; attempt: number; kind: string; level: string | null; message: string; data: unknown }[]>`
        select at, attempt, kind, level, message, data from ${sql(schema)}.job_logs where job_id = ${jobId} order by seq`;
      before.set(name, rows.map((row) => ({
        at: row.at, attempt: row.attempt, kind: row.kind, message: row.message,
        ...(row.level === null ? {} : { level: row.level }), ...(row.data === null ? {} : { data: row.data }),
      })));
    }

    const storage = upgradedStorage(schema);
    await storage.setup();

    for (const [name, jobId] of ids) {
      const logs = await storage.listLogs(jobId);
      expect(logs.map(({ seq: _seq, ...entry }) => entry), name).toEqual(before.get(name));
      expect(logs.map((entry) => entry.seq)).toEqual(logs.map((_, i) => i + 1));
    }
    const [statusRows] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.job_logs where kind = 'status'`;
    expect(statusRows?.n).toBe(0);

    const retried = await storage.getJob(id("retried then completed"));
    expect(retried?.attempts).toEqual([
      { attempt: 1, startedAt: expect.any(Date), finishedAt: expect.any(Date), outcome: "retry", error: { name: "Error", message: "boom" } },
      { attempt: 2, startedAt: expect.any(Date), finishedAt: expect.any(Date), outcome: "completed" },
    ]);
    expect((await storage.getJob(id("interrupted")))?.attempts.map((a) => a.outcome)).toEqual(["interrupted"]);
    expect((await storage.getJob(id("cancelled while running")))?.attempts.map((a) => [a.outcome, a.error?.message])).toEqual([["cancelled", "cancelled"]]);
    expect((await storage.getJob(id("running")))?.attempts).toEqual([{ attempt: 1, startedAt: expect.any(Date) }]);
    expect((await storage.getJob(id("cascaded")))?.attempts).toEqual([]);

    // The upgraded jobs run on: claimed and settled with their history in the row, and no log row written.
    const { claimed } = await claimAny(storage);
    expect(claimed.map((c) => c.job.id).sort()).toEqual([id("pending"), id("interrupted"), id("failed then retried"), id("unblocked")].sort());
    const [linesBefore] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.job_logs`;
    const settled = await storage.settle(claimed.map(({ lease }) => ({ lease, outcome: { type: "completed", result: null } })), new Date());
    expect(settled.every((result) => result.type === "settled")).toBe(true);
    const [linesAfter] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.job_logs`;
    expect(linesAfter?.n).toBe(linesBefore?.n);
    expect((await storage.getJob(id("interrupted")))?.attempts.map((a) => [a.attempt, a.outcome, a.workerId])).toEqual([
      [1, "interrupted", undefined],
      [1, "completed", "w"],
    ]);
    const unblocked = await storage.listLogs(id("blocked"));
    expect(unblocked.map((entry) => [entry.message, entry.data])).toEqual([
      ["blocked", { from: null }],
      ["pending", { from: "blocked" }],
    ]);
  });

  it("upgrades a version 5 schema: schedules keep their revisions, and every later one is past them all, also after a delete", async () => {
    const { schema, sql } = await oldSchema(5);
    const row = (name: string, revision: number) => sql`
      insert into ${sql(schema)}.schedules (name, cron, type, payload, options, misfire, next_run_at, revision)
      values (${name}, '* * * * *', 't', '{}', '{}', 'run-once', now(), ${revision})`;
    await row("busy", 7);
    await row("quiet", 3);
    const storage = upgradedStorage(schema);
    await storage.setup();
    const [busy, quiet] = await storage.listSchedules();
    expect([busy?.revision, quiet?.revision]).toEqual([7, 3]);
    const fired = await storage.fireSchedule({ name: "quiet", revision: 3, nextRunAt: undefined, tick: undefined, job: undefined, now: new Date() });
    expect(fired).toMatchObject({ type: "fired", schedule: { revision: 8 } });
    await storage.deleteSchedule("busy");
    const created = await storage.putSchedule({ ...busy!, nextRunAt: new Date() });
    expect(created.revision).toBe(9);
    expect(await storage.fireSchedule({ name: "busy", revision: 7, nextRunAt: undefined, tick: undefined, job: undefined, now: new Date() })).toEqual({ type: "lost" });
  });

  it("sets up a new schema with the indexes the queries use and no other", async () => {
    const { schema, cleanup } = await newPostgresStorage({ listen: false });
    cleanups.push(cleanup);
    expect(await indexesOf(schema)).toEqual([
      "jobs_blocked_idx", "jobs_cancelled_idx", "jobs_claim_idx", "jobs_failed_idx", "jobs_finished_idx", "jobs_idempotency_idx", "jobs_pkey",
      "jobs_rescue_idx", "jobs_seq_idx",
    ]);
  });
});
