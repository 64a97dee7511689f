import { PgBoss } from "pg-boss";
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from "graphile-worker";
import { Queue } from "../../src/index.ts";
import { PostgresStorage } from "../../src/storage/postgres/index.ts";
import { ensureDatabase, urlFor, withClient } from "./db.ts";

/** What a workload sees of a system: produce, consume, and count what is left in the database. */
export interface System {
  readonly name: string;
  readonly database: string;
  /** Drops the system's schema and installs it again, so every measurement starts from empty tables. */
  reset(): Promise<void>;
  /** Opens the producer side (after reset). */
  openProducer(): Promise<void>;
  enqueueOne(payload: Record<string, unknown>): Promise<void>;
  enqueueBulk(payloads: readonly Record<string, unknown>[]): Promise<void>;
  /** 500 diamonds: one root, three middle jobs, one sink; undefined when the system has no dependencies. */
  enqueueDiamond?(index: number): Promise<void>;
  /** Starts a worker running `handler` for each job at `concurrency` jobs in flight. */
  startWorker(concurrency: number, handler: (payload: Record<string, unknown>) => void): Promise<void>;
  stopWorker(): Promise<void>;
  readonly url: string;
  /** Counts jobs not yet completed in the database (what a worker still owes), as column `n`. */
  readonly unfinishedSql: string;
  close(): Promise<void>;
  /** The settings as they are printed with the table. */
  settings(concurrency: number): string;
}

const QUEUE = "noop";
const POOL = 10;

// ---------------------------------------------------------------- jobgraph

export class JobgraphSystem implements System {
  readonly name = "jobgraph";
  readonly url: string;
  constructor(readonly database = "jobgraph_bench_jg") {
    this.url = urlFor(database);
  }
  private producer: Queue | undefined;
  private worker: Queue | undefined;

  settings(concurrency: number): string {
    return `PostgresStorage (pool ${POOL}, LISTEN on), Queue { concurrency: ${concurrency}, prefetch: ${JobgraphSystem.prefetch()} }, defaults otherwise (history kept in the job row, leases + heartbeats, pollIntervalMs 1000)`;
  }

  /**
   * Jobs claimed ahead of free slots, as for high volumes of short jobs: 500, the size of
   * graphile-worker's local queue here, so both workers hold as many jobs ahead.
   */
  static prefetch(): number {
    return Number(process.env.JOBGRAPH_BENCH_PREFETCH ?? 500);
  }

  async reset(): Promise<void> {
    await ensureDatabase(this.database);
    await withClient(this.url, (c) => c.query("drop schema if exists jg cascade"));
    const queue = new Queue({ storage: new PostgresStorage({ connectionString: this.url, schema: "jg", max: 2 }) });
    await queue.migrate();
    await queue.shutdown();
    await queue.storage.close();
  }

  async openProducer(): Promise<void> {
    this.producer = new Queue({ storage: new PostgresStorage({ connectionString: this.url, schema: "jg", max: POOL }) });
  }

  async enqueueOne(payload: Record<string, unknown>): Promise<void> {
    await this.producer!.enqueue(QUEUE, payload);
  }

