// enqueueMany of 10,000 jobs on PostgreSQL, four times in one schema; prints jobs/s and the process's CPU,
// and of that call the store's own (`storeWallMs`, `storeCpuMs`: what is left of its wall time is the database's).
//   node --import tsx bench/bulk-insert.ts   (SCHEMA_VARIANT=nofk,noidx,... to compare)
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Queue } from "../src/index.ts";
import { PostgresStorage } from "../src/storage/postgres/index.ts";
import { ensureDatabase, urlFor, withClient } from "./lib/db.ts";
import { applySchemaVariants } from "./lib/schema-variants.ts";

const database = "jobgraph_bench_profile";
await ensureDatabase(database);
const url = urlFor(database);
const schema = `bi_${randomUUID().slice(0, 8)}`;
const storage = new PostgresStorage({ connectionString: url, schema, max: 4 });
const insertJobs = storage.insertJobs.bind(storage);
let store = { wallMs: 0, cpuMs: 0 };
storage.insertJobs = async (request) => {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  try {
    return await insertJobs(request);
  } finally {
    const used = process.cpuUsage(cpu);
    store = { wallMs: performance.now() - t0, cpuMs: (used.user + used.system) / 1000 };
  }
};
const queue = new Queue({ storage });
try {
  await queue.migrate();
  await applySchemaVariants(url, schema);
  for (let round = 0; round < 4; round++) {
    const nodes = Array.from({ length: 10_000 }, (_, k) => ({ key: `k${k}`, type: "noop", payload: { i: k } }));
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await queue.enqueueMany(nodes);
    const wallMs = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ round: round + 1, jobsPerSecond: Math.round((10_000 / wallMs) * 1000), wallMs: Math.round(wallMs), processCpuMs: Math.round((used.user + used.system) / 1000),
      storeWallMs: Math.round(store.wallMs), storeCpuMs: Math.round(store.cpuMs) }));
  }
} finally {
  await queue.shutdown();
  await queue.storage.close();
  await withClient(url, (c) => c.query(`drop schema if exists ${schema} cascade`));
}
