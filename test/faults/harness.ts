import { afterAll, afterEach, beforeEach } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { Queue } from "../../src/queue.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import { databaseUrl, freshSchemaName } from "../support/postgres.js";

/** Whether the suite runs at full size (`npm run faults -- --full`, which sets FAULTS_FULL=1). */
export const FULL = process.env.FAULTS_FULL === "1";

/** `bounded` in `npm test`, `full` under `npm run faults -- --full`. */
export function size<T>(bounded: T, full: T): T {
  return FULL ? full : bounded;
}

const FIXTURE = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url));

/** How the fixture is configured; every field becomes an environment variable of the child. */
export interface FixtureEnv {
  readonly FAULT_MODE?: "work" | "start" | "enqueue";
  readonly CONCURRENCY?: number;
  readonly LEASE_MS?: number;
  readonly HEARTBEAT_MS?: number;
  readonly RESCUE_MS?: number;
  /** Keep finished jobs this long (the queue's `retention`), pruning every RETENTION_INTERVAL_MS. */
  readonly RETENTION_MS?: number;
  readonly RETENTION_INTERVAL_MS?: number;
  readonly POLL_MS?: number;
  readonly GRACE_MS?: number;
  readonly STUCK_GRACE_MS?: number;
  readonly POOL_MAX?: number;
  readonly LISTEN?: 0 | 1;
  readonly LISTENER_CHECK_MS?: number;
  readonly LISTENER_TIMEOUT_MS?: number;
  readonly IDLE_TX_MS?: number;
  /** "abort": hold every attempt until its signal aborts; "ignore": hold HOLD_MS whatever the signal. */
  readonly HOLD?: "none" | "abort" | "ignore";
  readonly HOLD_MS?: number;
  readonly CAPACITY_CPU?: number;
  readonly JOB_CPU?: number;
  readonly TIMEOUT_MS?: number;
  readonly MAX_ATTEMPTS?: number;
  readonly BACKOFF_MS?: number;
  /** 1: record every execution (outside the attempt's transaction) in `executions`. */
  readonly TRACK?: 0 | 1;
  readonly SLEEP_IGNORES_SIGNAL?: 0 | 1;
  readonly MIGRATE?: 0 | 1;
  /** Comma-separated extra events to print: error, started, interrupted, inflight. */
  readonly EVENTS?: string;
  /** Connect through this URL instead (a proxy); the side pool keeps the direct one. */
  readonly DATABASE_URL?: string;
  readonly APP_NAME?: string;
  readonly FAULT_KEYS?: string;
  readonly FAULT_ROLLBACK?: string;
}

/** One line the fixture printed. */
export interface FixtureEvent {
  readonly event: string;
  readonly pid: number;
  readonly [key: string]: unknown;
}

/** A fixture child process: its events, and signals by pid. */
export class Child {
  readonly events: FixtureEvent[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = "";

  constructor(readonly process: ChildProcess) {
    this.exited = new Promise((resolve) => process.once("exit", (code, signal) => resolve({ code, signal })));
    if (process.stdout !== null) {
      createInterface({ input: process.stdout }).on("line", (line) => {
        try {
          this.events.push(JSON.parse(line) as FixtureEvent);
        } catch {
          this.stderr += `${line}\n`;
        }
      });
    }
    process.stderr?.on("data", (chunk: Buffer) => {
      // Keep the tail only: a crash-looping child must not grow the test's memory.
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error("the child has no pid");
    return pid;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** The fixture's worker id, as written to `ledger.worker` and `jobs.worker_id`. */
  get workerId(): string {
    return `w${this.pid}`;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, signal);
  }

  send(line: string): void {
    this.process.stdin?.write(`${line}\n`);
  }

  has(event: string): boolean {
    return this.events.some((e) => e.event === event);
  }

  /** Waits until the child printed an event matching `match`, or fails after `timeoutMs`. */
  async waitForEvent(event: string, timeoutMs = 30_000): Promise<FixtureEvent> {
    return waitUntil(
      () => {
        const found = this.events.find((e) => e.event === event);
        if (found !== undefined) return found;
        if (!this.alive) throw new Error(`child ${this.pid} exited before "${event}": ${this.stderr.slice(-2_000)}`);
        return undefined;
      },
      `"${event}" from child ${this.pid}`,
      timeoutMs,
      20,
    );
  }
}

/**
 * Children of one test file. `stopAll` ends each by pid (SIGKILL for stopped or stubborn ones), so
 * nothing of a test outlives it, even when it failed half way.
 */
export class Children {
  private readonly all = new Set<Child>();

  spawn(schema: string, config: FixtureEnv = {}): Child {
    const env: Record<string, string> = { ...stringEnv(process.env), DATABASE_URL: databaseUrl, SIDE_DATABASE_URL: databaseUrl, FAULT_SCHEMA: schema };
    for (const [key, value] of Object.entries(config)) if (value !== undefined) env[key] = String(value);
    const child = new Child(spawn(process.execPath, ["--import", "tsx", FIXTURE], { env, stdio: ["pipe", "pipe", "pipe"] }));
    this.all.add(child);
    return child;
  }

  /** A started worker (`ready` printed). */
  async worker(schema: string, config: FixtureEnv = {}): Promise<Child> {
    const child = this.spawn(schema, { FAULT_MODE: "work", ...config });
    await child.waitForEvent("ready", 60_000);
    return child;
  }

  /** SIGKILLs `child` and waits until it is gone. */
  async kill(child: Child): Promise<void> {
    child.signal("SIGCONT");
    child.signal("SIGKILL");
    await child.exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.all].map(async (child) => {
        if (child.alive) {
          child.signal("SIGCONT");
          child.signal("SIGKILL");
        }
        await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      }),
    );
    this.all.clear();
  }
}

function stringEnv(source: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) if (value !== undefined) out[key] = value;
  return out;
}