  async enqueueBulk(payloads: readonly Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < payloads.length; i += 10_000) {
      await this.producer!.enqueueMany(payloads.slice(i, i + 10_000).map((payload, k) => ({ key: `k${k}`, type: QUEUE, payload })));
    }
  }

  async enqueueDiamond(index: number): Promise<void> {
    await this.producer!.enqueueMany([
      { key: "a", type: QUEUE, payload: { d: index, n: "a" } },
      { key: "b1", type: QUEUE, payload: { d: index, n: "b1" }, dependsOn: ["a"] },
      { key: "b2", type: QUEUE, payload: { d: index, n: "b2" }, dependsOn: ["a"] },
      { key: "b3", type: QUEUE, payload: { d: index, n: "b3" }, dependsOn: ["a"] },
      { key: "c", type: QUEUE, payload: { d: index, n: "c" }, dependsOn: ["b1", "b2", "b3"] },
    ]);
  }

  /**
   * `JOBGRAPH_BENCH_CTX_TX=1`: each handler runs one statement in its attempt's transaction
   * (`ctx.tx`), which then commits with the job's completion: what exactly-once effects cost.
   */
  static inAttemptTransaction(): boolean {
    return process.env.JOBGRAPH_BENCH_CTX_TX === "1";
  }

  async startWorker(concurrency: number, handler: (payload: Record<string, unknown>) => void): Promise<void> {
    const queue = new Queue({ storage: new PostgresStorage({ connectionString: this.url, schema: "jg", max: POOL }), concurrency, prefetch: JobgraphSystem.prefetch() });
    const inTransaction = JobgraphSystem.inAttemptTransaction();
    queue.defineHandler(QUEUE, {
      run: async (payload, ctx) => {
        if (inTransaction) await (ctx.tx as (s: TemplateStringsArray) => Promise<unknown>)`select 1`;
        handler(payload as Record<string, unknown>);
        return null;
      },
    });
    await queue.start({ migrate: false });
    this.worker = queue;
  }

  async stopWorker(): Promise<void> {
    await this.worker?.shutdown();
    await this.worker?.storage.close();
    this.worker = undefined;
  }

  readonly unfinishedSql = "select count(*) as n from jg.jobs where status <> 'completed'";

  async close(): Promise<void> {
    await this.stopWorker();
    await this.producer?.shutdown();
    await this.producer?.storage.close();
    this.producer = undefined;
  }
}

// ---------------------------------------------------------------- pg-boss

export class PgBossSystem implements System {
  readonly name = "pg-boss";
  readonly database = "jobgraph_bench_pgboss";
  readonly url = urlFor(this.database);
  private producer: PgBoss | undefined;
  private worker: PgBoss | undefined;

  /**
   * Batch fetch sized to the concurrency, two local workers so one fetches while the other runs,
   * fetching again at once while batches come back full. Polling at its minimum (0.5 s) also with
   * NOTIFY on: jobs released by a completed flow parent send no NOTIFY, and the default 30 s
   * backstop would dominate the DAG workload.
   */
  static workOptions(concurrency: number) {
    const localConcurrency = 2;
    return { batchSize: Math.max(1, Math.ceil(concurrency / localConcurrency)), localConcurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5 };
  }

  settings(concurrency: number): string {
    return `PgBoss { max: ${POOL}, useListenNotify: true }, queue { notify: true }, work ${JSON.stringify(PgBossSystem.workOptions(concurrency))}; handler runs the batch with Promise.all`;
  }

  private boss(): PgBoss {
    const boss = new PgBoss({ connectionString: this.url, max: POOL, useListenNotify: true, schedule: false });
    boss.on("error", (error) => console.error("pg-boss error:", error));
    return boss;
  }

  async reset(): Promise<void> {
    await ensureDatabase(this.database);
    await withClient(this.url, (c) => c.query("drop schema if exists pgboss cascade"));
    const boss = this.boss();
    await boss.start();
    await boss.createQueue(QUEUE, { notify: true });
    await boss.stop({ graceful: false, wait: true });
  }

  async openProducer(): Promise<void> {
    const boss = this.boss();
    await boss.start();
    this.producer = boss;
  }

  async enqueueOne(payload: Record<string, unknown>): Promise<void> {
    await this.producer!.send(QUEUE, payload);
  }

