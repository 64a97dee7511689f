import { expect, it } from "vitest";
import type { GraphNodeInput } from "../../src/options.js";
import { Queue } from "../../src/queue.js";
import { PostgresStorage, attemptSql } from "../../src/storage/postgres/index.js";
import { databaseUrl, describePostgres } from "../support/postgres.js";
import { Children, FaultDb, useFaultDb, report, size } from "./harness.js";

const children = new Children();
let db: FaultDb;
useFaultDb(children, (created) => (db = created));

/** One submission: `diamonds` diamonds (a -> b, c -> d) and `solo` independent jobs. */
function batch(tag: string, diamonds: number, solo: number): GraphNodeInput[] {
  const nodes: GraphNodeInput[] = [];
  for (let d = 0; d < diamonds; d++) {
    const k = `${tag}-${d}`;
    nodes.push(
      { key: `a${k}`, type: "fault.ledger" },
      { key: `b${k}`, type: "fault.ledger", dependsOn: [`a${k}`] },
      { key: `c${k}`, type: "fault.ledger", dependsOn: [`a${k}`] },
      { key: `d${k}`, type: "fault.ledger", dependsOn: [`b${k}`, `c${k}`] },
    );
  }
  for (let i = 0; i < solo; i++) nodes.push({ key: `s${tag}-${i}`, type: "fault.ledger", priority: (["high", "normal", "low"] as const)[i % 3] });
  return nodes;
}

describePostgres("scenario 4: many worker processes on one database", () => {
  it("every job completes once, and no dependent starts before its dependencies finished", async () => {
    const processes = size(4, 8);
    const concurrency = size(10, 25);
    const batches = size(2, 20);
    const perBatch = { diamonds: size(100, 250), solo: size(600, 4_000) };
    const total = batches * (perBatch.diamonds * 4 + perBatch.solo);
    await Promise.all(Array.from({ length: processes }, () => children.worker(db.schema, { CONCURRENCY: concurrency, LEASE_MS: 30_000, POOL_MAX: size(4, 6) })));

    const started = Date.now();
    const ids: string[] = [];
    for (let b = 0; b < batches; b++) ids.push(...(await db.producer.enqueueMany(batch(String(b), perBatch.diamonds, perBatch.solo))).map((job) => job.id));
    expect(ids).toHaveLength(total);
    await db.waitForStatus("completed", total, size(90_000, 900_000));
    const elapsedMs = Date.now() - started;

    expect(await db.statusCounts()).toEqual({ completed: total });
    const facts = await db.ledgerFacts(ids);
    // No fault, so no lease was lost: every job completed on its first and only attempt.
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: total, attempts: { 1: total } });
    const { sql, schema } = db;
    const [order] = await sql<{ edges: number; early: number }[]>`
      select count(*)::int as edges, count(*) filter (where j.started_at < p.finished_at)::int as early
      from ${sql(schema)}.job_dependencies d
      join ${sql(schema)}.jobs j on j.id = d.job_id
      join ${sql(schema)}.jobs p on p.id = d.depends_on_id`;
    expect(order).toEqual({ edges: batches * perBatch.diamonds * 4, early: 0 });
    const [spread] = await sql<{ n: number }[]>`select count(distinct worker)::int as n from ${sql(schema)}.ledger`;
    expect(spread?.n).toBe(processes);
    report("4 many workers", { processes, concurrency, jobs: total, edges: order?.edges, elapsedMs, jobsPerSecond: Math.round(total / (elapsedMs / 1000)), lost: facts.lost, duplicated: facts.duplicated, startedEarly: order?.early });
  }, size(150_000, 1_200_000));
});

describePostgres("scenario 4: the store's sessions at scale", () => {
  // Also: a session left idle in a transaction (its worker cut off) is ended by the server after a minute.
  it("run without JIT, so that a settle is not compiled before it runs (seconds each on a large jobs table)", async () => {
    const queue = new Queue({ storage: new PostgresStorage({ connectionString: databaseUrl, schema: db.schema, max: 2, listen: false }), pollIntervalMs: 50 });
    queue.defineHandler("fault.jit", {
      run: async (_payload, ctx) => {
        const [row] = await attemptSql(ctx)<{ jit: string; idle: string }[]>`
          select current_setting('jit') as jit, current_setting('idle_in_transaction_session_timeout') as idle`;
        return row === undefined ? null : { jit: row.jit, idle: row.idle };
      },
    });
    try {
      await queue.start({ migrate: false });
      const job = await queue.enqueue("fault.jit", {});
      expect(await queue.waitFor(job.id, { timeoutMs: 20_000 })).toMatchObject({ status: "completed", result: { jit: "off", idle: "1min" } });
    } finally {
      await queue.shutdown();
      await queue.storage.close();
    }
  });
});
