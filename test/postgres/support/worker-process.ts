// A worker process for the multi-process tests: `node --import tsx worker-process.ts`.
// Configured by environment: DATABASE_URL, JOBGRAPH_SCHEMA, CONCURRENCY, LEASE_MS, HOLD ("1": the
// "ledger.hold" handler holds its job until its signal aborts). Prints "ready" once it claims work.
import postgres from "postgres";
import { Queue } from "../../../src/queue.js";
import { PostgresStorage, attemptSql } from "../../../src/storage/postgres/index.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = process.env.JOBGRAPH_SCHEMA ?? "jobgraph";
const hold = process.env.HOLD === "1";
const workerId = `${process.pid}`;
// Only for the identifier helper: the ledger's schema in the handler's statement.
const names = postgres(url, { max: 1 });
const ledger = names(schema);

const queue = new Queue({
  storage: new PostgresStorage({ connectionString: url, schema, max: 12 }),
  concurrency: Number(process.env.CONCURRENCY ?? 10),
  leaseMs: Number(process.env.LEASE_MS ?? 30_000),
  pollIntervalMs: 200,
  capacity: { cpu: 64 },
  shutdownGraceMs: 5_000,
  workerId,
});
queue.on("queue:error", ({ error, context }) => console.error(`queue:error ${context}:`, error));

/** Records this attempt in the ledger inside the completion's transaction: a second completion would violate its key. */
async function record(ctx: { job: { id: string }; attempt: number; tx: unknown }): Promise<void> {
  await attemptSql(ctx)`insert into ${ledger}.ledger (job_id, worker, attempt) values (${ctx.job.id}, ${workerId}, ${ctx.attempt})`;
}

queue.defineHandler("ledger.write", {
  retry: { maxAttempts: 3, backoff: { baseMs: 10, jitter: false } },
  run: async (_payload, ctx) => {
    await record(ctx);
    return { worker: workerId };
  },
});

queue.defineHandler("ledger.hold", {
  retry: { maxAttempts: 3, backoff: { baseMs: 10, jitter: false } },
  run: async (_payload, ctx) => {
    await record(ctx);
    if (hold) await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
    return { worker: workerId };
  },
});

let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  void queue
    .shutdown()
    .then(() => names.end())
    .then(() => process.exit(0));
});

await queue.start();
process.stdout.write("ready\n");
