// The benchmark: jobgraph (PostgresStorage) against pg-boss and graphile-worker on the same
// PostgreSQL, interleaved round by round, with pgbench's ceiling for the same work.
//   npm run bench                 full run (3 rounds)
//   npm run bench -- --quick      smaller sizes, under 2 minutes
//   options: --rounds N, --memory-rounds N (default 1), --only jobgraph,pg-boss, --workloads seq,producers,bulk,process,latency,dag,memory,pgbench
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { commandLine } from "./lib/args.ts";
import { BASE_URL, serverInfo } from "./lib/db.ts";
import { CEILING_CASES, findPgbench, runCeiling } from "./lib/pgbench.ts";
import { parseRunArgs } from "./lib/run-args.ts";
import { makeSystems, PgBossSystem, type System } from "./lib/systems.ts";
import { bulkEnqueue, concurrentEnqueue, dag, latency, processJobs, sequentialEnqueue, withProducer } from "./lib/workloads.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const { quick, rounds, memoryRounds, only, workloads: selected } = commandLine(parseRunArgs);
const want = (w: string) => selected === undefined || selected.includes(w);

const sizes = quick
  ? { seq: 500, producers: 1_000, bulk: 5_000, process: 2_000, latency: 150, diamonds: 20, memory: 10_000 }
  : { seq: 10_000, producers: 10_000, bulk: 10_000, process: 10_000, latency: 1_000, diamonds: 500, memory: 100_000 };

type Better = "higher" | "lower";
interface Metric {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly values: Map<string, number[]>;
  ceiling?: string;
  note?: string;
}
const metrics = new Map<string, Metric>();
const metric = (key: string, label: string, unit: string, better: Better): Metric => {
  let m = metrics.get(key);
  if (m === undefined) {
    m = { key, label, unit, better, values: new Map() };
    metrics.set(key, m);
  }
  return m;
};
const record = (m: Metric, system: string, value: number) => {
  const list = m.values.get(system) ?? [];
  list.push(value);
  m.values.set(system, list);
};
const ceilings = new Map<string, number[]>();

const systems = makeSystems(only);
const log = (line: string) => process.stderr.write(`${line}\n`);

async function memoryRun(system: System, n: number): Promise<{ peakMb: number; growthMb: number; byTenthMb: number[] }> {
  await withProducer(system, () => system.enqueueBulk(Array.from({ length: n }, (_, i) => ({ i }))));
  const child = execFile(process.execPath, ["--import", "tsx", join(here, "memory-child.ts"), system.name, String(n), "50"], { cwd: root, timeout: 600_000, maxBuffer: 1 << 20 });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`memory child for ${system.name} exited ${code}: ${err.slice(-2000)}`);
  const report = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { peakMb: number; byTenthMb: number[] };
  const t = report.byTenthMb;
  // Growth: the highest RSS over the last three tenths of the jobs minus that over tenths 2 to 4.
  const growthMb = Math.max(...t.slice(7)) - Math.max(...t.slice(1, 4));
  return { peakMb: report.peakMb, growthMb: Math.round(growthMb * 10) / 10, byTenthMb: t };
}

