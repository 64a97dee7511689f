// The store alone, no queue: claim N pre-inserted jobs B at a time and settle each batch as completed,
// in series; prints the store's time per job for each, and the process's CPU per job.
//   node --import tsx bench/claim-settle.ts [jobs=20000] [batch=50]   (SCHEMA_VARIANT=nofk,noidx,... to compare)
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { PostgresStorage } from "../src/storage/postgres/index.ts";
import { DEFAULT_BACKOFF } from "../src/retry.ts";
import { ensureDatabase, urlFor, withClient } from "./lib/db.ts";
import { applySchemaVariants } from "./lib/schema-variants.ts";
import { commandLine, parseCommandLine, UsageError, wholeNumber } from "./lib/args.ts";

const usage = "node --import tsx bench/claim-settle.ts [jobs=20000] [batch=50]";
const [n, batch] = commandLine((argv) => {
  const [jobs, size, ...extra] = parseCommandLine(argv, usage, {}, true).positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, usage);
  return [wholeNumber(jobs, "jobs", 20_000, usage), wholeNumber(size, "batch", 50, usage)];
});
const database = "jobgraph_bench_profile";
await ensureDatabase(database);
const url = urlFor(database);
const schema = `cs_${randomUUID().slice(0, 8)}`;
const store = new PostgresStorage({ connectionString: url, schema, max: 4, listen: false });
try {
  await store.setup();
  await applySchemaVariants(url, schema);
  for (let i = 0; i < n; i += 5_000) {
    const jobs = Array.from({ length: Math.min(5_000, n - i) }, (_, k) => ({
      id: randomUUID(), type: "t", priority: "normal" as const, payload: { i: i + k }, maxAttempts: 3, backoff: DEFAULT_BACKOFF, dependsOn: [],
      idempotencyKey: undefined, resources: {}, timeoutMs: undefined, runAt: new Date(Date.now() - 1_000),
    }));
    await store.insertJobs({ jobs, onDuplicate: "reject", now: new Date() });
  }
  let claimMs = 0;
  let settleMs = 0;
  let done = 0;
  const cpu = process.cpuUsage();
  for (;;) {
    const t0 = performance.now();
    const { claimed } = await store.claimJobs({ workerId: "w", types: ["t"], limit: batch, free: {}, capacity: {}, starvationMs: 300_000, leaseMs: 30_000, now: new Date() });
    const t1 = performance.now();
    if (claimed.length === 0) break;
    await store.settle(claimed.map((c) => ({ lease: c.lease, outcome: { type: "completed" as const, result: null } })), new Date());
    claimMs += t1 - t0;
    settleMs += performance.now() - t1;
    done += claimed.length;
  }
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({
    jobs: done, batch, variants: process.env.SCHEMA_VARIANT ?? "",
    claimUsPerJob: Math.round((claimMs / done) * 1000), settleUsPerJob: Math.round((settleMs / done) * 1000),
    jobsPerSecond: Math.round(done / ((claimMs + settleMs) / 1000)), processCpuUsPerJob: Math.round((used.user + used.system) / done),
  }));
} finally {
  await store.close();
  await withClient(url, (c) => c.query(`drop schema if exists ${schema} cascade`));
}
