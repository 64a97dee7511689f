// Cancelling the root of a dense graph (job i depends on every earlier job: n^2/2 edges, a path for
// every subset of jobs), and failing it in a settle, on both stores. The cascade visits each job and
// each edge once, so the cancel should cost about what the insert of those edges costs, not minutes.
// Prints, per store and size, the insert, the cancel and the failure cascade in ms, cancel/insert, and
// the cancel of a 1,000-job chain inserted beside those graphs.
//   node --import tsx bench/dense-cancel.ts [sizes=100,200,300]
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import postgres from "postgres";
import { DEFAULT_BACKOFF } from "../src/retry.ts";
import { MemoryStorage } from "../src/storage/memory.ts";
import { PostgresStorage } from "../src/storage/postgres/index.ts";
import type { Storage } from "../src/storage/storage.ts";
import type { NewJob } from "../src/types.ts";
import { commandLine, parseCommandLine, UsageError, wholeNumber } from "./lib/args.ts";

const usage = "node --import tsx bench/dense-cancel.ts [sizes=100,200,300]";
const sizes = commandLine((argv) => {
  const [list, ...extra] = parseCommandLine(argv, usage, {}, true).positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, usage);
  return (list ?? "100,200,300").split(",").map((size) => wholeNumber(size, "a size", 0, usage));
});
const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function denseGraph(size: number): NewJob[] {
  const jobs: NewJob[] = [];
  for (let i = 0; i < size; i++) {
    jobs.push({
      id: randomUUID(), type: i === 0 ? "root" : "dependent", priority: "normal", payload: { i }, maxAttempts: 1, backoff: DEFAULT_BACKOFF,
      dependsOn: jobs.map((job) => job.id), idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 1_000),
    });
  }
  return jobs;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await work();
  return [value, performance.now() - t0];
}

/** One dense graph cancelled at its root, another failed at its root in a settle. */
async function measure(store: Storage, size: number) {
  const cancelGraph = denseGraph(size);
  const [, insertMs] = await timed(() => store.insertJobs({ jobs: cancelGraph, onDuplicate: "reject", now: new Date() }));
  const [cancelled, cancelMs] = await timed(() => store.cancelJobs([cancelGraph[0]!.id], new Date()));
  if (cancelled.cancelled.length !== size) throw new Error(`cancel reached ${cancelled.cancelled.length} of ${size} jobs`);

  await store.insertJobs({ jobs: denseGraph(size), onDuplicate: "reject", now: new Date() });
  const request = { workerId: "bench", types: ["root"], limit: 1, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() };
  const [claimed] = (await store.claimJobs(request)).claimed;
  if (claimed === undefined) throw new Error("no root to claim");
  const outcome = { type: "failed" as const, error: { name: "Error", message: "bench" } };
  const [[settled], failMs] = await timed(() => store.settle([{ lease: claimed.lease, outcome }], new Date()));
  if (settled?.type !== "settled" || settled.cancelled.length !== size - 1) throw new Error("the failure did not cascade to every dependent");

  // A long chain among those edges: a walk that scanned every edge at each step would cost depth x edges.
  const chain: NewJob[] = [];
  for (let i = 0; i < 1_000; i++) chain.push({ ...denseGraph(1)[0]!, type: "dependent", dependsOn: i === 0 ? [] : [chain[i - 1]!.id] });
  await store.insertJobs({ jobs: chain, onDuplicate: "reject", now: new Date() });
  const [chained, chainCancelMs] = await timed(() => store.cancelJobs([chain[0]!.id], new Date()));
  if (chained.cancelled.length !== chain.length) throw new Error(`chain cancel reached ${chained.cancelled.length} of ${chain.length} jobs`);
  return {
    size, edges: (size * (size - 1)) / 2, insertMs: Math.round(insertMs), cancelMs: Math.round(cancelMs), failCascadeMs: Math.round(failMs),
    cancelPerInsert: Number((cancelMs / insertMs).toFixed(3)), chain1000CancelMs: Math.round(chainCancelMs),
  };
}

for (const size of sizes) {
  const memory = new MemoryStorage();
  console.log(JSON.stringify({ store: "memory", ...(await measure(memory, size)) }));
  await memory.close();

  const schema = `dense_${randomUUID().slice(0, 8)}`;
  const store = new PostgresStorage({ connectionString: url, schema, max: 4, listen: false });
  try {
    await store.setup();
    console.log(JSON.stringify({ store: "postgres", ...(await measure(store, size)) }));
  } finally {
    await store.close();
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    await sql`drop schema if exists ${sql(schema)} cascade`;
    await sql.end();
  }
}