/** Polls `check` (every `everyMs`) until it answers something other than undefined; fails after `timeoutMs`. */
export async function waitUntil<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Counts by status. */
export type StatusCounts = Record<string, number>;

/** One job as the oracle reads it. */
export interface JobFact {
  readonly id: string;
  readonly status: string;
  readonly attempt: number;
  readonly error: { code?: string } | null;
  readonly worker_id: string | null;
}

/**
 * One fault scenario's database: a fresh schema with jobgraph's tables, a side-effect ledger
 * (UNIQUE on the job, written in the attempt's transaction), an executions log (written outside
 * it), a producer queue and an admin connection. `dispose` drops the schema.
 */
export class FaultDb {
  readonly schema = freshSchemaName();
  readonly sql: postgres.Sql;
  readonly producer: Queue;

  private constructor() {
    this.sql = postgres(databaseUrl, { max: 3, onnotice: () => undefined, connection: { application_name: `jgf_admin:${this.schema}` } });
    this.producer = new Queue({ storage: new PostgresStorage({ connectionString: databaseUrl, schema: this.schema, max: 3, listen: false }) });
  }

  static async create(): Promise<FaultDb> {
    const db = new FaultDb();
    await db.producer.migrate();
    const { sql, schema } = db;
    await sql`create table ${sql(schema)}.ledger (job_id uuid primary key, attempt int not null, worker text not null, at timestamptz not null default clock_timestamp())`;
    await sql`create table ${sql(schema)}.executions (job_id uuid not null, attempt int not null, worker text not null, at timestamptz not null default clock_timestamp())`;
    return db;
  }