  async enqueueBulk(payloads: readonly Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < payloads.length; i += 10_000) {
      await this.producer!.insert(QUEUE, payloads.slice(i, i + 10_000).map((data) => ({ data })));
    }
  }

  async enqueueDiamond(index: number): Promise<void> {
    await this.producer!.flow([
      { ref: "a", name: QUEUE, data: { d: index, n: "a" } },
      { ref: "b1", name: QUEUE, data: { d: index, n: "b1" }, dependsOn: ["a"] },
      { ref: "b2", name: QUEUE, data: { d: index, n: "b2" }, dependsOn: ["a"] },
      { ref: "b3", name: QUEUE, data: { d: index, n: "b3" }, dependsOn: ["a"] },
      { ref: "c", name: QUEUE, data: { d: index, n: "c" }, dependsOn: ["b1", "b2", "b3"] },
    ]);
  }

  async startWorker(concurrency: number, handler: (payload: Record<string, unknown>) => void): Promise<void> {
    const boss = this.boss();
    await boss.start();
    await boss.work(QUEUE, PgBossSystem.workOptions(concurrency), async (jobs) => {
      await Promise.all(jobs.map(async (job) => handler(job.data as Record<string, unknown>)));
    });
    this.worker = boss;
  }

  async stopWorker(): Promise<void> {
    await this.worker?.stop({ graceful: true, wait: true, timeout: 10_000 });
    this.worker = undefined;
  }

  readonly unfinishedSql = "select count(*) as n from pgboss.job where state <> 'completed'";

  async close(): Promise<void> {
    await this.stopWorker();
    await this.producer?.stop({ graceful: false, wait: true });
    this.producer = undefined;
  }
}

// ---------------------------------------------------------------- graphile-worker

export class GraphileSystem implements System {
  readonly name = "graphile-worker";
  readonly database = "jobgraph_bench_gw";
  readonly url = urlFor(this.database);
  private utils: WorkerUtils | undefined;
  private runner: Runner | undefined;

  static preset = { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } };

  settings(concurrency: number): string {
    return `run { concurrency: ${concurrency}, maxPoolSize: max(${POOL}, concurrency), pollInterval: 2000 (LISTEN/NOTIFY wakes), preset ${JSON.stringify(GraphileSystem.preset)} }; addJob / addJobs`;
  }

  async reset(): Promise<void> {
    await ensureDatabase(this.database);
    await withClient(this.url, (c) => c.query("drop schema if exists graphile_worker cascade"));
    const utils = await makeWorkerUtils({ connectionString: this.url });
    await utils.migrate();
    await utils.release();
  }

  async openProducer(): Promise<void> {
    this.utils = await makeWorkerUtils({ connectionString: this.url, maxPoolSize: POOL } as Parameters<typeof makeWorkerUtils>[0]);
  }

  async enqueueOne(payload: Record<string, unknown>): Promise<void> {
    await this.utils!.addJob(QUEUE, payload);
  }

  async enqueueBulk(payloads: readonly Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < payloads.length; i += 10_000) {
      await this.utils!.addJobs(payloads.slice(i, i + 10_000).map((payload) => ({ identifier: QUEUE, payload })));
    }
  }

  async startWorker(concurrency: number, handler: (payload: Record<string, unknown>) => void): Promise<void> {
    this.runner = await run({
      connectionString: this.url,
      concurrency,
      maxPoolSize: Math.max(POOL, concurrency),
      pollInterval: 2_000,
      noHandleSignals: true,
      logger: quietLogger(),
      preset: GraphileSystem.preset,
      taskList: {
        [QUEUE]: async (payload) => {
          handler(payload as Record<string, unknown>);
        },
      },
    });
  }

  async stopWorker(): Promise<void> {
    await this.runner?.stop();
    this.runner = undefined;
  }

  readonly unfinishedSql = "select count(*) as n from graphile_worker._private_jobs";

  async close(): Promise<void> {
    await this.stopWorker();
    await this.utils?.release();
    this.utils = undefined;
  }
}

function quietLogger() {
  // graphile-worker's Logger: only warnings and errors reach the console.
  return new Logger(() => (level: string, message: string) => {
    if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
  });
}

export function makeSystems(only?: readonly string[]): System[] {
  const all: System[] = [new JobgraphSystem(), new PgBossSystem(), new GraphileSystem()];
  return only === undefined || only.length === 0 ? all : all.filter((s) => only.includes(s.name));
}
