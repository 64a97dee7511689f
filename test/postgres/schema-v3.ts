import { randomUUID } from "node:crypto";
import type postgres from "postgres";
import { MIGRATIONS } from "../../src/storage/postgres/index.js";
import type { Db } from "../../src/storage/postgres/sql/fragments.js";
import { createMigrationsTable, createSchema, recordMigration } from "../../src/storage/postgres/sql/migration-ledger.js";

/** Sets a schema up as the code of `version` did: migrations 1 to `version`, recorded. */
export async function schemaAtVersion(sql: postgres.Sql, schema: string, version: number): Promise<void> {
  await sql.begin(async (tx) => {
    const db = tx as unknown as Db;
    await createSchema(db, schema);
    await createMigrationsTable(db, schema);
    for (const migration of MIGRATIONS.filter((m) => m.version <= version)) {
      await migration.up(db, schema);
      await recordMigration(db, schema, migration.version, migration.name);
    }
  });
}

/** One status log row or handler line as schema version 3 stored it. */
type V3Log =
  | { readonly kind: "status"; readonly attempt: number; readonly message: string; readonly data: { from: string | null; error?: unknown } }
  | { readonly kind: "log"; readonly attempt: number; readonly level: string; readonly message: string; readonly data?: unknown };

/** A job as version 3 left it: its row's status and attempt count, and its logs in order. */
interface V3Job {
  readonly name: string;
  readonly status: string;
  readonly attempt: number;
  readonly dependsOn?: readonly string[];
  readonly logs: readonly V3Log[];
  readonly error?: unknown;
}

const err = (message: string) => ({ name: "Error", message });
const depErr = { name: "DependencyFailedError", message: "dependency b failed", code: "DEPENDENCY_FAILED" };
const status = (attempt: number, message: string, from: string | null, error?: unknown): V3Log => ({
  kind: "status", attempt, message, data: error === undefined ? { from } : { from, error },
});

/** Jobs in every status, with every kind of status change version 3 logged. */
export const V3_JOBS: readonly V3Job[] = [
  {
    name: "retried then completed", status: "completed", attempt: 2,
    logs: [
      status(0, "pending", null), status(1, "running", "pending"), { kind: "log", attempt: 1, level: "info", message: "first", data: { step: 1 } },
      status(1, "pending", "running", err("boom")), status(2, "running", "pending"), { kind: "log", attempt: 2, level: "warn", message: "second" },
      status(2, "completed", "running"),
    ],
  },
  { name: "b", status: "failed", attempt: 1, error: err("bad"), logs: [status(0, "pending", null), status(1, "running", "pending"), status(1, "failed", "running", err("bad"))] },
  { name: "pending", status: "pending", attempt: 0, logs: [status(0, "pending", null)] },
  { name: "blocked", status: "blocked", attempt: 0, dependsOn: ["pending"], logs: [status(0, "blocked", null)] },
  { name: "running", status: "running", attempt: 1, logs: [status(0, "pending", null), status(1, "running", "pending")] },
  {
    name: "cascaded", status: "cancelled", attempt: 0, dependsOn: ["b"], error: depErr,
    logs: [status(0, "blocked", null), status(0, "cancelled", "blocked", depErr)],
  },
  { name: "cancelled at insert", status: "cancelled", attempt: 0, dependsOn: ["b"], error: depErr, logs: [status(0, "cancelled", null, depErr)] },
  { name: "interrupted", status: "pending", attempt: 0, logs: [status(0, "pending", null), status(1, "running", "pending"), status(0, "pending", "running")] },
  {
    name: "failed then retried", status: "pending", attempt: 0,
    logs: [status(0, "pending", null), status(1, "running", "pending"), status(1, "failed", "running", err("x")), status(0, "pending", "failed")],
  },
  {
    name: "cancelled while running", status: "cancelled", attempt: 1, error: err("cancelled"),
    logs: [status(0, "pending", null), status(1, "running", "pending"), { kind: "log", attempt: 1, level: "info", message: "working" }, status(1, "cancelled", "running", err("cancelled"))],
  },
  {
    name: "unblocked", status: "pending", attempt: 0, dependsOn: ["retried then completed"],
    logs: [status(0, "blocked", null), status(0, "pending", "blocked")],
  },
];

/** Inserts `V3_JOBS` as version 3 wrote them, one millisecond apart; answers their ids by name. */
export async function insertV3Jobs(sql: postgres.Sql, schema: string): Promise<Map<string, string>> {
  const ids = new Map(V3_JOBS.map((job) => [job.name, randomUUID()]));
  const base = Date.parse("2026-11-01T10:00:00.000Z");
  let tick = 0;
  const at = () => new Date(base + tick++);
  for (const job of V3_JOBS) {
    const id = ids.get(job.name);
    const created = at();
    const running = job.status === "running";
    await sql`
      insert into ${sql(schema)}.jobs (id, type, status, priority, payload, attempt, max_attempts, backoff, run_at, created_at, updated_at,
        error, finished_at, lease_token, lease_expires_at, worker_id)
      values (${id!}, 't', ${job.status}, 2, '{}', ${job.attempt}, 3, '{}', ${created}, ${created}, ${created},
        ${job.error === undefined ? null : sql.json(job.error as postgres.JSONValue)},
        ${["completed", "failed", "cancelled"].includes(job.status) ? created : null},
        ${running ? randomUUID() : null}, ${running ? new Date(Date.now() + 60_000) : null}, ${running ? "w" : null})`;
    for (const [position, name] of (job.dependsOn ?? []).entries()) {
      await sql`insert into ${sql(schema)}.job_dependencies (job_id, depends_on_id, position) values (${id!}, ${ids.get(name)!}, ${position})`;
    }
    for (const log of job.logs) {
      const when = log === job.logs[0] ? created : at();
      await sql`
        insert into ${sql(schema)}.job_logs (job_id, at, attempt, kind, level, message, data)
        values (${id!}, ${when}, ${log.attempt}, ${log.kind}, ${log.kind === "log" ? log.level : null}, ${log.message},
          ${log.data === undefined ? null : sql.json(log.data as postgres.JSONValue)})`;
    }
  }
  return ids;
}
