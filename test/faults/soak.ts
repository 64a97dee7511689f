// Scenario 13, the soak: one worker process runs a steady stream of jobs for a while; reports the
// slope of its resident memory and the size of the tables. `npm run soak [-- --seconds 600 --rate 100]`.
//
// The worker runs with the `retention` option: it deletes jobs finished more than `keepSeconds` ago,
// every 10 s (their logs and edges go with them, by foreign key); the tables must then stay bounded.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Children, FaultDb } from "./harness.js";

export interface SoakOptions {
  readonly seconds: number;
  /** Jobs enqueued per second. */
  readonly rate: number;
  /** Finished jobs younger than this are kept. */
  readonly keepSeconds: number;
  readonly log?: (line: string) => void;
}

export interface SoakReport {
  readonly seconds: number;
  readonly enqueued: number;
  readonly completed: number;
  readonly pruned: number;
  readonly backlogAtEnd: number;
  readonly rssStartMb: number;
  readonly rssEndMb: number;
  /** Least-squares slope of the worker's RSS after the first fifth of the run, in MB per minute. */
  readonly rssSlopeMbPerMin: number;
  /** Rows and bytes of each table, halfway and at the end. */
  readonly tables: { readonly half: TableSizes; readonly end: TableSizes };
}

type TableSizes = Record<string, { rows: number; bytes: number; deadRows: number; autovacuums: number }>;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function tableSizes(db: FaultDb): Promise<TableSizes> {
  const { sql, schema } = db;
  const rows = await sql<{ name: string; rows: number; bytes: number; dead_rows: number; autovacuums: number }[]>`
    select c.relname as name, (select count(*) from ${sql(schema)}.jobs)::int * (c.relname = 'jobs')::int
      + (select count(*) from ${sql(schema)}.job_logs)::int * (c.relname = 'job_logs')::int
      + (select count(*) from ${sql(schema)}.job_dependencies)::int * (c.relname = 'job_dependencies')::int as rows,
      pg_total_relation_size(c.oid)::bigint::float8 as bytes,
      coalesce(s.n_dead_tup, 0)::int as dead_rows, coalesce(s.autovacuum_count, 0)::int as autovacuums
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    left join pg_stat_user_tables s on s.relid = c.oid
    where n.nspname = ${schema} and c.relname in ('jobs', 'job_logs', 'job_dependencies')`;
  return Object.fromEntries(rows.map((r) => [r.name, { rows: r.rows, bytes: r.bytes, deadRows: r.dead_rows, autovacuums: r.autovacuums }]));
}

/** Jobs still stored: what was enqueued minus this is what retention deleted. */
async function countJobs(db: FaultDb): Promise<number> {
  const { sql, schema } = db;
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.jobs`;
  return row?.n ?? 0;
}

/** Runs the soak in a fresh schema and drops it afterwards. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const children = new Children();
  const db = await FaultDb.create();
  try {
    const worker = await children.worker(db.schema, {
      CONCURRENCY: 20,
      LEASE_MS: 30_000,
      RETENTION_MS: options.keepSeconds * 1_000,
      RETENTION_INTERVAL_MS: 10_000,
    });
    const { sql, schema } = db;
    const started = Date.now();
    const samples: [number, number][] = [];
    let enqueued = 0;
    let pruned = 0;
    let half: TableSizes | undefined;
    let nextPrune = started + 10_000;
    let nextSample = started;
    const tickMs = 200;
    for (let tick = 0; Date.now() - started < options.seconds * 1_000; tick++) {
      const due = Math.floor(((Date.now() - started) / 1_000) * options.rate) - enqueued;
      if (due > 0) {
        await db.producer.enqueueMany(Array.from({ length: due }, (_, i) => ({ key: `k${i}`, type: "fault.noop", payload: { n: enqueued + i } })));
        enqueued += due;
      }
      const now = Date.now();
      if (now >= nextSample) {
        samples.push([(now - started) / 60_000, rssMb(worker.pid)]);
        nextSample = now + 2_000;
      }
      if (now >= nextPrune) {
        pruned = enqueued - (await countJobs(db));
        nextPrune = now + 10_000;
        log(`[soak] ${Math.round((now - started) / 1_000)} s: enqueued ${enqueued}, pruned ${pruned}, rss ${samples.at(-1)?.[1].toFixed(1)} MB`);
      }
      if (half === undefined && now - started >= (options.seconds * 1_000) / 2) half = await tableSizes(db);
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    const end = await tableSizes(db);
    pruned = enqueued - (await countJobs(db));
    const [counts] = await sql<{ completed: number; backlog: number }[]>`
      select count(*) filter (where status = 'completed')::int as completed, count(*) filter (where status in ('pending', 'running'))::int as backlog
      from ${sql(schema)}.jobs`;
    const steady = samples.filter(([t]) => t >= options.seconds / 60 / 5);
    return {
      seconds: options.seconds,
      enqueued,
      completed: (counts?.completed ?? 0) + pruned,
      pruned,
      backlogAtEnd: counts?.backlog ?? -1,
      rssStartMb: Math.round((samples[0]?.[1] ?? 0) * 10) / 10,
      rssEndMb: Math.round((samples.at(-1)?.[1] ?? 0) * 10) / 10,
      rssSlopeMbPerMin: Math.round(slope(steady) * 1_000) / 1_000,
      tables: { half: half ?? end, end },
    };
  } finally {
    await children.stopAll();
    await db.dispose();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const report = await runSoak({ seconds: arg("seconds", 600), rate: arg("rate", 100), keepSeconds: arg("keep", 30), log: (line) => console.log(line) });
  console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}
