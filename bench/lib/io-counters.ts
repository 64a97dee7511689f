// Where a run's database time goes besides CPU: blocks of the jobs table that came from outside
// shared_buffers, and the WAL written (full-page images are the first change of a page after a
// checkpoint). The WAL figures are the whole server's, so other activity on it counts too.
import { withClient } from "./db.ts";

export interface IoCounters {
  readonly heapBlocksRead: number;
  readonly indexBlocksRead: number;
  readonly walBytes: number;
  readonly walFullPages: number;
}

/** The counters now; read them after the measured sessions have ended, which flushes their statistics. */
export async function ioCounters(url: string, schema: string): Promise<IoCounters> {
  return withClient(url, async (c) => {
    const { rows: [table] } = await c.query(
      "select coalesce(heap_blks_read, 0)::float8 as heap, coalesce(idx_blks_read, 0)::float8 as idx from pg_statio_user_tables where schemaname = $1 and relname = 'jobs'",
      [schema],
    );
    const { rows: [wal] } = await c.query("select wal_bytes::float8 as bytes, wal_fpi::float8 as fpi from pg_stat_wal");
    return { heapBlocksRead: table.heap, indexBlocksRead: table.idx, walBytes: wal.bytes, walFullPages: wal.fpi };
  });
}

/** Counters spent between two readings, per job, rounded to a hundredth (WAL bytes to a byte). */
export function ioPerJob(before: IoCounters, after: IoCounters, jobs: number) {
  const per = (key: keyof IoCounters) => Math.round(((after[key] - before[key]) / jobs) * 100) / 100;
  return {
    heapBlocksReadPerJob: per("heapBlocksRead"),
    indexBlocksReadPerJob: per("indexBlocksRead"),
    walBytesPerJob: Math.round((after.walBytes - before.walBytes) / jobs),
    walFullPagesPerJob: per("walFullPages"),
  };
}

/** The pids of the other sessions connected to the database of `url`. */
export async function sessionPids(url: string): Promise<number[]> {
  return withClient(url, async (c) =>
    (await c.query("select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")).rows.map((r) => Number(r.pid)));
}

/** Waits (up to 10 s) until the sessions `pids` have ended, and with them sent their statistics. */
export async function sessionsEnded(url: string, pids: readonly number[]): Promise<void> {
  await withClient(url, async (c) => {
    for (let waited = 0; waited < 10_000; waited += 20) {
      const { rowCount } = await c.query("select 1 from pg_stat_activity where pid = any($1::int[])", [pids]);
      if (rowCount === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}
