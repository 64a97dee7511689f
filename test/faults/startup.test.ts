import { expect, it } from "vitest";
import { LATEST_VERSION, MIGRATIONS } from "../../src/storage/postgres/index.js";
import { describePostgres, freshSchemaName } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

describePostgres("scenario 8: processes calling start() at once on an empty database", () => {
  it("apply every migration exactly once, and all of them start", async () => {
    const processes = size(20, 20);
    // A schema nobody created yet: the first start() creates it.
    const schema = freshSchemaName();
    const starters = Array.from({ length: processes }, () => children.spawn(schema, { FAULT_MODE: "start", LISTEN: 0, POOL_MAX: 1 }));
    try {
      await Promise.all(starters.map((child) => child.waitForEvent("waiting", 60_000)));
      const started = Date.now();
      for (const child of starters) child.send("go");
      await waitUntil(() => (starters.every((child) => child.has("started") || child.has("start-failed")) ? true : undefined), "every process to start", 60_000);
      const elapsedMs = Date.now() - started;
      const failures = starters.flatMap((child) => child.events.filter((e) => e.event === "start-failed"));
      expect(failures).toEqual([]);
      const { sql } = db;
      const applied = await sql<{ version: number; name: string }[]>`select version, name from ${sql(schema)}.migrations order by version`;
      expect(applied).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
      expect(applied).toHaveLength(LATEST_VERSION);
      const tables = await sql<{ name: string }[]>`select tablename as name from pg_tables where schemaname = ${schema} order by tablename`;
      expect(tables.map((t) => t.name)).toEqual(["job_dependencies", "job_logs", "jobs", "migrations", "schedules"]);
      await Promise.all(starters.map((child) => child.exited));
      expect(starters.map((child) => child.process.exitCode)).toEqual(starters.map(() => 0));
      report("8 concurrent start", { processes, migrations: applied.length, elapsedMs, failures: failures.length });
    } finally {
      const { sql } = db;
      await sql`drop schema if exists ${sql(schema)} cascade`;
    }
  }, 120_000);
});

describePostgres("scenario 9: concurrent enqueues with one idempotency key from many processes", () => {
  it("leave exactly one live job per key, even when some of the enqueuing transactions roll back", async () => {
    const processes = 10;
    const keyCount = size(20, 200);
    const keys = Array.from({ length: keyCount }, (_, i) => `key-${i}`);
    // Process p rolls back its enqueue of key k when (p + k) % 3 == 0: every key has both kinds.
    const enqueuers = Array.from({ length: processes }, (_, p) =>
      children.spawn(db.schema, { FAULT_MODE: "enqueue", LISTEN: 0, POOL_MAX: 3, FAULT_KEYS: keys.join(","), FAULT_ROLLBACK: keys.map((_, k) => ((p + k) % 3 === 0 ? "1" : "0")).join("") }),
    );
    await Promise.all(enqueuers.map((child) => child.waitForEvent("waiting", 60_000)));
    for (const child of enqueuers) child.send("go");
    const answers = await Promise.all(enqueuers.map((child) => child.waitForEvent("enqueued", 60_000)));
    const outcomes = answers.flatMap((a) => a.outcomes as { key: string; kind: string; id?: string; message?: string }[]);
    expect(outcomes.filter((o) => o.kind === "error")).toEqual([]);
    expect(outcomes).toHaveLength(processes * keyCount);

    const { sql, schema } = db;
    const live = await sql<{ key: string; n: number; ids: string[] }[]>`
      select idempotency_key as key, count(*)::int as n, array_agg(id::text) as ids from ${sql(schema)}.jobs
      where status in ('blocked', 'pending', 'running') group by idempotency_key`;
    const [all] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.jobs`;
    expect(all?.n).toBe(keyCount);
    expect(live).toHaveLength(keyCount);
    expect(live.every((row) => row.n === 1)).toBe(true);
    // Every caller whose enqueue committed (or was told "duplicate") names the one live job.
    const holder = new Map(live.map((row) => [row.key, row.ids[0]]));
    const committed = outcomes.filter((o) => o.kind !== "rolled-back");
    expect(committed.filter((o) => o.id !== holder.get(o.key))).toEqual([]);
    // A rolled-back enqueue left nothing: no job has an id only a rolled-back caller saw.
    const rolledBackOnly = outcomes.filter((o) => o.kind === "rolled-back" && o.id !== holder.get(o.key));
    const stored = new Set((await sql<{ id: string }[]>`select id::text as id from ${sql(schema)}.jobs`).map((row) => row.id));
    expect(rolledBackOnly.filter((o) => stored.has(o.id ?? ""))).toEqual([]);
    report("9 idempotency", {
      processes, keys: keyCount, enqueues: outcomes.length, rolledBack: outcomes.filter((o) => o.kind === "rolled-back").length,
      duplicatesRefused: outcomes.filter((o) => o.kind === "duplicate").length, liveJobsPerKey: 1,
    });
  }, 120_000);
});
