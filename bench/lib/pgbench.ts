import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PostgresStorage } from "../../src/storage/postgres/index.ts";
import { ensureDatabase, urlFor, withClient } from "./db.ts";
import { applySchemaVariants } from "./schema-variants.ts";

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
  /** A file of bench/pgbench, or a script made from one (`script.sql`: written next to the run's other files). */
  readonly script: string | { readonly name: string; readonly sql: () => string };
  readonly clients: number;
  readonly rowsPerTx: number;
  /** `minimal`: `setup.sql`'s one-table queue; `jobgraph`: jobgraph's own schema, migrated into schema `jg`. */
  readonly tables: "minimal" | "jobgraph";
  /** Rows to insert before the run (the claim cases need pending jobs to claim). */
  readonly prefill: (quick: boolean) => number;
  /** Duration (-T) or transactions per client (-t). */
  readonly limit: (quick: boolean) => { seconds: number } | { transactions: number };
}

export const CEILING_CASES: readonly CeilingCase[] = [
  { key: "insert-c1", label: "INSERT 1 row/stmt, 1 client", script: "insert.sql", clients: 1, rowsPerTx: 1, tables: "minimal", prefill: () => 0, limit: (q) => ({ seconds: q ? 2 : 5 }) },
  { key: "insert-c50", label: "INSERT 1 row/stmt, 50 clients", script: "insert.sql", clients: 50, rowsPerTx: 1, tables: "minimal", prefill: () => 0, limit: (q) => ({ seconds: q ? 2 : 5 }) },
  { key: "insert-bulk", label: "INSERT 1,000 rows/stmt, 1 client", script: "insert_bulk.sql", clients: 1, rowsPerTx: 1000, tables: "minimal", prefill: () => 0, limit: (q) => ({ transactions: q ? 10 : 20 }) },
  { key: "claim1-c10", label: "claim+complete 1 row/stmt, 10 clients", script: "claim_1.sql", clients: 10, rowsPerTx: 1, tables: "minimal", prefill: (q) => (q ? 10_000 : 30_000), limit: (q) => ({ transactions: q ? 1_000 : 3_000 }) },
  { key: "claim50-c1", label: "claim+complete 50 rows/stmt, 1 client", script: "claim_50.sql", clients: 1, rowsPerTx: 50, tables: "minimal", prefill: (q) => (q ? 25_000 : 50_000), limit: (q) => ({ transactions: q ? 500 : 1_000 }) },
  { key: "claim50-c4", label: "claim+complete 50 rows/stmt, 4 clients", script: "claim_50.sql", clients: 4, rowsPerTx: 50, tables: "minimal", prefill: (q) => (q ? 40_000 : 100_000), limit: (q) => ({ transactions: q ? 200 : 500 }) },
  { key: "insert-bulk-jg", label: "INSERT 1,000 rows/stmt, jobgraph's schema (history in the row), 1 client", script: "insert_bulk_history.sql", clients: 1, rowsPerTx: 1000, tables: "jobgraph", prefill: () => 0, limit: (q) => ({ transactions: q ? 10 : 20 }) },
  { key: "claim50-jg-c1", label: "claim+complete 50 rows/stmt, jobgraph's schema (history in the row), 1 client", script: "claim_50_history.sql", clients: 1, rowsPerTx: 50, tables: "jobgraph", prefill: (q) => (q ? 25_000 : 50_000), limit: (q) => ({ transactions: q ? 500 : 1_000 }) },
  { key: "claim50-jg-c4", label: "claim+complete 50 rows/stmt, jobgraph's schema (history in the row), 4 clients", script: "claim_50_history.sql", clients: 4, rowsPerTx: 50, tables: "jobgraph", prefill: (q) => (q ? 40_000 : 100_000), limit: (q) => ({ transactions: q ? 200 : 500 }) },
];

/**
 * Jobs ready to claim in jobgraph's schema, as its bulk insert writes them: ids time-ordered as
 * jobgraph makes them (the first 48 bits the time in milliseconds, then a counter; random ids cost
 * this ceiling 3-5%, spreading every claim and settle over the whole primary key).
 */
const JOBGRAPH_PREFILL = `
  insert into jg.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
  select encode(overlay(uuid_send(gen_random_uuid()) placing int8send(((extract(epoch from clock_timestamp()) * 1000)::bigint << 16) | (g % 65536)) from 1 for 8), 'hex')::uuid, 'noop', 'pending', 2, jsonb_build_object('i', g), 3, '{}', now() - interval '1 second'
  from generate_series(1, $1::int) g`;