  /** Enqueues `count` ledger jobs in batches; answers their ids. */
  async enqueueLedgerJobs(
    count: number,
    payload: (i: number) => Record<string, unknown> = () => ({}),
    options: { maxAttempts?: number; timeoutMs?: number; resources?: Record<string, number> } = {},
  ): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < count; start += 5_000) {
      const n = Math.min(5_000, count - start);
      const jobs = await this.producer.enqueueMany(
        Array.from({ length: n }, (_, i) => ({ key: `j${start + i}`, type: "fault.ledger", payload: payload(start + i), ...options })),
      );
      ids.push(...jobs.map((job) => job.id));
    }
    return ids;
  }

  async statusCounts(): Promise<StatusCounts> {
    const { sql, schema } = this;
    const rows = await sql<{ status: string; n: number }[]>`select status, count(*)::int as n from ${sql(schema)}.jobs group by status`;
    return Object.fromEntries(rows.map((row) => [row.status, row.n]));
  }

  async count(status: string): Promise<number> {
    const { sql, schema } = this;
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.jobs where status = ${status}`;
    return row?.n ?? 0;
  }

  /** Waits until `n` jobs have `status`; answers how long it took. */
  async waitForStatus(status: string, n: number, timeoutMs: number): Promise<number> {
    const started = Date.now();
    // A failed read (the server restarting under the test) is just another poll.
    await waitUntil(async () => ((await this.count(status).catch(() => -1)) >= n ? true : undefined), `${n} ${status} jobs`, timeoutMs, 100).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message} (have ${JSON.stringify(await this.statusCounts().catch(() => "?"))})`);
    });
    return Date.now() - started;
  }

  async jobs(ids?: readonly string[]): Promise<JobFact[]> {
    const { sql, schema } = this;
    return ids === undefined
      ? sql<JobFact[]>`select id::text as id, status, attempt, error, worker_id from ${sql(schema)}.jobs`
      : sql<JobFact[]>`select id::text as id, status, attempt, error, worker_id from ${sql(schema)}.jobs where id = any(${[...ids]}::uuid[])`;
  }

  /**
   * The oracle for jobs that should all have completed: answers lost (not completed, or completed
   * without its effect), duplicated (effects beyond one per job, or an effect from an attempt other
   * than the completing one) and the attempts histogram.
   */
  async ledgerFacts(ids: readonly string[]): Promise<{ lost: number; duplicated: number; mismatched: number; completions: number; attempts: Record<number, number> }> {
    const { sql, schema } = this;
    const [row] = await sql<{ lost: number; duplicated: number; mismatched: number; completions: number }[]>`
      with wanted as (select unnest(${[...ids]}::uuid[]) as id),
      effects as (select job_id, count(*)::int as n from ${sql(schema)}.ledger group by job_id),
      done as (
        select j.id as job_id, count(*)::int as n from ${sql(schema)}.jobs j cross join lateral jsonb_array_elements(j.attempts) a
        where j.id in (select id from wanted) and a->>'outcome' = 'completed' group by j.id)
      select
        count(*) filter (where j.status is distinct from 'completed' or e.n is null)::int as lost,
        coalesce(sum(greatest(e.n - 1, 0)), 0)::int + coalesce(sum(greatest(d.n - 1, 0)), 0)::int as duplicated,
        count(*) filter (where l.attempt is distinct from j.attempt and j.status = 'completed')::int as mismatched,
        coalesce(sum(d.n), 0)::int as completions
      from wanted w
      left join ${sql(schema)}.jobs j on j.id = w.id
      left join effects e on e.job_id = w.id
      left join done d on d.job_id = w.id
      left join ${sql(schema)}.ledger l on l.job_id = w.id`;
    const histogram = await sql<{ attempt: number; n: number }[]>`
      select attempt, count(*)::int as n from ${sql(schema)}.jobs where id = any(${[...ids]}::uuid[]) group by attempt order by attempt`;
    if (row === undefined) throw new Error("no oracle row");
    return { ...row, attempts: Object.fromEntries(histogram.map((h) => [h.attempt, h.n])) };
  }

  /** Terminates the backends of this scenario's processes (never anyone else's): the fixture's pools and listeners. */
  async terminateBackends(filter: "all" | "listeners" | "pools" = "all"): Promise<number> {
    const { sql, schema } = this;
    const pool = `jgf:${schema}`;
    const listener = `jobgraph_listen:${schema}`;
    const rows = await sql<{ ok: boolean }[]>`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
      where pid <> pg_backend_pid() and (
        (${filter !== "listeners"} and application_name = ${pool})
        or (${filter !== "pools"} and application_name = ${listener}))`;
    return rows.filter((r) => r.ok).length;
  }

  async dispose(): Promise<void> {
    await this.producer.shutdown().catch(() => undefined);
    await this.producer.storage.close().catch(() => undefined);
    const { sql, schema } = this;
    await sql`drop schema if exists ${sql(schema)} cascade`.catch(() => undefined);
    await sql.end({ timeout: 5 });
  }
}

/** The cluster's version directory (`ls /etc/postgresql`), for pg_ctlcluster. */
export function clusterVersion(): string {
  return execFileSync("ls", ["/etc/postgresql"]).toString().trim().split("\n")[0] ?? "15";
}

/** Whether the server accepts connections now. */
export function postgresReady(): boolean {
  try {
    execFileSync("pg_isready", ["-h", "127.0.0.1", "-q"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Restarts the local cluster (fast shutdown: sessions are terminated, as in a failover or an upgrade). */
export function restartPostgres(): void {
  execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", clusterVersion(), "main", "restart", "-m", "fast"], { stdio: "ignore", timeout: 60_000 });
}

/** Starts the local cluster if it is not accepting connections: no test leaves it down. */
export function ensurePostgresUp(): void {
  if (postgresReady()) return;
  try {
    execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", clusterVersion(), "main", "start"], { stdio: "ignore", timeout: 60_000 });
  } catch {
    // Reported by the readiness wait below.
  }
  for (let i = 0; i < 60 && !postgresReady(); i++) execFileSync("sleep", ["0.5"]);
}

/** Figures one scenario measured, printed for docs/reliability.md. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  console.log(`[faults] ${JSON.stringify({ scenario, full: FULL, ...figures })}`);
}

/**
 * The hooks every fault scenario file needs: a fresh database (schema, ledger, producer) before each
 * test, handed over through `use`; its worker processes stopped and the database dropped after it.
 */
export function useFaultDb(children: Children, use: (db: FaultDb) => void): void {
  let current: FaultDb | undefined;
  beforeEach(async () => {
    current = await FaultDb.create();
    use(current);
  });
  afterEach(async () => {
    await children.stopAll();
    await current?.dispose();
  });
  afterAll(() => children.stopAll());
}
