// jobgraph's processing path on its own, with the database's own counters: commits, rows written
// and NOTIFYs per job. Run under the CPU profiler to see where the worker's time goes:
//   node --import tsx --cpu-prof --cpu-prof-dir=bench/results bench/profile.ts [jobs] [concurrency]
//   node bench/top-functions.ts bench/results/<file>.cpuprofile
// JOBGRAPH_BENCH_TRACE=1 adds how the claims and settles used the database (lib/store-calls.ts);
// JOBGRAPH_BENCH_HEAP_PROFILE=<file> what the worker allocated per job (and the profile, by site).
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { GraphileSystem, JobgraphSystem } from "./lib/systems.ts";
import { resetSystem, waitAllDone } from "./lib/workloads.ts";
import { commandLine, parseCommandLine, UsageError, wholeNumber } from "./lib/args.ts";
import { backendCpu, backendCpuSpent } from "./lib/backend-cpu.ts";
import { traceStoreCalls } from "./lib/store-calls.ts";

const usage = "node --import tsx bench/profile.ts [jobs=10000] [concurrency=10]";
const [n, concurrency] = commandLine((argv) => {
  const [jobs, workers, ...extra] = parseCommandLine(argv, usage, {}, true).positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, usage);
  return [wholeNumber(jobs, "jobs", 10_000, usage), wholeNumber(workers, "concurrency", 10, usage)];
});
// A database of its own, so a profile never disturbs a benchmark run. JOBGRAPH_BENCH_SYSTEM=graphile-worker
// measures graphile-worker the same way (as `npm run bench` sets it up), for the CPU a job costs each.
const onGraphile = process.env.JOBGRAPH_BENCH_SYSTEM === "graphile-worker";
if (!onGraphile && (process.env.JOBGRAPH_BENCH_SYSTEM ?? "jobgraph") !== "jobgraph") throw new Error("JOBGRAPH_BENCH_SYSTEM is jobgraph or graphile-worker");
const system = onGraphile ? new GraphileSystem() : new JobgraphSystem("jobgraph_bench_profile");
await resetSystem(system);
await system.openProducer();
await system.enqueueBulk(Array.from({ length: n }, (_, i) => ({ i })));
await system.close();

const stats = async () => {
  const client = new pg.Client({ connectionString: system.url });
  await client.connect();
  try {
    const db = (await client.query("select xact_commit::bigint as commits, tup_inserted::bigint as inserted, tup_updated::bigint as updated, tup_returned::bigint as returned from pg_stat_database where datname = current_database()")).rows[0];
    const logs = onGraphile ? 0 : (await client.query("select count(*)::bigint as n from jg.job_logs")).rows[0].n;
    return { commits: Number(db.commits), inserted: Number(db.inserted), updated: Number(db.updated), logs: Number(logs) };
  } finally {
    await client.end();
  }
};
// pg_stat_database is updated by each backend when it goes idle; give it a moment.
await new Promise((r) => setTimeout(r, 1_000));
const before = await stats();
/** The machine's CPU counters (all cores; Linux only): busy and total jiffies. */
const cpuTimes = () => {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
};
const dbBefore = await backendCpu(system.url);
// JOBGRAPH_BENCH_CPU_PROFILE=<file>: a CPU profile of the processing alone (first handler call to the last).
const profileFile = process.env.JOBGRAPH_BENCH_CPU_PROFILE;
const inspector = profileFile === undefined ? undefined : new Session();
inspector?.connect();
await inspector?.post("Profiler.enable");
// JOBGRAPH_BENCH_HEAP_PROFILE=<file>: a sampling heap profile of the processing alone, counting what
// the collector freed as well, so its total is what the worker allocated (printed per job).
const heapFile = process.env.JOBGRAPH_BENCH_HEAP_PROFILE;
const heapSession = heapFile === undefined ? undefined : new Session();
heapSession?.connect();
const trace = process.env.JOBGRAPH_BENCH_TRACE === "1" ? traceStoreCalls() : undefined;
let handled = 0;
let first = 0;
let cpuAtFirst = cpuTimes();
let workerCpuAtFirst = process.cpuUsage();
let loopAtFirst = performance.eventLoopUtilization();
await system.startWorker(concurrency, () => {
  if (handled++ === 0) {
    first = performance.now();
    cpuAtFirst = cpuTimes();
    workerCpuAtFirst = process.cpuUsage();
    loopAtFirst = performance.eventLoopUtilization();
    void inspector?.post("Profiler.start");
    void heapSession?.post("HeapProfiler.startSampling", { samplingInterval: 4_096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
});
const end = await waitAllDone(system, () => handled, n, 300_000);
const cpuAtEnd = cpuTimes();
const workerCpu = process.cpuUsage(workerCpuAtFirst);
const loop = performance.eventLoopUtilization(loopAtFirst);
if (inspector !== undefined && profileFile !== undefined) {
  const { profile } = await inspector.post("Profiler.stop");
  writeFileSync(profileFile, JSON.stringify(profile));
  inspector.disconnect();
}
let allocatedBytesPerJob: number | undefined;
if (heapSession !== undefined && heapFile !== undefined) {
  const { profile } = await heapSession.post("HeapProfiler.stopSampling");
  writeFileSync(heapFile, JSON.stringify(profile));
  heapSession.disconnect();
  allocatedBytesPerJob = Math.round(profile.samples.reduce((sum, sample) => sum + sample.size, 0) / n);
}
const dbSpent = backendCpuSpent(dbBefore, await backendCpu(system.url));
await system.stopWorker();
await new Promise((r) => setTimeout(r, 1_500));
const after = await stats();
const per = (k: keyof typeof before) => ((after[k] - before[k]) / n).toFixed(2);
console.log(
  JSON.stringify({
    jobs: n,
    concurrency,
    jobsPerSecond: Math.round((n / (end - first)) * 1000),
    // Of all cores of the machine (worker process and PostgreSQL together), while processing.
    cpuBusyPercent: Math.round((100 * (cpuAtEnd.busy - cpuAtFirst.busy)) / (cpuAtEnd.total - cpuAtFirst.total)),
    // CPU time of PostgreSQL's backends for this database per job (null when the server is elsewhere).
    dbCpuUsPerJob: dbSpent === null ? null : Math.round(dbSpent / n),
    // CPU time of this process (the worker: its own work, the driver, garbage collection) per job.
    workerCpuUsPerJob: Math.round((workerCpu.user + workerCpu.system) / n),
    // Of that, the kernel's (socket reads and writes, page faults).
    workerSystemUsPerJob: Math.round(workerCpu.system / n),
    // How busy the worker's event loop was while processing: near 100 means the process, not the database, is the bound.
    eventLoopBusyPercent: Math.round(100 * loop.utilization),
    perJob: { commits: per("commits"), rowsInserted: per("inserted"), rowsUpdated: per("updated"), statusLogRows: per("logs") },
    ...(allocatedBytesPerJob === undefined ? {} : { allocatedBytesPerJob }),
    ...(trace === undefined ? {} : { storeCalls: trace.summary(first, end) }),
  }),
);
