// The store alone, no queue: claim pre-inserted jobs B at a time and settle each batch as completed,
// in series, on a fresh schema that may first be filled with finished jobs (retained history).
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { PostgresStorage } from "../../src/storage/postgres/index.ts";
import { DEFAULT_BACKOFF } from "../../src/retry.ts";
import { newJobId } from "../../src/job-id.ts";
import { withClient } from "./db.ts";
import { applySchemaVariants } from "./schema-variants.ts";
import { backendCpu, backendCpuSpent } from "./backend-cpu.ts";
import { ioCounters, ioPerJob, sessionPids, sessionsEnded } from "./io-counters.ts";

export interface ClaimSettleRun {
  readonly jobs: number;
  readonly batch: number;
  readonly retained: number;
  readonly claimUsPerJob: number;
  readonly settleUsPerJob: number;
  readonly jobsPerSecond: number;
  readonly processCpuUsPerJob: number;
  /** CPU time of the database's backends per job (null when the server is not on this machine). */
  readonly dbCpuUsPerJob: number | null;
  /** Blocks of the jobs table (heap, indexes) read from outside shared_buffers, per job. */
  readonly heapBlocksReadPerJob: number;
  readonly indexBlocksReadPerJob: number;
  /** WAL written per job (the whole server's), and how many full-page images of it. */
  readonly walBytesPerJob: number;
  readonly walFullPagesPerJob: number;
}

/**
 * Fills `schema`'s jobs table with `count` completed jobs, each with one finished attempt when the
 * schema keeps attempts in the row, then vacuums and analyzes it, as a long-running queue would be.
 * Their ids are time-ordered as the core makes them (UUID version 7, a day old, a millisecond apart).
 */
async function fillRetained(url: string, schema: string, count: number): Promise<void> {
  if (count === 0) return;
  await withClient(url, async (c) => {
    const { rowCount } = await c.query(
      "select 1 from information_schema.columns where table_schema = $1 and table_name = 'jobs' and column_name = 'attempts'",
      [schema],
    );
    const history = rowCount === 1;
    for (let done = 0; done < count; done += 100_000) {
      const n = Math.min(100_000, count - done);
      await c.query(`
        insert into ${schema}.jobs (id, type, status, priority, payload, result, attempt, max_attempts, backoff, resources,
          run_at, started_at, finished_at${history ? ", attempts" : ""})
        select (lpad(to_hex((extract(epoch from now() - interval '1 day') * 1000)::bigint + $2 + g), 12, '0') || '7'
                || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid, 't', 'completed', 2, jsonb_build_object('i', g), 'null'::jsonb, 1, 3, '{}'::jsonb, '{}'::jsonb,
          now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
          ${history ? ", jsonb_build_array(jsonb_build_object('attempt', 1, 'startedAt', now() - interval '1 day', 'finishedAt', now() - interval '1 day', 'outcome', 'completed', 'workerId', 'w'))" : ""}
        from generate_series(1, $1) g`, [n, done]);
    }
    await c.query(`vacuum analyze ${schema}.jobs`);
  });
}

/** One measured run; the schema is dropped afterwards. */
export async function claimSettleLoop(url: string, opts: { jobs: number; batch: number; retained: number }): Promise<ClaimSettleRun> {
  const schema = `cs_${randomUUID().slice(0, 8)}`;
  const store = new PostgresStorage({ connectionString: url, schema, max: 4, listen: false });
  try {
    await store.setup();
    await applySchemaVariants(url, schema);
    await fillRetained(url, schema, opts.retained);
    for (let i = 0; i < opts.jobs; i += 5_000) {
      const jobs = Array.from({ length: Math.min(5_000, opts.jobs - i) }, (_, k) => ({
        id: newJobId(), type: "t", priority: "normal" as const, payload: { i: i + k }, maxAttempts: 3, backoff: DEFAULT_BACKOFF, dependsOn: [],
        idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 1_000),
      }));
      await store.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
    }
    await withClient(url, (c) => c.query("checkpoint"));
    // Sessions send their statistics at most once a second: let the inserts' arrive before the reading.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const ioBefore = await ioCounters(url, schema);
    let claimMs = 0;
    let settleMs = 0;
    let done = 0;
    const cpu = process.cpuUsage();
    const dbBefore = await backendCpu(url);
    for (;;) {
      const t0 = performance.now();
      const { claimed } = await store.claimJobs({ workerId: "w", types: ["t"], limit: opts.batch, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });
      const t1 = performance.now();
      if (claimed.length === 0) break;
      await store.settle(claimed.map((c) => ({ lease: c.lease, job: c.job, outcome: { type: "completed" as const, result: null } })), new Date());
      claimMs += t1 - t0;
      settleMs += performance.now() - t1;
      done += claimed.length;
    }
    const used = process.cpuUsage(cpu);
    const dbSpent = backendCpuSpent(dbBefore, await backendCpu(url));
    const sessions = await sessionPids(url);
    await store.close(); // its sessions send their statistics as they end
    await sessionsEnded(url, sessions);
    const io = ioPerJob(ioBefore, await ioCounters(url, schema), done);
    return {
      jobs: done, batch: opts.batch, retained: opts.retained,
      claimUsPerJob: Math.round((claimMs / done) * 1000), settleUsPerJob: Math.round((settleMs / done) * 1000),
      jobsPerSecond: Math.round(done / ((claimMs + settleMs) / 1000)), processCpuUsPerJob: Math.round((used.user + used.system) / done),
      dbCpuUsPerJob: dbSpent === null ? null : Math.round(dbSpent / done),
      ...io,
    };
  } finally {
    await store.close();
    await withClient(url, (c) => c.query(`drop schema if exists ${schema} cascade`));
  }
}