/** jobgraph's claim + complete without writing the attempt entries: what keeping the history in the row costs (`ceiling-variants.ts`). */
export const NO_HISTORY_CASE: CeilingCase = {
  key: "claim50-jg-nohistory-c4", label: "claim+complete 50 rows/stmt, jobgraph's schema without attempt entries, 4 clients", script: "claim_50_no_history.sql",
  clients: 4, rowsPerTx: 50, tables: "jobgraph", prefill: (q) => (q ? 40_000 : 100_000), limit: (q) => ({ transactions: q ? 200 : 500 }),
};

/** jobgraph's claim + complete with one commit a batch: the previous batch's completion and the next claim in one transaction (`ceiling-variants.ts`). */
/** `claim_50_history.sql`'s two statements: the claim and the completion. */
function claimAndComplete(): { claim: string; complete: string } {
  const text = readFileSync(join(scripts, "claim_50_history.sql"), "utf8").replace(/^--.*$/gm, "").trim();
  const [claim, complete] = text.split(/;\s*\n/).map((statement) => statement.replace(/;\s*$/, "").trim());
  if (claim === undefined || complete === undefined) throw new Error("claim_50_history.sql: expected a claim and a completion");
  return { claim, complete };
}

export const ONE_COMMIT_CASE: CeilingCase = {
  key: "claim50-jg-onecommit-c4", label: "claim+complete 50 rows/stmt in one transaction, jobgraph's schema (history in the row), 4 clients",
  // The completion of the batch the client leased in its previous run, then the next claim, in one transaction.
  script: { name: "claim_50_history_one_commit.sql", sql: () => { const { claim, complete } = claimAndComplete(); return `begin;\n${complete};\n${claim};\ncommit;\n`; } },
  clients: 4, rowsPerTx: 50, tables: "jobgraph", prefill: (q) => (q ? 40_000 : 100_000), limit: (q) => ({ transactions: q ? 200 : 500 }),
};

/** jobgraph's claim, with the completion as a delete of each job no dependent waits for: a delete-on-complete mode's cost (`ceiling-variants.ts`). */
export const DELETE_CASE: CeilingCase = {
  key: "claim50-jg-delete-c4", label: "claim 50 rows/stmt, completion as a delete, jobgraph's schema, 4 clients",
  // The claim, then the completion as a delete of each job no dependent waits for.
  script: {
    name: "claim_50_history_delete.sql",
    sql: () => `${claimAndComplete().claim};\ndelete from jg.jobs j where status = 'running' and worker_id = 'w' || :client_id\n  and not exists (select 1 from jg.job_dependencies d where d.depends_on_id = j.id);\n`,
  },
  clients: 4, rowsPerTx: 50, tables: "jobgraph", prefill: (q) => (q ? 40_000 : 100_000), limit: (q) => ({ transactions: q ? 200 : 500 }),
};

/** A fresh set of tables for one case, prefilled and vacuumed; `variants` drop parts of jobgraph's schema first. */
async function prepare(url: string, c: CeilingCase, quick: boolean, variants: readonly string[]): Promise<void> {
  const prefill = c.prefill(quick);
  if (c.tables === "jobgraph") {
    await withClient(url, (client) => client.query("drop schema if exists jg cascade"));
    const store = new PostgresStorage({ connectionString: url, schema: "jg", listen: false, max: 1 });
    try {
      await store.setup();
    } finally {
      await store.close();
    }
    await applySchemaVariants(url, "jg", variants);
  }
  await withClient(url, async (client) => {
    if (c.tables === "minimal") {
      await client.query(readFileSync(join(scripts, "setup.sql"), "utf8"));
      if (prefill > 0) await client.query("insert into bench_jobs (payload) select jsonb_build_object('i', g) from generate_series(1, $1::int) g", [prefill]);
      await client.query("vacuum analyze bench_jobs");
    } else {
      if (prefill > 0) await client.query(JOBGRAPH_PREFILL, [prefill]);
      await client.query("vacuum analyze jg.jobs");
      await client.query("vacuum analyze jg.job_logs");
    }
    await client.query("checkpoint");
  });
}

/** The path of a case's script: a file of bench/pgbench, or one made for the run in the system's temporary directory. */
function scriptFile(script: CeilingCase["script"]): string {
  if (typeof script === "string") return join(scripts, script);
  const path = join(tmpdir(), `jobgraph-bench-${process.pid}-${script.name}`);
  writeFileSync(path, script.sql());
  return path;
}

/** Runs one case on a fresh table; answers jobs (rows) per second. */
export async function runCeiling(pgbench: string, c: CeilingCase, quick: boolean, variants: readonly string[] = []): Promise<number> {
  await ensureDatabase(DATABASE);
  const url = new URL(urlFor(DATABASE));
  await prepare(url.toString(), c, quick, variants);
  const limit = c.limit(quick);
  const args = [
    "-n", "-M", "prepared",
    "-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username || "postgres"),
    "-f", scriptFile(c.script),
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
