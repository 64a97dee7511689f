/**
 * A standalone worker: runs the example services' jobs from PostgreSQL, next to any number of
 * other workers and producers on the same database. SIGTERM or SIGINT stops it gracefully: no new
 * claims, running jobs get `shutdownGraceMs`, the rest go back to pending without losing an attempt.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx examples/worker.ts
 */
import postgres from "postgres";
import { Queue } from "jobgraph";
import { PostgresStorage } from "jobgraph/postgres";
import defineHandlers from "./worker-handlers.js";

const url = process.env.DATABASE_URL;
if (url === undefined || url === "") {
  console.error("set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test");
  process.exit(1);
}

// The application's own pool: jobgraph uses it too, and ctx.tx writes to the application's tables.
const sql = postgres(url, { max: 10, onnotice: () => undefined });

const queue = new Queue({
  storage: new PostgresStorage({ sql, schema: "jobgraph_example" }),
  capacity: { cpu: 2 },
  concurrency: Number(process.env.CONCURRENCY ?? 8),
  shutdownGraceMs: 20_000,
});
queue.on("job:completed", ({ job, runTimeMs }) => console.log(`completed ${job.type} ${job.id} in ${runTimeMs} ms`));
queue.on("job:failed", ({ job, error }) => console.log(`failed ${job.type} ${job.id}: ${error.message}`));
queue.on("queue:error", ({ error, context }) => console.error(`queue error (${context}):`, error));

// The same handlers `jobgraph worker --handlers examples/worker-handlers.ts` runs (docker-compose.yml).
await defineHandlers(queue);

let stopping: Promise<void> | undefined;
const stop = (signal: string) => {
  stopping ??= (async () => {
    console.log(`${signal}: finishing running jobs, then exiting`);
    await queue.shutdown();
    await queue.storage.close(); // the queue leaves a store it was given open, and the store a pool
    await sql.end({ timeout: 5 });
    process.exit(0);
  })();
};
process.once("SIGTERM", () => stop("SIGTERM"));
process.once("SIGINT", () => stop("SIGINT"));

await queue.start(); // migrates the schema under an advisory lock, then claims jobs
console.log(`worker ${process.pid} running jobs from PostgreSQL`);
