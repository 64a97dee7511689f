import { expect, it } from "vitest";
import { Queue } from "../../src/queue.js";
import { MIGRATIONS, PostgresStorage } from "../../src/storage/postgres/index.js";
import { databaseUrl, describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";
import { children, startWorker, stopWorker, useWorkerSchema } from "./support/worker-processes.js";

const env = useWorkerSchema();

const SECOND = 1_000;

describePostgres("schedules on PostgreSQL", () => {
  it("4 worker processes and an every-second schedule for 20 s: exactly one job per tick, none missing", async () => {
    const { schema, sql, producer } = env;
    await Promise.all(Array.from({ length: 4 }, () => startWorker(schema, { CONCURRENCY: "4" })));
    // Made by a queue that never starts: the workers fire it, from the table.
    const made = await producer.schedule("every-second", { cron: "* * * * * *", type: "ledger.write", payload: { from: "schedule" } });
    const first = made.nextRunAt!.getTime();
    const last = first + 20 * SECOND;
    await eventually(
      async () => {
        const [row] = await sql<{ last_run_at: Date | null }[]>`select last_run_at from ${sql(schema)}.schedules where name = 'every-second'`;
        return row?.last_run_at !== null && row!.last_run_at.getTime() >= last ? true : undefined;
      },
      "20 seconds of ticks",
      60_000,
    );
    // Stopped, the workers fire nothing more: the table and the jobs hold still for the checks.
    await Promise.all([...children].map(stopWorker));
    const [schedule] = await sql<{ last_run_at: Date }[]>`select last_run_at from ${sql(schema)}.schedules where name = 'every-second'`;
    const jobs = await sql<{ key: string; n: number }[]>`
      select idempotency_key as key, count(*)::int as n from ${sql(schema)}.jobs group by idempotency_key order by idempotency_key`;
    const fired = jobs.map((row) => Date.parse(row.key.slice("schedule:every-second:".length)));
    // The jobs complete as they come (the workers handle ledger.write), so a tick fired twice would show as two jobs of its key.
    expect(jobs.filter((row) => row.n !== 1)).toEqual([]);
    // Every second from the first tick to the last run, with no gap.
    const ticks = (schedule!.last_run_at.getTime() - first) / SECOND + 1;
    expect(ticks).toBeGreaterThanOrEqual(21);
    expect(fired).toEqual(Array.from({ length: ticks }, (_, i) => first + i * SECOND));
  }, 120_000);

  it("fires each tick once with many queues of one process racing on the table", async () => {
    const { schema, sql, producer } = env;
    const storages = await Promise.all(Array.from({ length: 4 }, () => new PostgresStorage({ connectionString: databaseUrl, schema, max: 2, listen: false })));
    const queues = storages.map((storage) => new Queue({ storage, pollIntervalMs: 50, logger: false }));
    try {
      await Promise.all(queues.map((queue) => queue.start()));
      const made = await producer.schedule("race", { cron: "* * * * * *", type: "no.handler" });
      const first = made.nextRunAt!.getTime();
      const lastRun = async () => (await sql<{ last_run_at: Date | null }[]>`
        select last_run_at from ${sql(schema)}.schedules where name = 'race'`)[0];
      await eventually(async () => ((await lastRun())?.last_run_at?.getTime() ?? 0) >= first + 3 * SECOND || undefined, "4 ticks", 30_000);
      await Promise.all(queues.map((queue) => queue.shutdown()));
      const row = await lastRun();
      const jobs = await sql<{ key: string }[]>`select idempotency_key as key from ${sql(schema)}.jobs order by idempotency_key`;
      const ticks = (row!.last_run_at!.getTime() - first) / SECOND + 1;
      // Revisions come from a sequence that a lost fire may use up a value of too, so they count
      // nothing; the jobs do: one per tick.
      expect(jobs).toHaveLength(ticks);
    } finally {
      await Promise.all(queues.map((queue) => queue.shutdown()));
      await Promise.all(storages.map((storage) => storage.close()));
    }
  }, 60_000);

  it("upgrades a schema from before schedules: the migration adds the table", async () => {
    const { sql } = env;
    const { storage, schema: own, cleanup } = await newPostgresStorage({ listen: false });
    try {
      const migration = MIGRATIONS.find((m) => m.name === "schedules");
      expect(migration).toBeDefined();
      await sql`drop table ${sql(own)}.schedules`;
      // The table's revision sequence (migration 6) went with it: every migration from 5 on runs again.
      await sql`delete from ${sql(own)}.migrations where version >= ${migration!.version}`;
      await expect(storage.listSchedules()).rejects.toThrow();
      await storage.setup();
      expect(await storage.listSchedules()).toEqual([]);
      const stored = await storage.putSchedule({
        name: "after", cron: "* * * * *", timezone: undefined, type: "t", payload: null, options: {}, misfire: "run-once", nextRunAt: new Date(),
      });
      expect(await storage.listSchedules()).toEqual([stored]);
      const [applied] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(own)}.migrations`;
      expect(applied!.n).toBe(MIGRATIONS.length);
    } finally {
      await cleanup();
    }
  });
});
