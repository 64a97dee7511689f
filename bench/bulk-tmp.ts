import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Session } from "node:inspector/promises";
import { Queue } from "../src/index.ts";
import { PostgresStorage } from "../src/storage/postgres/index.ts";
import { ensureDatabase, urlFor, withClient } from "./lib/db.ts";
import { writeFileSync } from "node:fs";
const database = "jobgraph_bench_profile";
await ensureDatabase(database);
const url = urlFor(database);
const schema = `bi_${randomUUID().slice(0, 8)}`;
const storage = new PostgresStorage({ connectionString: url, schema, max: 4 });
const queue = new Queue({ storage });
const s = new Session(); s.connect(); await s.post("Profiler.enable"); await s.post("Profiler.setSamplingInterval", { interval: 100 });
try {
  await queue.migrate();
  await queue.enqueueMany(Array.from({ length: 50 }, (_, k) => ({ key: `k${k}`, type: "noop", payload: { warm: k } })));
  const nodes = Array.from({ length: 10_000 }, (_, k) => ({ key: `k${k}`, type: "noop", payload: { i: k } }));
  if (process.env.PROF) await s.post("Profiler.start");
  const cpu = process.cpuUsage(); const t0 = performance.now();
  await queue.enqueueMany(nodes);
  const wallMs = performance.now() - t0; const used = process.cpuUsage(cpu);
  if (process.env.PROF) { const { profile } = await s.post("Profiler.stop"); writeFileSync(process.env.PROF, JSON.stringify(profile)); }
  console.log(JSON.stringify({ jobsPerSecond: Math.round(10_000 / wallMs * 1000), wallMs: Math.round(wallMs), cpuMs: Math.round((used.user + used.system) / 1000) }));
} finally { await queue.shutdown(); await queue.storage.close(); await withClient(url, (c) => c.query(`drop schema if exists ${schema} cascade`)); }
