import { expect, it } from "vitest";
import type { GraphNodeInput } from "../../src/options.js";
import { describePostgres, eventually } from "../support/postgres.js";
import { startWorker, useWorkerSchema } from "./support/worker-processes.js";

const env = useWorkerSchema();

describePostgres("many worker processes on one database", () => {
  it("4 processes x concurrency 10 complete 5,000 jobs, graphs among them, each exactly once and in dependency order", async () => {
    const { schema, sql, producer } = env;
    const workers = await Promise.all(Array.from({ length: 4 }, () => startWorker(schema, { CONCURRENCY: "10" })));
    expect(workers).toHaveLength(4);

    // 200 diamonds (800 jobs) and 4,200 independent jobs, in batches as an application would submit them.
    const submissions: GraphNodeInput[][] = [];
    for (let batch = 0; batch < 4; batch++) {
      const nodes: GraphNodeInput[] = [];
      for (let d = 0; d < 50; d++) {
        const k = `${batch}-${d}`;
        nodes.push(
          { key: `top-${k}`, type: "ledger.write" },
          { key: `left-${k}`, type: "ledger.write", dependsOn: [`top-${k}`] },
          { key: `right-${k}`, type: "ledger.write", dependsOn: [`top-${k}`] },
          { key: `bottom-${k}`, type: "ledger.write", dependsOn: [`left-${k}`, `right-${k}`] },
        );
      }
      submissions.push(nodes);
    }
    for (let batch = 0; batch < 6; batch++) {
      submissions.push(Array.from({ length: 700 }, (_, i) => ({ key: `solo-${batch}-${i}`, type: "ledger.write", payload: { i } })));
    }
    const ids = new Set<string>();
    for (const nodes of submissions) for (const job of await producer.enqueueMany(nodes)) ids.add(job.id);
    expect(ids.size).toBe(5_000);

    await eventually(
      async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.jobs where status = 'completed'`;
        return row!.n === 5_000 ? true : undefined;
      },
      "5,000 completed jobs",
      60_000,
    );

    const statuses = await sql<{ status: string; n: number }[]>`select status, count(*)::int as n from ${sql(schema)}.jobs group by status`;
    expect(statuses).toEqual([{ status: "completed", n: 5_000 }]);
    const ledger = await sql<{ job_id: string; attempt: number; worker: string }[]>`
      select job_id::text as job_id, attempt, worker from ${sql(schema)}.ledger`;
    expect(ledger).toHaveLength(5_000);
    expect(new Set(ledger.map((row) => row.job_id))).toEqual(ids);
    // Nothing ran twice: no lease was lost, so every job completed on its first attempt.
    expect(ledger.filter((row) => row.attempt !== 1)).toEqual([]);
    const [workersUsed] = await sql<{ n: number }[]>`select count(distinct worker)::int as n from ${sql(schema)}.ledger`;
    expect(workersUsed?.n).toBeGreaterThan(1);

    const [order] = await sql<{ edges: number; early: number }[]>`
      select count(*)::int as edges, count(*) filter (where j.started_at < p.finished_at)::int as early
      from ${sql(schema)}.job_dependencies d
      join ${sql(schema)}.jobs j on j.id = d.job_id
      join ${sql(schema)}.jobs p on p.id = d.depends_on_id`;
    expect(order).toEqual({ edges: 800, early: 0 });
  }, 90_000);

  it("a SIGKILLed worker's running jobs are completed by another after the lease expires, one attempt more, once", async () => {
    const { schema, sql, producer } = env;
    const leaseMs = "1500";
    const doomed = await startWorker(schema, { CONCURRENCY: "10", LEASE_MS: leaseMs, HOLD: "1" });
    const jobs = await producer.enqueueMany(Array.from({ length: 8 }, (_, i) => ({ key: `hold-${i}`, type: "ledger.hold" })));
    const held = await eventually(
      async () => {
        const rows = await sql<{ id: string; attempt: number; worker_id: string }[]>`
          select id::text as id, attempt, worker_id from ${sql(schema)}.jobs where status = 'running'`;
        return rows.length === jobs.length ? rows : undefined;
      },
      "the doomed worker to hold every job",
      20_000,
    );
    expect(new Set(held.map((row) => row.worker_id))).toEqual(new Set([String(doomed.pid)]));
    expect(held.map((row) => row.attempt)).toEqual(held.map(() => 1));

    const rescuer = await startWorker(schema, { CONCURRENCY: "10", LEASE_MS: leaseMs });
    const killed = new Promise((resolve) => doomed.once("exit", resolve));
    doomed.kill("SIGKILL");
    await killed;

    for (const job of jobs) {
      const done = await producer.waitFor(job.id, { timeoutMs: 30_000 });
      expect(done).toMatchObject({ status: "completed", attempt: 2, result: { worker: String(rescuer.pid) } });
    }
    const ledger = await sql<{ job_id: string; attempt: number; worker: string }[]>`
      select job_id::text as job_id, attempt, worker from ${sql(schema)}.ledger order by job_id`;
    expect(ledger).toHaveLength(jobs.length);
    expect(new Set(ledger.map((row) => row.job_id))).toEqual(new Set(jobs.map((job) => job.id)));
    // The killed attempts' ledger rows died with their uncommitted transactions.
    expect(ledger.every((row) => row.attempt === 2 && row.worker === String(rescuer.pid))).toBe(true);
  }, 60_000);
});
