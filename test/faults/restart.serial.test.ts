// Scenarios that break the server for everyone (a restart) or kill connections: they run in their own
// vitest pass after the rest (vitest.serial.config.ts), one file at a time.
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { listenerApplicationName } from "../../src/storage/postgres/index.js";
import { describePostgres } from "../support/postgres.js";
import { Child, Children, ensurePostgresUp, FaultDb, report, restartPostgres, size, waitUntil } from "./harness.js";

const children = new Children();
let db: FaultDb;

beforeEach(async () => {
  ensurePostgresUp();
  db = await FaultDb.create();
});
afterEach(async () => {
  await children.stopAll();
  ensurePostgresUp();
  await db.dispose();
});
afterAll(async () => {
  await children.stopAll();
  ensurePostgresUp();
});

/** Reads that may meet a server going down answer undefined instead of failing the wait. */
const quietly = <T>(read: () => Promise<T>): Promise<T | undefined> => read().catch(() => undefined);

/** Waits until every worker listens again and no job claimed before `since` is still running. */
async function recovered(db: FaultDb, pool: readonly Child[], since: Date, timeoutMs: number): Promise<number> {
  const { sql, schema } = db;
  const workers = pool.length;
  const started = Date.now();
  await waitUntil(
    () =>
      quietly(async () => {
        const [row] = await sql<{ listeners: number; stale: number }[]>`
          select (select count(*)::int from pg_stat_activity where application_name = ${listenerApplicationName(schema)}) as listeners,
                 (select count(*)::int from ${sql(schema)}.jobs where status = 'running' and started_at < ${since}) as stale`;
        return row?.listeners === workers && row.stale === 0 ? true : undefined;
      }),
    `${workers} listeners back and no job left running from before the fault`,
    timeoutMs,
  ).catch(async (error: unknown) => {
    const stale = await sql`select id, attempt, worker_id, started_at, lease_expires_at, now() as now from ${sql(schema)}.jobs where status = 'running' and started_at < ${since} limit 5`;
    const listeners = await sql`select application_name, state, backend_start from pg_stat_activity where application_name = ${listenerApplicationName(schema)}`;
    // A worker that died takes its listener with it: say so, with what it printed last.
    const dead = pool.filter((child) => !child.alive).map((child) => `${child.pid}: ${child.stderr.slice(-1_500)}`);
    throw new Error(`${(error as Error).message}: stale ${JSON.stringify(stale)}, listeners ${JSON.stringify(listeners)}, dead workers [${dead.join("; ")}]`);
  });
  return Date.now() - started;
}

/**
 * Every worker works again: a wave of jobs that each run 2 s, as many as all workers' slots together
 * (10 each), can only be running at once if every worker claims its share.
 */
async function everyWorkerClaims(db: FaultDb, workerIds: readonly string[]): Promise<true> {
  const { sql, schema } = db;
  const wave = await db.enqueueLedgerJobs(10 * workerIds.length, () => ({ sleepMs: 2_000 }));
  await waitUntil(
    async () => {
      const rows = await sql<{ worker_id: string }[]>`
        select distinct worker_id from ${sql(schema)}.jobs where id = any(${wave}::uuid[]) and worker_id is not null`;
      return rows.length === workerIds.length ? true : undefined;
    },
    "every worker to claim a share of a fresh wave",
    15_000,
    20,
  );
  await waitUntil(async () => ((await db.jobs(wave)).every((job) => job.status === "completed") ? true : undefined), "the fresh wave to complete", 30_000);
  const facts = await db.ledgerFacts(wave);
  expect(facts).toMatchObject({ lost: 0, duplicated: 0 });
  return true;
}

describePostgres("scenario 5: PostgreSQL restarted mid-load", () => {
  it("workers reconnect by themselves, listeners come back, nothing is lost, nothing stays running past a lease", async () => {
    const leaseMs = size(3_000, 10_000);
    const workers = 3;
    const jobs = size(1_500, 20_000);
    const config = { CONCURRENCY: 10, LEASE_MS: leaseMs, LISTENER_CHECK_MS: 500, LISTENER_TIMEOUT_MS: 1_000, EVENTS: "error" };
    const pool = await Promise.all(Array.from({ length: workers }, () => children.worker(db.schema, config)));
    const ids = await db.enqueueLedgerJobs(jobs, () => ({ sleepMs: 20 }));
    await db.waitForStatus("completed", Math.floor(jobs / 4), 60_000);

    const restartAt = Date.now();
    restartPostgres();
    const upAt = new Date();
    const downMs = upAt.getTime() - restartAt;
    // Pass criterion: within a lease (and 10 s to notice) after the restart, nothing from before it still runs.
    const recoveryMs = await recovered(db, pool, upAt, leaseMs + 10_000);
    await db.waitForStatus("completed", jobs, size(120_000, 600_000));

    expect(pool.every((child) => child.alive)).toBe(true);
    const facts = await db.ledgerFacts(ids);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: jobs });
    expect(await everyWorkerClaims(db, pool.map((child) => child.workerId))).toBe(true);
    report("5 postgres restart", { jobs, workers, leaseMs, faults: "1 restart (fast)", downMs, recoveryMs, lost: facts.lost, duplicated: facts.duplicated, attempts: facts.attempts });
  }, 300_000);
});

describePostgres("scenario 6: connections killed with pg_terminate_backend every second under load", () => {
  it("workers reconnect by themselves, listeners come back, nothing is lost, nothing stays running past a lease", async () => {
    const leaseMs = size(3_000, 10_000);
    const workers = 3;
    const seconds = size(8, 30);
    const jobs = size(2_000, 20_000);
    const config = { CONCURRENCY: 10, LEASE_MS: leaseMs, LISTENER_CHECK_MS: 500, LISTENER_TIMEOUT_MS: 1_000, EVENTS: "error" };
    const pool = await Promise.all(Array.from({ length: workers }, () => children.worker(db.schema, config)));
    const ids = await db.enqueueLedgerJobs(jobs, () => ({ sleepMs: 20 }));
    await db.waitForStatus("completed", 100, 60_000);

    let terminated = 0;
    for (let second = 0; second < seconds; second++) {
      terminated += await db.terminateBackends("all");
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const lastKill = new Date();
    const recoveryMs = await recovered(db, pool, lastKill, leaseMs + 10_000);
    await db.waitForStatus("completed", jobs, size(120_000, 600_000));

    expect(terminated).toBeGreaterThan(seconds);
    expect(pool.every((child) => child.alive)).toBe(true);
    expect(await everyWorkerClaims(db, pool.map((child) => child.workerId))).toBe(true);
    const facts = await db.ledgerFacts(ids);
    expect(facts).toMatchObject({ lost: 0, duplicated: 0, mismatched: 0, completions: jobs });
    report("6 pg_terminate_backend", { jobs, workers, leaseMs, faults: `${terminated} backends terminated over ${seconds} s`, recoveryMs, lost: facts.lost, duplicated: facts.duplicated, attempts: facts.attempts });
  }, 300_000);
});