async function timed<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
  const t0 = Date.now();
  try {
    const value = await work();
    log(`  ${what}: ${typeof value === "number" ? value.toFixed(1) : JSON.stringify(value)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return value;
  } catch (error) {
    log(`  ${what}: FAILED ${(error as Error).stack ?? String(error)}`);
    return undefined;
  }
}

const started = Date.now();
const pgbench = findPgbench();
const server = await serverInfo();
log(`bench: ${quick ? "quick" : "full"}, ${rounds} rounds, systems ${systems.map((s) => s.name).join(", ")}, server ${BASE_URL.replace(/:[^:@/]*@/, ":***@")}`);

for (let round = 1; round <= rounds; round++) {
  log(`round ${round}/${rounds} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (want("pgbench") && pgbench !== undefined && (round === 1 || !quick)) {
    for (const c of CEILING_CASES) {
      const v = await timed(`pgbench ${c.label}`, () => runCeiling(pgbench, c, quick));
      if (v !== undefined) ceilings.set(c.key, [...(ceilings.get(c.key) ?? []), v]);
    }
  }
  const each = async (name: string, m: Metric, work: (s: System) => Promise<number | undefined>) => {
    for (const s of systems) {
      const v = await timed(`${name} ${s.name}`, () => work(s));
      if (v !== undefined) record(m, s.name, v);
    }
  };
  if (want("seq")) await each("seq", metric("seq", `(1) enqueue ${sizes.seq.toLocaleString("en")}, sequential`, "jobs/s", "higher"), (s) => sequentialEnqueue(s, sizes.seq));
  if (want("producers")) await each("producers", metric("producers", `(2) enqueue ${sizes.producers.toLocaleString("en")}, 50 producers`, "jobs/s", "higher"), (s) => concurrentEnqueue(s, sizes.producers, 50));
  if (want("bulk")) await each("bulk", metric("bulk", `(3) bulk enqueue ${sizes.bulk.toLocaleString("en")}`, "jobs/s", "higher"), (s) => bulkEnqueue(s, sizes.bulk));
  if (want("process")) {
    for (const c of [10, 50]) await each(`process c${c}`, metric(`process${c}`, `(4) process ${sizes.process.toLocaleString("en")}, concurrency ${c}`, "jobs/s", "higher"), (s) => processJobs(s, sizes.process, c));
  }
  if (want("latency")) {
    const p50 = metric("p50", `(5) latency p50 (1 job / 10 ms, ${sizes.latency})`, "ms", "lower");
    const p95 = metric("p95", "(5) latency p95", "ms", "lower");
    const p99 = metric("p99", "(5) latency p99", "ms", "lower");
    for (const s of systems) {
      const v = await timed(`latency ${s.name}`, () => latency(s, sizes.latency, 10));
      if (v !== undefined) {
        record(p50, s.name, v.p50);
        record(p95, s.name, v.p95);
        record(p99, s.name, v.p99);
      }
    }
  }
  if (want("dag")) await each("dag", metric("dag", `(6) DAG ${sizes.diamonds} diamonds (1→3→1), conc. 10`, "ms", "lower"), (s) => dag(s, sizes.diamonds, 10));
  if (want("memory") && round <= memoryRounds) {
    const peak = metric("rss", `(7) worker peak RSS, ${sizes.memory.toLocaleString("en")} jobs, conc. 50`, "MB", "lower");
    const growth = metric("growth", "(7) RSS growth, last 30% vs 10–40% of jobs", "MB", "lower");
    for (const s of systems) {
      const v = await timed(`memory ${s.name}`, () => memoryRun(s, sizes.memory));
      if (v !== undefined) {
        record(peak, s.name, v.peakMb);
        record(growth, s.name, v.growthMb);
      }
    }
  }
}

// ---------------------------------------------------------------- the table

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (x: number) => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString("en") : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
const cell = (xs: readonly number[] | undefined) =>
  xs === undefined || xs.length === 0 ? "n/a" : xs.length === 1 ? fmt(xs[0]!) : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;

/** Per workload, the pgbench cases on a minimal table and on jobgraph's own tables (history in the job row, as schema generation 2 keeps it). */
const ceilingFor: Record<string, string[]> = {
  seq: ["insert-c1"],
  producers: ["insert-c50"],
  bulk: ["insert-bulk"],
  process10: ["claim50-c1", "claim50-c4"],
  process50: ["claim50-c1", "claim50-c4"],
};
const jobgraphCeilingFor: Record<string, string[]> = {
  bulk: ["insert-bulk-jg"],
  process10: ["claim50-jg-c1", "claim50-jg-c4"],
  process50: ["claim50-jg-c1", "claim50-jg-c4"],
};
const bestCeiling = (key: string, table = ceilingFor) => {
  const cases = table[key];
  if (cases === undefined) return undefined;
  const medians = cases.map((c) => ceilings.get(c)).filter((x): x is number[] => x !== undefined && x.length > 0).map(median);
  return medians.length === 0 ? undefined : Math.max(...medians);
};

const names = systems.map((s) => s.name);
const header = ["workload", "unit", ...names, "PG ceiling", "PG ceiling, jobgraph's rows", "jobgraph / best peer"];
const rows: string[][] = [];
for (const m of metrics.values()) {
  const jg = m.values.get("jobgraph");
  const peers = names.filter((n) => n !== "jobgraph").map((n) => m.values.get(n)).filter((x): x is number[] => x !== undefined && x.length > 0).map(median);
  let ratio = "n/a";
  if (jg !== undefined && jg.length > 0 && peers.length > 0 && m.key !== "growth") {
    const best = m.better === "higher" ? Math.max(...peers) : Math.min(...peers);
    ratio = `${(median(jg) / best).toFixed(2)}× (${m.better} is better)`;
  }
  const ceiling = bestCeiling(m.key);
  const ownCeiling = bestCeiling(m.key, jobgraphCeilingFor);
  rows.push([m.label, m.unit, ...names.map((n) => cell(m.values.get(n))), ceiling === undefined ? "" : fmt(ceiling), ownCeiling === undefined ? "" : fmt(ownCeiling), ratio]);
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
const out: string[] = [];
out.push(line(header));
out.push(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) out.push(line(r));

const ceilingRows = CEILING_CASES.filter((c) => ceilings.has(c.key)).map((c) => `| ${c.label} | ${cell(ceilings.get(c.key))} jobs/s |`);

const settingsLines = systems.map((s) => `- ${s.name}: ${s.settings(10)} (concurrency 10 shown; 50 likewise${s instanceof PgBossSystem ? `: ${JSON.stringify(PgBossSystem.workOptions(50))}` : ""})`);
const machine = `${os.cpus().length} CPUs (nproc ${os.availableParallelism()}), ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, PostgreSQL ${server.version} (${Object.entries(server.settings).map(([k, v]) => `${k}=${v}`).join(", ")}), Node ${process.version}`;
const report = [
  `jobgraph benchmark — ${quick ? "quick" : "full"} run, ${rounds} rounds interleaved (${names.join(" → ")} per workload and round), ${new Date().toISOString()}`,
  `machine: ${machine}`,
  `medians with min–max over rounds; memory: ${memoryRounds} round(s), a worker child process per system`,
  "",
  ...out,
  "",
  "PostgreSQL ceiling (pgbench -M prepared, bench/pgbench/*.sql; claim and complete are separate commits; \"jobgraph's schema\": its own tables and indexes, with each job's history in its row, nothing else):",
  "| case | jobs/s |",
  "|---|---|",
  ...ceilingRows,
  "",
  "settings:",
  ...settingsLines,
  `- graphile-worker / pg-boss / jobgraph versions: ${versions()}`,
  `- sizes: ${JSON.stringify(sizes)}`,
  `- total time ${((Date.now() - started) / 1000).toFixed(0)} s`,
].join("\n");
console.log(report);
mkdirSync(join(here, "results"), { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
writeFileSync(join(here, "results", `${stamp}${quick ? "-quick" : ""}.txt`), `${report}\n`);
writeFileSync(
  join(here, "results", `${stamp}${quick ? "-quick" : ""}.json`),
  JSON.stringify({ sizes, rounds, metrics: [...metrics.values()].map((m) => ({ ...m, values: Object.fromEntries(m.values) })), ceilings: Object.fromEntries(ceilings) }, null, 2),
);

function versions(): string {
  const read = (p: string) => {
    try {
      return (JSON.parse(readFileSync(p, "utf8")) as { version: string }).version;
    } catch {
      return "?";
    }
  };
  return `graphile-worker ${read(join(here, "node_modules/graphile-worker/package.json"))}, pg-boss ${read(join(here, "node_modules/pg-boss/package.json"))}, jobgraph ${read(join(root, "package.json"))} (from src/ via tsx, working tree)`;
}
