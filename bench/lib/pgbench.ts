import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ensureDatabase, urlFor, withClient } from "./db.ts";

const run = promisify(execFile);
const scripts = join(dirname(fileURLToPath(import.meta.url)), "..", "pgbench");
const DATABASE = "jobgraph_bench_pgbench";

/** pgbench on PATH, else the one installed with PostgreSQL. */
export function findPgbench(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "pgbench"))) return join(dir, "pgbench");
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    for (const version of readdirSync(root).sort().reverse()) {
      const candidate = join(root, version, "bin", "pgbench");
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

export interface CeilingCase {
  readonly key: string;
  readonly label: string;
  readonly script: string;
  readonly clients: number;
  readonly rowsPerTx: number;
  /** Rows to insert before the run (the claim cases need pending jobs to claim). */
  readonly prefill: (quick: boolean) => number;
  /** Duration (-T) or transactions per client (-t). */
  readonly limit: (quick: boolean) => { seconds: number } | { transactions: number };
}

export const CEILING_CASES: readonly CeilingCase[] = [
  { key: "insert-c1", label: "INSERT 1 row/stmt, 1 client", script: "insert.sql", clients: 1, rowsPerTx: 1, prefill: () => 0, limit: (q) => ({ seconds: q ? 2 : 5 }) },
  { key: "insert-c50", label: "INSERT 1 row/stmt, 50 clients", script: "insert.sql", clients: 50, rowsPerTx: 1, prefill: () => 0, limit: (q) => ({ seconds: q ? 2 : 5 }) },
  { key: "insert-bulk", label: "INSERT 1,000 rows/stmt, 1 client", script: "insert_bulk.sql", clients: 1, rowsPerTx: 1000, prefill: () => 0, limit: (q) => ({ transactions: q ? 10 : 20 }) },
  { key: "claim1-c10", label: "claim+complete 1 row/stmt, 10 clients", script: "claim_1.sql", clients: 10, rowsPerTx: 1, prefill: (q) => (q ? 10_000 : 30_000), limit: (q) => ({ transactions: q ? 1_000 : 3_000 }) },
  { key: "claim50-c1", label: "claim+complete 50 rows/stmt, 1 client", script: "claim_50.sql", clients: 1, rowsPerTx: 50, prefill: (q) => (q ? 25_000 : 50_000), limit: (q) => ({ transactions: q ? 500 : 1_000 }) },
  { key: "claim50-c4", label: "claim+complete 50 rows/stmt, 4 clients", script: "claim_50.sql", clients: 4, rowsPerTx: 50, prefill: (q) => (q ? 40_000 : 100_000), limit: (q) => ({ transactions: q ? 200 : 500 }) },
];

/** Runs one case on a fresh table; answers jobs (rows) per second. */
export async function runCeiling(pgbench: string, c: CeilingCase, quick: boolean): Promise<number> {
  await ensureDatabase(DATABASE);
  const url = new URL(urlFor(DATABASE));
  const { readFileSync } = await import("node:fs");
  const setup = readFileSync(join(scripts, "setup.sql"), "utf8");
  await withClient(url.toString(), async (client) => {
    await client.query(setup);
    const prefill = c.prefill(quick);
    if (prefill > 0) await client.query("insert into bench_jobs (payload) select jsonb_build_object('i', g) from generate_series(1, $1::int) g", [prefill]);
    await client.query("vacuum analyze bench_jobs");
    await client.query("checkpoint");
  });
  const limit = c.limit(quick);
  const args = [
    "-n", "-M", "prepared",
    "-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username || "postgres"),
    "-f", join(scripts, c.script),
    "-c", String(c.clients), "-j", String(Math.min(c.clients, 2)),
    ...("seconds" in limit ? ["-T", String(limit.seconds)] : ["-t", String(limit.transactions)]),
    DATABASE,
  ];
  const env = { ...process.env, ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}) };
  const { stdout } = await run(pgbench, args, { timeout: 120_000, env });
  const match = /tps = ([0-9.]+) \(without initial connection time\)/.exec(stdout);
  if (match === null) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(match[1]) * c.rowsPerTx;
}
