// Where the latency from `enqueue` to handler start goes, in the workload of the benchmark (one job
// every 10 ms, a worker at concurrency 10): timestamps on the worker store's `claimJobs` and change feed.
//   node --import tsx bench/latency-parts.ts [jobs=1000]
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Queue } from "../src/index.ts";
import { PostgresStorage } from "../src/storage/postgres/index.ts";
import type { ChangeListener } from "../src/storage/storage.ts";
import { ensureDatabase, urlFor, withClient } from "./lib/db.ts";
import { commandLine, parseCommandLine, UsageError, wholeNumber } from "./lib/args.ts";

const usage = "node --import tsx bench/latency-parts.ts [jobs=1000]";
const n = commandLine((argv) => {
  const [jobs, ...extra] = parseCommandLine(argv, usage, {}, true).positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, usage);
  return wholeNumber(jobs, "jobs", 1_000, usage);
});
const database = "jobgraph_bench_profile";
await ensureDatabase(database);
const url = urlFor(database);
const schema = `lp_${randomUUID().slice(0, 8)}`;
const marks = new Map<number, Record<string, number>>();
const mark = (i: number, name: string, at = performance.now()) => {
  const m = marks.get(i) ?? {};
  m[name] ??= at;
  marks.set(i, m);
};
const indexOf = new Map<string, number>();

const store = new PostgresStorage({ connectionString: url, schema, max: 10 });
const subscribe = store.subscribe.bind(store);
store.subscribe = (listener: ChangeListener) =>
  subscribe({
    onChange: (changes) => {
      for (const change of changes) {
        const i = indexOf.get(change.id);
        if (i !== undefined && change.status === "pending") mark(i, "notified");
      }
      listener.onChange(changes);
    },
    onReset: () => listener.onReset?.(),
  });
const claimJobs = store.claimJobs.bind(store);
store.claimJobs = async (request) => {
  const started = performance.now();
  const result = await claimJobs(request);
  for (const { job } of result.claimed) {
    const i = indexOf.get(job.id);
    if (i !== undefined) {
      mark(i, "claimStart", started);
      mark(i, "claimed");
    }
  }
  return result;
};
const worker = new Queue({ storage: store, concurrency: 10 });
worker.defineHandler("noop", { run: (payload) => void (typeof (payload as { i?: unknown }).i === "number" && mark((payload as { i: number }).i, "handler")) });
const producer = new Queue({ storage: new PostgresStorage({ connectionString: url, schema, max: 10 }) });
try {
  await worker.migrate();
  await worker.start({ migrate: false });
  for (let w = 0; w < 20; w++) await producer.enqueue("noop", { w });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = start + i * 10 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    mark(i, "sent");
    void producer.enqueue("noop", { i }).then((job) => {
      indexOf.set(job.id, i);
      mark(i, "enqueued");
    });
  }
  const deadline = Date.now() + 30_000;
  while ([...marks.values()].filter((m) => m.handler !== undefined).length < n) {
    if (Date.now() > deadline) throw new Error("not every job started within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const parts = {
    total: (m: Record<string, number>) => m.handler! - m.sent!,
    enqueueCall: (m: Record<string, number>) => m.enqueued! - m.sent!,
    enqueueReturnedToClaim: (m: Record<string, number>) => m.claimStart! - m.enqueued!,
    claim: (m: Record<string, number>) => m.claimed! - m.claimStart!,
    claimToHandler: (m: Record<string, number>) => m.handler! - m.claimed!,
  };
  for (const [name, of] of Object.entries(parts)) {
    const values = [...marks.values()].map(of).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
    const at = (q: number) => values[Math.min(values.length - 1, Math.floor(q * values.length))]!.toFixed(2);
    console.log(`${name.padEnd(24)} ms  p50 ${at(0.5)}  p95 ${at(0.95)}  p99 ${at(0.99)}`);
  }
} finally {
  await producer.shutdown();
  await worker.shutdown();
  await producer.storage.close();
  await worker.storage.close();
  await withClient(url, (c) => c.query(`drop schema if exists ${schema} cascade`));
}
